"""cdn.results.Stats against a plain per-request reference.

Stats counts with combined-code bincounts over whole batches. The reference
here walks the same requests one at a time with loops, dicts and ``math``
(no numpy), straight from the definitions Stats documents:

- a latency falls in bin ``floor(100 * log10(max(ms, 0.01) / 0.01))``, clipped
  to 0..799; a percentile q is the centre ``0.01 * 10 ** ((b + 0.5) / 100)`` of
  the bin of the value of nearest rank ``ceil(q * n / 100)`` (at least 1);
- means are integer sums (latency in ns, distance in m) over the served count;
- the mapping distance median is the value of rank ``ceil(n / 2)``;
- errors (edge -1, outcome error, latency NaN) count as requests and errors,
  never in latencies, hits, bytes or distances; a request retried ``failed``
  connections, less the final one when it failed;
- the time series and the per-second peaks count by ``floor(t / interval)`` and
  ``floor(t)``.

The random requests cover every outcome code, resolver kind and DNS level,
errors with and without failed connects, retries on served requests, ties and
requests exactly at interval edges, gaps of empty intervals, extreme latencies,
a place, a region and an edge without traffic, and batch boundaries that split
intervals (and seconds, and runs of equal times). Two more checks use real
inputs: the figures ``cdn.report_data.distributions`` reads from Stats (the
quickstart's places and edges), and the very batches ``Simulation.process``
feeds Stats in a run with an edge and the origin down.

Each check was seen to fail: 53 mutations of a scratch copy of cdn/results.py
(hit codes, bins, percentile ranks, medians, retries, per-batch interval rows,
table growth, overwriting instead of adding, ...) are all caught.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from functools import cache
from typing import NamedTuple

import numpy as np
import pytest

from cdn.engine import (
    COLLAPSED,
    CONDITIONAL,
    ERROR,
    FULL_FETCH,
    HIT,
    MISS,
    NO_FETCH,
    OUTCOMES,
    PASS,
    REVALIDATED,
    STALE,
)
from cdn.results import KINDS, Batch, Stats


class Layout(NamedTuple):
    places: list[str]
    regions: list[str]  # region label per place
    weights: list[int]  # of the places in the requests
    edges: list[str]  # the last one never serves: it is only ever tried first, and fails


# Seven places in four regions; "Nowhere" (its region alone) never sends a request.
WORLD = Layout(
    ["Paris", "Berlin", "São Paulo", "Lima", "Tokyo", "Delhi", "Nowhere"],
    ["EU", "EU", "SA", "SA", "AS", "AS", "AN"],
    [5, 3, 2, 1, 4, 1, 0],
    ["fra", "gru", "nrt", "dead"],
)
EDGES = WORLD.edges
FROM_CACHE = {HIT, STALE, COLLAPSED}
SERVED_OUTCOMES = [HIT, MISS, REVALIDATED, STALE, COLLAPSED, PASS]
QS = (50, 90, 95, 99)


class Req(NamedTuple):
    t: float
    place: int
    kind: int
    edge: int  # -1: error
    first: int  # -1: no edge tried
    outcome: int
    fetch: int
    size: int
    latency: float  # NaN for errors
    level: int
    failed: int


def distances(seed: int, n_places: int, n_edges: int) -> list[list[float]]:
    rng = random.Random(seed)
    return [[rng.uniform(0, 20_000) for _ in range(n_edges)] for _ in range(n_places)]


def latency_ms(rng: random.Random) -> float:
    r = rng.random()
    if r < 0.02:  # edges of the histogram and exact bin boundaries
        return rng.choice([0.0, 0.004, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0, 1e6, 3e6])
    if r < 0.05:
        return rng.uniform(1e3, 2e4)  # failover waits
    return math.exp(rng.gauss(math.log(60), 1.2))


def make_requests(
    seed: int, n: int, interval: float, span: float = 700.0, lay: Layout = WORLD
) -> list[Req]:
    """``n`` requests in time order, starting a few intervals in."""
    rng = random.Random(seed)
    E = len(lay.edges)
    serving = list(range(E - 1))
    t = 3 * interval + rng.random()
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.05:  # exactly at the next interval edge
            t = (math.floor(t / interval) + 1) * interval
        elif r < 0.06:  # exactly at the next whole second
            t = float(math.floor(t) + 1)
        elif r < 0.12:  # the same time as the one before
            pass
        elif r < 0.123:  # a gap of empty intervals
            t += rng.uniform(4, 12) * interval
        else:
            t += rng.expovariate(n / span)
        place = rng.choices(range(len(lay.places)), lay.weights)[0]
        kind = rng.randrange(len(KINDS))
        level = rng.randrange(3)
        size = rng.choice([0, 1, rng.randrange(100, 10_000), rng.randrange(10**5, 10**8)])
        if rng.random() < 0.09:  # an error: DNS failover gave up, or the origin was down
            failed = rng.choice([0, 1, 1, 2, 3])
            first = rng.choice([*range(E), E - 1]) if failed or rng.random() < 0.8 else -1
            out.append(Req(t, place, kind, -1, first, ERROR, NO_FETCH, size, math.nan, level,
                           failed))  # fmt: skip
            continue
        edge = rng.choice(serving)
        failed, first = 0, edge
        if rng.random() < 0.06:  # served after failed connects elsewhere
            failed = rng.choice([1, 1, 2])
            first = rng.choice([E - 1, E - 1, (edge + 1) % (E - 1)])
        out.append(
            Req(t, place, kind, edge, first, rng.choice(SERVED_OUTCOMES),
                rng.choice([NO_FETCH, NO_FETCH, FULL_FETCH, CONDITIONAL]), size,
                latency_ms(rng), level, failed)
        )  # fmt: skip
    return out


def split_points(seed: int, reqs: list[Req], interval: float, how: str) -> list[int]:
    """Batch boundaries (indices into ``reqs``) of a splitting strategy."""
    n = len(reqs)
    rng = random.Random(seed * 7 + 1)
    if how == "one":
        cuts = []
    elif how == "each":
        cuts = list(range(1, n))
    elif how == "random":  # anywhere, with empty batches
        cuts = sorted(rng.randrange(0, n + 1) for _ in range(40))
    elif how == "mid":  # inside intervals, inside runs of equal times
        cuts = [i for i in range(1, n) if reqs[i].t == reqs[i - 1].t][::3]
        cuts += [
            i
            for i in range(1, n)
            if math.floor(reqs[i].t / interval) == math.floor(reqs[i - 1].t / interval)
            and rng.random() < 0.02
        ]
        cuts.sort()
    elif how == "edges":  # right at interval boundaries, and one after them
        cuts = [
            i + d
            for i in range(1, n)
            if math.floor(reqs[i].t / interval) != math.floor(reqs[i - 1].t / interval)
            for d in (0, 1)
            if i + d < n
        ]
        cuts.sort()
    else:
        raise ValueError(how)
    return cuts


def to_batch(reqs: list[Req]) -> Batch:
    """The arrays simulate.Simulation.process hands to Stats, with its dtypes."""

    def col(i: int, dtype) -> np.ndarray:
        return np.array([r[i] for r in reqs], dtype=dtype)

    return Batch(
        t=col(0, np.float64),
        place=col(1, np.int32),
        kind=col(2, np.int8),
        edge=col(3, np.int32),
        first=col(4, np.int32),
        outcome=col(5, np.int8),
        fetch=col(6, np.int8),
        size=col(7, np.int64),
        latency_ms=col(8, np.float64),
        dns_level=col(9, np.int8),
        failed=col(10, np.int16),
    )


def run_stats(reqs: list[Req], cuts: list[int], interval: float, km, lay: Layout = WORLD) -> Stats:
    P, E = len(lay.places), len(lay.edges)
    stats = Stats(lay.places, lay.regions, lay.edges, np.array(km).reshape(P, E), interval)
    bounds = [0, *cuts, len(reqs)]
    for a, b in zip(bounds, bounds[1:], strict=False):
        stats.add(to_batch(reqs[a:b]))
    return stats


# ---------------------------------------------------------------- the reference


def ref_bin(ms: float) -> int:
    return min(799, max(0, math.floor(100 * math.log10(max(ms, 0.01) / 0.01))))


def ref_percentile(lats: list[float], q: int) -> float | None:
    if not lats:
        return None
    bins = sorted(ref_bin(x) for x in lats)
    rank = max(1, -(-q * len(bins) // 100))  # ceil(q * n / 100) in integers
    return round(0.01 * 10 ** ((bins[rank - 1] + 0.5) / 100), 3)


def ref_latency(lats: list[float], mean: bool = True) -> dict:
    out = {f"p{q}": ref_percentile(lats, q) for q in QS}
    if mean:
        ns = sum(round(x * 1e6) for x in lats)
        out["mean"] = round(ns / 1e6 / len(lats), 3) if lats else None
    return out


def ref_distance(metres: list[int]) -> dict:
    if not metres:
        return {"mean": None, "p50": None}
    s = sorted(metres)
    return {
        "mean": round(sum(s) / len(s) / 1000.0, 1),
        "p50": round(s[-(-len(s) // 2) - 1] / 1000.0, 1),
    }


def ratio(a: int, b: int) -> float | None:
    return round(a / b, 6) if b else None


def ref_group(reqs: list[Req], km) -> dict:
    served = [r for r in reqs if r.edge >= 0]
    out = {"requests": len(reqs), "errors": sum(r.outcome == ERROR for r in reqs)}
    out.update(ref_latency([r.latency for r in served]))
    out["mapping_distance_km"] = ref_distance([round(km[r.place][r.edge] * 1000) for r in served])
    return out


def retries(r: Req) -> int:
    return max(0, r.failed - (1 if r.edge < 0 else 0))


def reference_summary(reqs: list[Req], km, lay: Layout = WORLD) -> dict:
    served = [r for r in reqs if r.edge >= 0]
    hits = [r for r in served if r.outcome in FROM_CACHE]
    out = {
        "requests": len(reqs),
        "simulated_seconds": round(max((r.t for r in reqs), default=0.0), 3),
        "hit_ratio": ratio(len(hits), len(served)),
        "byte_hit_ratio": ratio(sum(r.size for r in hits), sum(r.size for r in served)),
        "latency_ms": ref_latency([r.latency for r in served]),
        "mapping_distance_km": ref_distance([round(km[r.place][r.edge] * 1000) for r in served]),
        "origin": {
            "requests": sum(r.fetch in (FULL_FETCH, CONDITIONAL) for r in reqs),
            "conditional": sum(r.fetch == CONDITIONAL for r in reqs),
            "bytes": sum(r.size for r in reqs if r.fetch == FULL_FETCH),
        },
        "errors": sum(r.outcome == ERROR for r in reqs),
        "retries": sum(retries(r) for r in reqs),
        "failed_connects": sum(r.failed for r in reqs),
        "outcomes": {name: sum(r.outcome == o for r in reqs) for o, name in enumerate(OUTCOMES)},
        "dns": {
            name: sum(r.level == lv for r in reqs)
            for lv, name in enumerate(("client_cache", "resolver_cache", "authoritative"))
        },
        "bytes_served": sum(r.size for r in served),
    }
    out["edges"] = {}
    for e, name in enumerate(lay.edges):
        at = [r for r in served if r.edge == e]
        at_hits = [r for r in at if r.outcome in FROM_CACHE]
        per_second = Counter(math.floor(r.t) for r in at)
        out["edges"][name] = {
            "requests": len(at),
            "hit_ratio": ratio(len(at_hits), len(at)),
            "bytes": sum(r.size for r in at),
            "byte_hit_ratio": ratio(sum(r.size for r in at_hits), sum(r.size for r in at)),
            "peak_rps": max(per_second.values(), default=0),
            "first_tries": sum(r.first == e for r in reqs),
            "failed_first_tries": sum(r.first == e and r.failed > 0 for r in reqs),
            **ref_latency([r.latency for r in at], mean=False),
        }
    by_region, by_place, by_kind = defaultdict(list), defaultdict(list), defaultdict(list)
    for r in reqs:
        by_region[lay.regions[r.place]].append(r)
        by_place[lay.places[r.place]].append(r)
        by_kind[KINDS[r.kind]].append(r)
    # every region appears (a sum of its cities); cities and kinds only with requests
    out["regions"] = {g: ref_group(by_region[g], km) for g in sorted(set(lay.regions))}
    out["cities"] = {p: ref_group(by_place[p], km) for p in lay.places if by_place[p]}
    out["resolvers"] = {k: ref_group(by_kind[k], km) for k in KINDS if by_kind[k]}
    return out


def reference_rows(reqs: list[Req], interval: float, edges: list[str] = EDGES) -> list[list]:
    if not reqs:
        return []
    by_iv = defaultdict(list)
    for r in reqs:
        by_iv[math.floor(r.t / interval)].append(r)
    rows = []
    for i in range(math.floor(max(r.t for r in reqs) / interval) + 1):
        rs = by_iv[i]
        served = [r for r in rs if r.edge >= 0]
        lat = [r.latency for r in served]
        rows.append([
            round(i * interval, 3),
            len(rs),
            ratio(sum(r.outcome in FROM_CACHE for r in served), len(served)),
            sum(r.fetch != NO_FETCH for r in rs),
            ref_percentile(lat, 50),
            ref_percentile(lat, 95),
            ref_percentile(lat, 99),
            sum(r.edge < 0 for r in rs),
            sum(retries(r) for r in rs),
            *(sum(r.first == e for r in rs) for e in range(len(edges))),
        ])  # fmt: skip
    return rows


# ---------------------------------------------------------------- the checks

CASES = [(0, 1.0), (1, 2.5), (2, 0.5), (3, 60.0), (4, 1.0)]
SPLITS = ["one", "random", "mid", "edges"]
N = 2500


@cache
def case(seed: int, interval: float) -> tuple[list[Req], list[list[float]], dict, list]:
    reqs = make_requests(seed, N, interval)
    km = distances(seed, len(WORLD.places), len(EDGES))
    return reqs, km, reference_summary(reqs, km), reference_rows(reqs, interval)


def assert_same(got: dict, want: dict, where: str = "summary") -> None:
    """Key by key, so a failure names the figure; the order of the keys too
    (summary.json is compared byte for byte between runs)."""
    assert list(got) == list(want), where
    for k in want:
        if isinstance(want[k], dict):
            assert_same(got[k], want[k], f"{where}.{k}")
        else:
            assert got[k] == want[k], f"{where}.{k}: {got[k]!r} != {want[k]!r}"


def test_the_requests_cover_every_case():
    """The random input exercises what the checks claim to cover."""
    reqs, _, ref, rows = case(0, 1.0)
    assert {r.outcome for r in reqs} == set(range(len(OUTCOMES)))
    assert {r.kind for r in reqs} == set(range(len(KINDS)))
    assert {r.level for r in reqs} == {0, 1, 2}
    assert {r.place for r in reqs} == set(range(len(WORLD.places) - 1))
    errs = [r for r in reqs if r.edge < 0]
    assert any(r.failed == 0 for r in errs) and any(r.failed > 1 for r in errs)
    assert any(r.first < 0 for r in errs)
    assert any(r.failed and r.edge >= 0 for r in reqs)
    assert any(r.t == math.floor(r.t) for r in reqs)  # at an interval edge
    assert any(a.t == b.t for a, b in zip(reqs, reqs[1:], strict=False))
    assert any(r.latency >= 1e6 for r in reqs) and any(r.latency < 0.01 for r in reqs)
    assert any(row[1] == 0 for row in rows)  # empty intervals
    assert len(rows) > 256  # past the first allocation of the per-second and interval tables
    assert ref["regions"]["AN"]["requests"] == 0 and "Nowhere" not in ref["cities"]
    assert ref["edges"]["dead"]["requests"] == 0 < ref["edges"]["dead"]["failed_first_tries"]


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize(("seed", "interval"), CASES)
def test_summary_equals_the_reference(seed, interval, split):
    reqs, km, ref, _ = case(seed, interval)
    stats = run_stats(reqs, split_points(seed, reqs, interval, split), interval, km)
    got = stats.summary({"name": "t", "seed": seed})
    assert got.pop("scenario") == {"name": "t", "seed": seed}
    assert_same(got, ref)


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize(("seed", "interval"), CASES)
def test_timeseries_rows_equal_the_reference(seed, interval, split):
    reqs, km, _, ref_rows = case(seed, interval)
    stats = run_stats(reqs, split_points(seed, reqs, interval, split), interval, km)
    header = stats.timeseries_header()
    assert header == ["t", "requests", "hit_ratio", "origin_requests", "p50", "p95", "p99",
                      "errors", "retries", *(f"first_tries:{e}" for e in EDGES)]  # fmt: skip
    rows = stats.timeseries_rows()
    assert len(rows) == len(ref_rows)
    for got, want in zip(rows, ref_rows, strict=True):
        assert len(got) == len(header)
        assert got == want, f"t={want[0]}: " + ", ".join(
            f"{h} {g!r} != {w!r}" for h, g, w in zip(header, got, want, strict=True) if g != w
        )


def assert_like_reference(stats: Stats, reqs, km, interval: float) -> None:
    """Summary (but its scenario block) and timeseries rows equal the per-request reference."""
    got = stats.summary({})
    del got["scenario"]
    assert_same(got, reference_summary(reqs, km))
    assert stats.timeseries_rows() == reference_rows(reqs, interval)


def test_one_request_per_batch():
    """The smallest batches: every request alone."""
    reqs = make_requests(11, 400, 2.0, span=150.0)
    km = distances(11, len(WORLD.places), len(EDGES))
    stats = run_stats(reqs, split_points(11, reqs, 2.0, "each"), 2.0, km)
    assert_like_reference(stats, reqs, km, 2.0)


def test_percentiles_within_a_bin_of_the_exact_order_statistic():
    """The histogram promise: each percentile within ~1.2 % of the nearest-rank value."""
    reqs, km, _, _ = case(1, 2.5)
    stats = run_stats(reqs, [], 2.5, km)
    got = stats.summary({})
    served = sorted(r.latency for r in reqs if r.edge >= 0)
    for q in QS:
        exact = served[max(1, -(-q * len(served) // 100)) - 1]
        assert got["latency_ms"][f"p{q}"] == pytest.approx(exact, rel=0.0118, abs=6e-4), q


def test_no_requests():
    stats = Stats(WORLD.places, WORLD.regions, EDGES, np.ones((len(WORLD.places), len(EDGES))), 1.0)
    stats.add(to_batch([]))
    got = stats.summary({})
    del got["scenario"]
    assert_same(got, reference_summary([], distances(0, len(WORLD.places), len(EDGES))))
    assert stats.timeseries_rows() == []


def test_every_request_an_error():
    reqs = [r for r in make_requests(5, 1500, 1.0, span=80.0) if r.edge < 0]
    assert len(reqs) > 50
    km = distances(5, len(WORLD.places), len(EDGES))
    stats = run_stats(reqs, split_points(5, reqs, 1.0, "random"), 1.0, km)
    assert_like_reference(stats, reqs, km, 1.0)


def test_no_edges():
    """A scenario where nothing can be served: every request an error, no edge tried."""
    reqs = [r._replace(first=-1) for r in make_requests(6, 1500, 1.0, span=80.0) if r.edge < 0]
    reqs = [r._replace(failed=0) for r in reqs]
    lay = WORLD._replace(edges=[])
    km = [[]] * len(lay.places)
    stats = run_stats(reqs, split_points(6, reqs, 1.0, "random"), 1.0, km, lay)
    got = stats.summary({})
    del got["scenario"]
    assert_same(got, reference_summary(reqs, km, lay))
    assert stats.timeseries_rows() == reference_rows(reqs, 1.0, [])


# ------------------------------------------------- what the report reads from Stats


def ref_distributions(reqs: list[Req], km, lay: Layout) -> dict:
    """cities, regions (latency pairs, hit ratio) and resolvers (distance pairs)
    of ``cdn.report_data.distributions``: the parts that come from Stats."""
    cities = []
    for i, key in enumerate(lay.places):
        rs = [r for r in reqs if r.place == i]
        if not rs:
            continue
        served = Counter(r.edge for r in rs if r.edge >= 0)
        by_edge = {name: served[e] for e, name in enumerate(lay.edges) if served[e]}
        top = min(by_edge, key=lambda n: (-by_edge[n], n)) if by_edge else None
        cities.append({"name": key, "region": lay.regions[i], "requests": len(rs),
                       "top_edge": top, "edges": by_edge})  # fmt: skip
    regions = {}
    for g in sorted(set(lay.regions)):
        served = [r for r in reqs if lay.regions[r.place] == g and r.edge >= 0]
        if served:
            upper = Counter(round(0.01 * 10 ** ((ref_bin(r.latency) + 1) / 100), 3) for r in served)
            hits = sum(r.outcome in FROM_CACHE for r in served)
            regions[g] = {
                "latency_ms": [[v, upper[v]] for v in sorted(upper)],
                "hit_ratio": ratio(hits, len(served)),
            }
    resolvers = {}
    for k, kind in enumerate(KINDS):
        dist = Counter(
            round(round(km[r.place][r.edge] * 1000) / 1000, 1)
            for r in reqs
            if r.kind == k and r.edge >= 0
        )
        if dist:
            resolvers[kind] = [[v, dist[v]] for v in sorted(dist)]
    return {"cities": cities, "regions": regions, "resolvers": resolvers}


def test_distributions_from_stats_equal_the_reference():
    from cdn.geo import great_circle_km
    from cdn.report_data import distributions
    from cdn.scenario import load_scenario

    sc = load_scenario("quickstart")
    places = [c.place for c in sc.clients]
    weights = [len(places) - i for i in range(len(places))]
    weights[-2] = 0  # one city without requests
    lay = Layout([p.key for p in places], [p.continent or "??" for p in places], weights,
                 [e.name for e in sc.edges])  # fmt: skip
    km = [[great_circle_km(p.lat, p.lon, e.place.lat, e.place.lon) for e in sc.edges]
          for p in places]  # fmt: skip
    reqs = make_requests(21, 3000, 1.0, span=120.0, lay=lay)
    stats = run_stats(reqs, split_points(21, reqs, 1.0, "random"), 1.0, km, lay)
    got = distributions(stats, sc)
    want = ref_distributions(reqs, km, lay)
    pos = {p.key: p for p in places}
    for c in got["cities"]:
        assert (c.pop("lat"), c.pop("lon")) == (
            round(pos[c["name"]].lat, 4),
            round(pos[c["name"]].lon, 4),
        )
    assert got["cities"] == want["cities"]
    assert list(got["regions"]) == list(want["regions"])
    for g, r in want["regions"].items():
        assert got["regions"][g]["latency_ms"] == r["latency_ms"], g
        assert got["regions"][g]["hit_ratio"] == r["hit_ratio"], g
    assert got["resolvers"] == want["resolvers"]


# ------------------------------------------------- fed by the simulator itself

# Every outcome, fetch code and resolver kind: an edge down (failed connects,
# retries, errors), the origin down (stale-if-error, errors), expiring content
# (revalidations), private content (pass).
E2E_SCENARIO = """
name = "stats-e2e"
seed = 3
[origin]
place = "IAD"
service_time = "10ms"
[edge_defaults]
capacity = "4GB"
policy = "lru"
[[edges]]
name = "iad"
place = "IAD"
[[edges]]
name = "fra"
place = "FRA"
[[edges]]
name = "gru"
place = "GRU"
[[edges]]
name = "nrt"
place = "NRT"
[dns]
ttl = "5s"
policy = "latency"
health_interval = "2s"
health_failures = 2
health_successes = 1
[[clients]]
place = "New York"
weight = 3
[[clients]]
place = "London"
weight = 2
[[clients]]
place = "São Paulo"
weight = 1
[[clients]]
place = "Tokyo"
weight = 1
[[clients]]
place = "Sydney"
weight = 1
[resolvers]
isp = 0.6
[[resolvers.public]]
name = "far"
share = 0.2
places = ["FRA"]
ecs = false
[[resolvers.public]]
name = "near"
share = 0.2
places = ["IAD"]
ecs = true
[workload]
duration = "30s"
rate = "1500/s"
catalog_size = 300
client_dns_cache = "5s"
keepalive = 0.5
[[events]]
at = "5s"
kind = "edge_down"
edge = "iad"
duration = "10s"
[[events]]
at = "18s"
kind = "origin_down"
duration = "6s"
[network]
connect_timeout = "1s"
[[workload.content]]
type = "api"
share = 0.6
size = "2KB"
cache_control = "max-age=1, stale-while-revalidate=1, stale-if-error=30"
[[workload.content]]
type = "img"
share = 0.3
size = "200KB"
cache_control = "max-age=3600"
[[workload.content]]
type = "private"
share = 0.1
size = "1KB"
cache_control = "private"
"""


def test_stats_fed_by_the_simulator_equal_the_reference(tmp_path):
    """The batches Simulation.process hands to Stats (recorded on the way, the
    run unchanged), replayed through the reference: the summary's Stats figures
    and every timeseries row agree, through engine cuts at events and chunks."""
    from cdn.scenario import load_scenario
    from cdn.simulate import Simulation

    path = tmp_path / "e2e.toml"
    path.write_text(E2E_SCENARIO, encoding="utf-8")
    sim = Simulation(load_scenario(path))
    batches: list[Batch] = []
    add = sim.stats.add

    def record(b: Batch) -> None:
        batches.append(b)
        add(b)

    sim.stats.add = record
    sim.run(chunk=3000)
    reqs = [
        Req(*row)
        for b in batches
        for row in zip(
            b.t.tolist(),
            b.place.tolist(),
            b.kind.tolist(),
            b.edge.tolist(),
            b.first.tolist(),
            b.outcome.tolist(),
            b.fetch.tolist(),
            b.size.tolist(),
            b.latency_ms.tolist(),
            b.dns_level.tolist(),
            b.failed.tolist(),
            strict=True,
        )  # fmt: skip
    ]
    # the contract the reference reads the batches by
    assert all(a.t <= b.t for a, b in zip(reqs, reqs[1:], strict=False))
    for r in reqs:
        assert (r.edge < 0) == (r.outcome == ERROR) == math.isnan(r.latency), r
        assert r.first >= 0 and (r.edge >= 0 or r.fetch == NO_FETCH), r
    # the run covers what it is meant to
    assert {r.outcome for r in reqs} == set(range(len(OUTCOMES)))
    assert {r.fetch for r in reqs} == {NO_FETCH, FULL_FETCH, CONDITIONAL}
    assert {r.kind for r in reqs} == set(range(len(KINDS)))
    assert any(r.failed and r.edge >= 0 for r in reqs) and any(r.failed > 1 for r in reqs)
    assert len(batches) > 10

    st = sim.stats
    lay = Layout(st.places, st.regions, [], st.edges)
    got = sim.summary()
    want = reference_summary(reqs, sim.km.tolist(), lay)
    # the simulator adds figures of its own (shield tiers, overload, its model)
    del got["scenario"], got["model"]
    for name, e in got["edges"].items():
        got["edges"][name] = {f: v for f, v in e.items() if f in want["edges"][name]}
    assert_same(got, want)
    assert st.timeseries_rows() == reference_rows(reqs, st.interval, st.edges)
