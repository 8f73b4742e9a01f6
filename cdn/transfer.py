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
    n = np.asarray(nbytes)
    return _rounds(n, init_cwnd * mss, _max(n)).astype(np.int64)


def _rounds(n: np.ndarray, w0: int | float, n_max: float) -> np.ndarray:
    """Slow-start rounds as int32: the smallest ``r >= 1`` with ``w0 * (2**r - 1) >= n``.

    As ``2**r - 1`` is whole, that is ``2**r - 1 >= q`` with ``q = ceil(n / w0)``:
    ``r`` is the bit length of ``q``, which ``frexp`` reads off the float. For
    whole ``n`` and ``w0`` (below 2**50) ``n / w0`` never rounds onto a whole
    number, so ``q`` is exact; otherwise one check against the exact sum fixes
    a ``q`` that rounded one too low.
    """
    q = np.ceil(n / w0)
    r = np.frexp(np.maximum(q, 1.0))[1]  # q = 0 (no bytes) still takes one round
    if not (n.dtype.kind in "iu" and float(w0).is_integer() and n_max < 2.0**50):
        r += w0 * (np.ldexp(1.0, r) - 1.0) < n
    return r


def _max(x: np.ndarray) -> float:
    return float(x.max()) if x.size else 0.0


def _min(x: np.ndarray) -> float:
    return float(x.min()) if x.size else 0.0


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
    """Vectorised :func:`fetch_time_ms`: every argument but the last two broadcasts.

    Most responses end while the window is still below the bandwidth-delay
    product (the last round's window ``w0 * 2**(rounds-1)`` is below the cap):
    they cost ``rounds`` RTTs. Only the others go through the capped formula.
    """
    rtt = np.asarray(rtt_ms, dtype=np.float64)
    n = np.asarray(nbytes)
    if n.dtype.kind not in "iuf":
        n = n.astype(np.float64)
    bw = np.asarray(bandwidth_bps, dtype=np.float64)
    n_max = _max(n)
    # min() propagates NaN, so one reduction per argument checks it
    if not (_min(rtt) >= 0 and _min(n) >= 0 and _min(bw) > 0 and init_cwnd >= 1 and mss >= 1):
        _check(rtt_ms, nbytes, bandwidth_bps, init_cwnd, mss)
    new, tls_, server = (np.asarray(x) for x in (new_connection, tls, server_ms))
    shape = np.broadcast_shapes(rtt.shape, n.shape, new.shape, tls_.shape, bw.shape, server.shape)
    w0 = init_cwnd * mss
    r = _rounds(n, w0, n_max)
    response = r * rtt  # int32 * float64: float64, as rounds * RTT
    if _min(bw) != math.inf:
        with np.errstate(invalid="ignore"):
            cap = np.asarray(bw * rtt)
        cap /= 8000.0
        if _max(bw) == math.inf:  # an infinite link has no cap, even at RTT 0
            cap[np.broadcast_to(np.isinf(bw), cap.shape)] = math.inf
        np.maximum(cap, float(mss), out=cap)
        with np.errstate(over="ignore"):
            slow = np.ldexp(w0 / 2.0, r) >= cap  # the last round's window, w0 * 2**(r-1)
        if slow.any():
            response = np.broadcast_to(response, shape).copy()
            idx = np.flatnonzero(np.broadcast_to(slow, shape))
            pick = [np.broadcast_to(x, shape).reshape(-1)[idx] for x in (rtt, n, bw, cap)]
            response.reshape(-1)[idx] = _capped_ms(*pick, float(w0))
    if new.ndim == 0 and not new and _max(rtt) < math.inf:  # reused: no handshakes (0 + x is x)
        total = response if server.ndim == 0 and server == 0.0 else server + response
    else:
        setup = np.where(new, 1.0 + tls_, 0.0) * rtt
        total = setup if server.ndim == 0 and server == 0.0 else setup + server
        total = total + response
    return total if total.shape == shape else np.broadcast_to(total, shape).copy()


def _capped_ms(rtt, n, bw, cap, w0: float) -> np.ndarray:
    """Response time of transfers that outgrow slow start: ``ramp`` rounds of one
    RTT while the window is below ``cap``, then rounds of one capped window."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # ramp: rounds whose window w0 * 2**(k-1) is still below the cap
        ramp = np.where(cap > w0, np.ceil(np.log2(np.where(cap > w0, cap / w0, 1.0))), 0.0)
        ramp = np.where(w0 * 2.0 ** (ramp - 1) >= cap, ramp - 1, ramp)  # exact at powers of 2
        ramp = np.maximum(np.where(w0 * 2.0**ramp < cap, ramp + 1, ramp), 0.0)
        remaining = n - w0 * (2.0**ramp - 1.0)
        full = np.maximum(np.ceil(remaining / cap) - 1.0, 0.0)
        last = remaining - full * cap
        return (
            ramp * rtt
            + full * np.maximum(rtt, cap * 8000.0 / bw)
            + np.maximum(rtt, last * 8000.0 / bw)
        )
