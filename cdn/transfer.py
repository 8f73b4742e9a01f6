"""Fetch-time arithmetic: how long N bytes take over a path of a given RTT.

Theory of operation
-------------------
A fetch is a number of round trips plus the server's time::

    fetch = setup + server_ms + response

``setup`` is 1 RTT for the TCP handshake on a new connection, plus 1 RTT for
the TLS 1.3 handshake on a new TLS connection (0 on a reused connection).

``response`` is the request and its answer under TCP slow start. Round 1 is the
request's round trip: it brings back the first congestion window of
``init_cwnd`` segments of ``mss`` bytes. Each further round trip brings a
window twice the previous one. So with unlimited bandwidth a response of
``nbytes`` takes ``slow_start_rounds(nbytes)`` RTTs, the smallest ``n >= 1``
with ``init_cwnd * mss * (2**n - 1) >= nbytes``: 14,600 bytes on a new TLS
connection cost 3 RTT, 15,000 bytes cost 4.

Bandwidth caps the window at the bandwidth-delay product ``BDP = bandwidth *
RTT`` (but never below one segment), and each round costs ``max(RTT, window
bytes / bandwidth)``. While the window is below the BDP a round costs exactly
one RTT; once it reaches the BDP every round carries one BDP per RTT, which is
the line rate, so a large response takes about ``size / bandwidth`` plus the
slow-start ramp. The last round carries what is left and costs at least one
RTT. More bandwidth never makes a fetch slower, nor do fewer bytes.

A reused connection restarts slow start from the initial window, as Linux does
after idle (``tcp_slow_start_after_idle``); only the handshakes are saved.
DNS time is not part of this: the caller adds it where a lookup happens.

Rules for this file: pure arithmetic on floats and numpy arrays; no I/O, no
clock. The scalar functions are the readable reference; the ``_array``
versions are closed forms that must agree with them (tested).

>>> fetch_time_ms(100.0, 14_600)
300.0
>>> fetch_time_ms(100.0, 15_000, server_ms=5.0)
405.0
"""

from __future__ import annotations

import math

import numpy as np

INIT_CWND = 10  # segments (RFC 6928)
MSS = 1460  # bytes


def slow_start_rounds(nbytes: float, init_cwnd: int = INIT_CWND, mss: int = MSS) -> int:
    """Round trips to receive ``nbytes`` with unlimited bandwidth (at least 1).

    >>> slow_start_rounds(14_600), slow_start_rounds(15_000), slow_start_rounds(0)
    (1, 2, 1)
    """
    w0 = init_cwnd * mss
    rounds, delivered, window = 1, w0, w0
    while delivered < nbytes:
        window *= 2
        delivered += window
        rounds += 1
    return rounds


def setup_rtts(new_connection: bool = True, tls: bool = True) -> int:
    """Round trips spent on handshakes before the request can go out."""
    return (1 + (1 if tls else 0)) if new_connection else 0


def response_time_ms(
    rtt_ms: float,
    nbytes: float,
    *,
    bandwidth_bps: float = math.inf,
    init_cwnd: int = INIT_CWND,
    mss: int = MSS,
) -> float:
    """Time from sending the request to the last byte, without server time."""
    cap = max(_bdp_bytes(rtt_ms, bandwidth_bps), mss)  # largest useful window
    t, remaining, window = 0.0, float(nbytes), float(init_cwnd * mss)
    while window < cap:  # slow start: each round one RTT, the window doubles
        if remaining <= window:
            return t + rtt_ms
        t += rtt_ms
        remaining -= window
        window *= 2
    # the window fills the pipe: rounds of one capped window each (closed form,
    # a slow link can need millions of them)
    full = max(math.ceil(remaining / cap) - 1, 0)
    last = remaining - full * cap
    per_bit = 8000.0 / bandwidth_bps
    return t + full * max(rtt_ms, cap * per_bit) + max(rtt_ms, last * per_bit)


def _bdp_bytes(rtt_ms: float, bandwidth_bps: float) -> float:
    return math.inf if bandwidth_bps == math.inf else bandwidth_bps * rtt_ms / 8000.0


def fetch_time_ms(
    rtt_ms: float,
    nbytes: float,
    *,
    new_connection: bool = True,
    tls: bool = True,
    bandwidth_bps: float = math.inf,
    server_ms: float = 0.0,
    init_cwnd: int = INIT_CWND,
    mss: int = MSS,
) -> float:
    """Milliseconds from opening (or reusing) a connection to the last byte of the response."""
    if not (rtt_ms >= 0 and nbytes >= 0 and bandwidth_bps > 0):  # cheap scalar check first
        _check(rtt_ms, nbytes, bandwidth_bps, init_cwnd, mss)
    setup = setup_rtts(new_connection, tls) * rtt_ms
    response = response_time_ms(
        rtt_ms, nbytes, bandwidth_bps=bandwidth_bps, init_cwnd=init_cwnd, mss=mss
    )
    return setup + server_ms + response


def _check(rtt_ms, nbytes, bandwidth_bps, init_cwnd, mss) -> None:
    if not np.all(np.asarray(rtt_ms) >= 0):
        raise ValueError(f"rtt_ms must be >= 0 (not NaN), got {rtt_ms}")
    if not np.all(np.asarray(nbytes) >= 0):
        raise ValueError(f"nbytes must be >= 0, got {nbytes}")
    if not np.all(np.asarray(bandwidth_bps) > 0):
        raise ValueError(f"bandwidth_bps must be > 0, got {bandwidth_bps}")
    if init_cwnd < 1 or mss < 1:
        raise ValueError(f"init_cwnd and mss must be >= 1, got {init_cwnd} and {mss}")


def slow_start_rounds_array(nbytes, init_cwnd: int = INIT_CWND, mss: int = MSS) -> np.ndarray:
    """Vectorised :func:`slow_start_rounds`."""
    w0 = float(init_cwnd * mss)
    n = np.asarray(nbytes, float)
    rounds = np.ceil(np.log2(n / w0 + 1.0))
    # log2 can land a hair off an exact power of two: fix up against the exact sum
    rounds = np.where(w0 * (2.0 ** (rounds - 1) - 1) >= n, rounds - 1, rounds)
    rounds = np.where(w0 * (2.0**rounds - 1) < n, rounds + 1, rounds)
    return np.maximum(rounds, 1).astype(np.int64)


def fetch_time_ms_array(
    rtt_ms,
    nbytes,
    new_connection=True,
    tls=True,
    bandwidth_bps=math.inf,
    server_ms=0.0,
    init_cwnd: int = INIT_CWND,
    mss: int = MSS,
) -> np.ndarray:
    """Vectorised :func:`fetch_time_ms`: every argument but the last two broadcasts."""
    _check(rtt_ms, nbytes, bandwidth_bps, init_cwnd, mss)
    rtt, n, new, tls_, bw, server = np.broadcast_arrays(
        np.asarray(rtt_ms, float), np.asarray(nbytes, float), np.asarray(new_connection, bool),
        np.asarray(tls, bool), np.asarray(bandwidth_bps, float), np.asarray(server_ms, float),
    )  # fmt: skip
    w0 = float(init_cwnd * mss)
    setup = np.where(new, 1.0 + tls_, 0.0) * rtt
    rounds = slow_start_rounds_array(n, init_cwnd, mss).astype(float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        cap = np.maximum(np.where(np.isinf(bw), np.inf, bw * rtt / 8000.0), float(mss))
        # ramp: rounds whose window w0 * 2**(k-1) is still below the cap
        ramp = np.where(cap > w0, np.ceil(np.log2(np.where(cap > w0, cap / w0, 1.0))), 0.0)
        ramp = np.where(w0 * 2.0 ** (ramp - 1) >= cap, ramp - 1, ramp)  # exact at powers of 2
        ramp = np.maximum(np.where(w0 * 2.0**ramp < cap, ramp + 1, ramp), 0.0)
        remaining = n - w0 * (2.0**ramp - 1.0)
        full = np.maximum(np.ceil(remaining / cap) - 1.0, 0.0)
        last = remaining - full * cap
        capped = (
            ramp * rtt
            + full * np.maximum(rtt, cap * 8000.0 / bw)
            + np.maximum(rtt, last * 8000.0 / bw)
        )
    response = np.where(rounds <= ramp, rounds * rtt, capped)
    return setup + server + response
