"""Fetch-time arithmetic: hand-computed cases, and scalar and array versions agree."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cdn.transfer import (
    fetch_time_ms,
    fetch_time_ms_array,
    slow_start_rounds,
    slow_start_rounds_array,
)


def test_slow_start_rounds_by_hand():
    # windows 14,600, 29,200, 58,400 bytes: cumulative 14,600, 43,800, 102,200
    assert slow_start_rounds(0) == 1
    assert slow_start_rounds(1) == 1
    assert slow_start_rounds(14_600) == 1
    assert slow_start_rounds(14_601) == 2
    assert slow_start_rounds(15_000) == 2
    assert slow_start_rounds(43_800) == 2
    assert slow_start_rounds(43_801) == 3
    assert slow_start_rounds(102_200) == 3
    assert slow_start_rounds(1_000, init_cwnd=1, mss=1000) == 1
    assert slow_start_rounds(1_001, init_cwnd=1, mss=1000) == 2
    assert slow_start_rounds(3_001, init_cwnd=1, mss=1000) == 3


def test_fetch_by_hand():
    # new TLS connection: TCP 1 RTT + TLS 1 RTT + request 1 RTT (first window) + server
    assert fetch_time_ms(50.0, 14_600, server_ms=3.0) == pytest.approx(3 * 50 + 3)
    # 15,000 bytes need a second round
    assert fetch_time_ms(50.0, 15_000, server_ms=3.0) == pytest.approx(4 * 50 + 3)
    # no TLS: one RTT less; reused connection: no handshakes at all
    assert fetch_time_ms(50.0, 15_000, tls=False) == pytest.approx(3 * 50)
    assert fetch_time_ms(50.0, 15_000, new_connection=False) == pytest.approx(2 * 50)
    assert fetch_time_ms(50.0, 0, new_connection=False) == pytest.approx(50)


def test_bandwidth_caps_the_window():
    # 10 Mbit/s and 100 ms: BDP = 125,000 bytes. Windows 14,600, 29,200, 58,400 (< BDP,
    # 1 RTT each, 102,200 bytes), then the window would be 116,800 < BDP: 1 more RTT
    # (219,000 bytes), then 233,600 >= BDP: windows of one BDP per RTT (the line
    # rate), 1,000,000 bytes in 8 rounds.
    n = 1_219_000
    t = fetch_time_ms(100.0, n, new_connection=False, bandwidth_bps=10e6)
    assert t == pytest.approx(4 * 100 + (n - 219_000) * 8 / 10e6 * 1000)
    # a huge file approaches size / bandwidth
    big = 1e9
    t = fetch_time_ms(20.0, big, bandwidth_bps=100e6)
    assert big * 8 / 100e6 * 1000 < t < big * 8 / 100e6 * 1000 + 20 * 20
    # tiny bandwidth: the first window already fills the pipe, never faster than 1 RTT
    assert fetch_time_ms(10.0, 1000, new_connection=False, bandwidth_bps=1e3) == pytest.approx(
        8000.0
    )
    assert fetch_time_ms(10.0, 10, new_connection=False, bandwidth_bps=1e3) == pytest.approx(80.0)
    assert fetch_time_ms(10.0, 1, new_connection=False, bandwidth_bps=1e3) == pytest.approx(10.0)


def test_more_bytes_never_faster_and_more_bandwidth_never_slower():
    sizes = np.unique(np.geomspace(1, 1e8, 400).astype(int))
    for bw in (1e6, 1e8, math.inf):
        times = fetch_time_ms_array(30.0, sizes, True, True, bw)
        assert np.all(np.diff(times) >= -1e-9)
    bws = np.geomspace(1e5, 1e11, 200)
    times = fetch_time_ms_array(30.0, 5e6, True, True, bws)
    assert np.all(np.diff(times) <= 1e-9)


def test_array_agrees_with_scalar():
    rng = np.random.default_rng(11)
    m = 3000
    rtt = rng.choice([0.0, 0.5, 5.0, 37.0, 180.0], m) * rng.uniform(0.5, 1.5, m)
    nbytes = np.floor(10 ** rng.uniform(0, 9, m))
    # exact window boundaries are the edge cases
    nbytes[:40] = [14_600 * (2**k - 1) + d for k in range(1, 11) for d in (-1, 0, 1, 2)]
    new = rng.random(m) < 0.5
    tls = rng.random(m) < 0.7
    bw = rng.choice([1e4, 1e6, 25e6, 1e9, math.inf], m)
    bw[40:80] = 10 ** rng.uniform(3, 11, 40)
    rtt[80:100] = 100.0
    bw[80:100] = [14_600 * 2**k * 8 * 10 for k in range(20)]  # BDP exactly a window
    server = rng.uniform(0, 20, m)
    arr = fetch_time_ms_array(rtt, nbytes, new, tls, bw, server)
    for i in range(m):
        ref = fetch_time_ms(
            float(rtt[i]), float(nbytes[i]), new_connection=bool(new[i]), tls=bool(tls[i]),
            bandwidth_bps=float(bw[i]), server_ms=float(server[i]),
        )  # fmt: skip
        assert arr[i] == pytest.approx(ref, rel=1e-9, abs=1e-9), (rtt[i], nbytes[i], bw[i])
    rounds = slow_start_rounds_array(nbytes)
    assert all(rounds[i] == slow_start_rounds(nbytes[i]) for i in range(m))


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="nbytes"):
        fetch_time_ms(10.0, -1)
    with pytest.raises(ValueError, match="bandwidth"):
        fetch_time_ms_array([10.0], [1.0], True, True, 0.0)
    with pytest.raises(ValueError, match="rtt"):
        fetch_time_ms(-1.0, 1)
    with pytest.raises(ValueError, match="rtt"):
        fetch_time_ms(math.nan, 1)
    with pytest.raises(ValueError, match="nbytes"):
        fetch_time_ms_array([1.0, 2.0], [10, math.nan])


def test_whole_byte_counts_agree_with_floats_and_the_scalar_reference():
    # The simulator passes int64 sizes: that path must give the very same times as
    # float sizes, at every slow-start window boundary and past 2**50 bytes.
    k = np.arange(1, 40)
    edges = (14_600 * (2**k - 1)).astype(np.int64)
    nbytes = np.concatenate([[0, 1, 2**50 - 1, 2**50, 2**52 + 3], edges - 1, edges, edges + 1])
    rng = np.random.default_rng(5)
    rtt = rng.choice([0.0, 0.7, 20.0, 180.0], len(nbytes))
    new = rng.random(len(nbytes)) < 0.5
    for bw in (math.inf, 1e4, 50e6, 1e11, rng.choice([1e6, math.inf, 1e9], len(nbytes))):
        ints = fetch_time_ms_array(rtt, nbytes, new, True, bw, 2.5)
        floats = fetch_time_ms_array(rtt, nbytes.astype(float), new, True, bw, 2.5)
        np.testing.assert_array_equal(ints, floats)
        bws = np.broadcast_to(bw, nbytes.shape)
        for i in range(len(nbytes)):
            ref = fetch_time_ms(float(rtt[i]), float(nbytes[i]), new_connection=bool(new[i]),
                                bandwidth_bps=float(bws[i]), server_ms=2.5)  # fmt: skip
            assert ints[i] == pytest.approx(ref, rel=1e-12), (rtt[i], nbytes[i], bws[i])
    rounds = slow_start_rounds_array(nbytes)
    assert rounds.tolist() == [slow_start_rounds(int(b)) for b in nbytes]
    assert slow_start_rounds_array(nbytes, init_cwnd=1, mss=1000)[:2].tolist() == [1, 1]


def test_arguments_broadcast():
    rtt = np.array([[5.0], [80.0]])
    nbytes = np.array([0, 20_000, 3_000_000])
    out = fetch_time_ms_array(rtt, nbytes, False, True, 10e6, 1.0)
    assert out.shape == (2, 3)
    for i in range(2):
        for j in range(3):
            ref = fetch_time_ms(float(rtt[i, 0]), float(nbytes[j]), new_connection=False,
                                bandwidth_bps=10e6, server_ms=1.0)  # fmt: skip
            assert out[i, j] == pytest.approx(ref, rel=1e-12)
    assert fetch_time_ms_array(10.0, 1000, [True, False]).tolist() == [30.0, 10.0]
    assert fetch_time_ms_array([], []).shape == (0,)
