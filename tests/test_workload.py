"""Request generation: Poisson arrivals, weights, diurnal shape, flash crowds, chunking, traces."""

from __future__ import annotations

import numpy as np
import pytest

from cdn.catalog import Catalog
from cdn.scenario import Workload
from cdn.workload import (
    FlashCrowd,
    Generator,
    Population,
    Requests,
    TraceError,
    rechunk,
    scan_trace,
    time_order,
    utc_offset_hours,
)


def population(weights=(1.0,), offsets=None, hosts=8, shares=(1.0,)) -> Population:
    n = len(weights)
    return Population(
        weights=np.array(weights, dtype=float),
        utc_offset_h=np.array(offsets if offsets is not None else [0.0] * n, dtype=float),
        continents=("EU",) * n,
        countries=("DE",) * n,
        group_shares=np.array(shares),
        hosts=hosts,
    )


CATALOG = Catalog(Workload(catalog_size=500, zipf_alpha=0.8), seed=3)


def all_requests(gen: Generator, **kw) -> Requests:
    return Requests.concat(list(gen.blocks(**kw)))


def test_poisson_count_and_exponential_gaps():
    gen = Generator(population(), CATALOG, rate=20000.0, seed=1)
    r = all_requests(gen, duration=20.0, requests=None)
    expected = 20000 * 20
    assert abs(len(r) - expected) < 5 * np.sqrt(expected)
    assert np.all(np.diff(r.t) >= 0) and r.t[0] >= 0 and r.t[-1] < 20.0
    gaps = np.diff(r.t)
    assert gaps.mean() == pytest.approx(1 / 20000, rel=0.02)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, abs=0.03)  # exponential: CV 1


def test_places_groups_and_objects_follow_their_weights():
    gen = Generator(population((1.0, 3.0, 6.0), shares=(0.7, 0.3)), CATALOG, rate=50000.0,
                    seed=2, keepalive=0.25)  # fmt: skip
    r = all_requests(gen, duration=None, requests=200_000)
    assert len(r) == 200_000
    share = np.bincount(r.place, minlength=3) / len(r)
    np.testing.assert_allclose(share, [0.1, 0.3, 0.6], atol=0.005)
    assert np.mean(r.group == 1) == pytest.approx(0.3, abs=0.005)
    assert np.mean(r.reuse) == pytest.approx(0.25, abs=0.005)
    freq = np.bincount(r.obj, minlength=CATALOG.n) / len(r)
    assert freq[0] == pytest.approx(CATALOG.popularity(0), rel=0.05)
    np.testing.assert_array_equal(r.size, CATALOG.sizes[r.obj])
    assert r.host.min() >= 0 and r.host.max() < 8


def test_diurnal_shape_follows_local_time():
    # Two equal places 12 hours apart; at 21:00 UTC one is at its evening peak.
    gen = Generator(population((1.0, 1.0), offsets=(0.0, 12.0)), CATALOG, rate=20000.0,
                    seed=3, diurnal=0.5, start_hour_utc=21.0)  # fmt: skip
    r = all_requests(gen, duration=10.0, requests=None)
    peak, trough = np.bincount(r.place, minlength=2)
    assert peak / trough == pytest.approx(1.5 / 0.5, rel=0.05)
    with pytest.raises(Exception, match="allowed"):
        Generator(population(), CATALOG, rate=1.0, seed=1, diurnal_shape="square")


def test_flash_crowd_multiplies_one_object():
    obj = 400  # an unpopular object
    fc = FlashCrowd(at=5.0, duration=5.0, factor=200.0, obj=obj)
    gen = Generator(population(), CATALOG, rate=20000.0, seed=4, flash_crowds=[fc])
    r = all_requests(gen, duration=15.0, requests=None)
    base = 20000 * CATALOG.popularity(obj)
    inside = np.sum((r.obj == obj) & (r.t >= 5) & (r.t < 10)) / 5.0
    assert inside == pytest.approx(200 * base, rel=0.1)
    assert np.all(np.diff(r.t) >= 0)


def test_chunking_never_changes_the_stream():
    gen = Generator(population((1.0, 2.0)), CATALOG, rate=30000.0, seed=5, diurnal=0.3)
    whole = all_requests(gen, duration=5.0, requests=None)
    for chunk in (1, 999, 65536, 10**7):
        if chunk == 1:
            parts = list(rechunk(gen.blocks(duration=0.01, requests=None), 1))
            assert all(len(p) == 1 for p in parts)
            continue
        parts = list(rechunk(gen.blocks(duration=5.0, requests=None), chunk))
        assert all(len(p) == chunk for p in parts[:-1])
        again = Requests.concat(parts)
        for name in ("t", "place", "obj", "size", "host", "reuse", "service", "u"):
            np.testing.assert_array_equal(getattr(again, name), getattr(whole, name))


def test_utc_offsets():
    assert utc_offset_hours("Asia/Tokyo", 0.0) == 9.0
    assert utc_offset_hours("America/New_York", 0.0) == -5.0  # standard time
    assert utc_offset_hours("", 90.0) == 6.0  # solar time from the longitude
    assert utc_offset_hours("Not/AZone", -45.0) == -3.0


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        ("when,who,what,size\n", "line 1", "header"),
        ("time,client,key,size\n1,London,/a,10\n0.5,London,/b,10\n", "line 3", "time order"),
        ("time,client,key,size\n1,London,/a\n", "line 2", "4 fields"),
        ("time,client,key,size\n1,London,/a,10\nsoon,London,/b,1\n", "line 3", "soon"),
        ("time,client,key,size\n1,,/a,10\n", "line 2", "client"),
        ("time,client,key,size\n1,London,/a,-5\n", "line 2", "-5"),
        ("time,client,key,size\n", "no requests", ""),
    ],
)
def test_bad_traces_name_the_line(tmp_path, text, line, what):
    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(TraceError) as err:
        scan_trace(path)
    assert line in str(err.value) and what in str(err.value)


def test_trace_scan_collects_clients_and_keys(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("time,client,key,size\n0,London,/a,10\n1,Paris,/b,20\n\n2,London,/a,10\n")
    tr = scan_trace(path)
    assert tr.clients == ["London", "Paris"]
    assert tr.keys == {"/a": 0, "/b": 1}
    assert tr.rows == 3 and tr.duration == 2.0
    with pytest.raises(TraceError, match="cannot read"):
        scan_trace(tmp_path / "missing.csv")


def test_time_order_is_a_stable_argsort():
    rng = np.random.default_rng(8)
    t0, t1 = 1234.5, 1260.25
    t = rng.uniform(t0, t1, 50_000)
    t[1000:1200] = t[7]  # ties keep their original order
    t[2000:2100] = np.nextafter(t[3], np.inf)
    t[:10] = t0
    t[10:20] = np.nextafter(t1, 0)
    np.testing.assert_array_equal(time_order(t, t0, t1), np.argsort(t, kind="stable"))
    for small in (t[:0], t[:1], np.array([3.0, 1.0, 2.0])):
        np.testing.assert_array_equal(time_order(small, 0.0, 4.0), np.argsort(small))


@pytest.mark.parametrize("shape", ["sine", "evening", "flat"])
def test_thinning_shortcut_never_changes_a_decision(shape):
    # Places all around the clock; windows from a second to two days (wrapping midnight).
    offsets = np.linspace(-12.0, 14.0, 27)
    gen = Generator(population(np.ones(27), offsets=offsets), CATALOG, rate=1000.0, seed=6,
                    diurnal=0.8, diurnal_shape=shape, start_hour_utc=23.5)  # fmt: skip
    rng = np.random.default_rng(7)
    for t0, t1 in [(0.0, 1.0), (1800.0, 5400.0), (0.0, 172_800.0)]:
        n = 200_000
        t = rng.uniform(t0, t1, n)
        place = rng.integers(0, 27, n)
        level = gen._level(t, place)
        draw = rng.random(n) * 1.8
        draw[::3] = level[::3]  # on the threshold, and one step either side
        draw[1::3] = np.nextafter(level[1::3], 0)
        draw[2::9] = np.nextafter(level[2::9], 2)
        np.testing.assert_array_equal(gen._keep(t, place, draw, t0, t1), draw < level)
    # and whole streams agree with the shape evaluated for every candidate
    fast = all_requests(gen, duration=200.0, requests=None)
    gen.slope = None
    slow = all_requests(gen, duration=200.0, requests=None)
    np.testing.assert_array_equal(fast.t, slow.t)
    np.testing.assert_array_equal(fast.place, slow.place)


def test_rechunk_cuts_exact_batches_from_any_block_sizes():
    rng = np.random.default_rng(10)

    def block(n, first):
        a = np.arange(first, first + n)
        i32 = a.astype(np.int32)
        return Requests(a.astype(float), i32, i32, i32, a, a, i32, a % 2 == 0, a * 1.0, a * 1.0)

    for _ in range(200):
        sizes = rng.integers(0, 50, rng.integers(0, 12)).tolist()
        starts = np.cumsum([0, *sizes])
        blocks = [block(n, int(s)) for n, s in zip(sizes, starts, strict=False)]
        chunk = int(rng.integers(1, 60))
        out = list(rechunk(iter(blocks), chunk))
        total = int(starts[-1])
        assert [len(o) for o in out] == [chunk] * (total // chunk) + [total % chunk] * (
            total % chunk > 0
        )
        rows = Requests.concat(out).obj if out else np.zeros(0, dtype=np.int64)
        np.testing.assert_array_equal(rows, np.arange(total))
