"""The simulator end to end: files, determinism, physics, libCacheSim, ECS, failover."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from cdn.geo import fiber_rtt_ms, great_circle_km
from cdn.network import NetworkModel
from cdn.places import resolve_place
from cdn.scenario import load_scenario
from cdn.simulate import simulate
from tests.conftest import run_cdn

SUMMARY_KEYS = {
    "requests", "hit_ratio", "byte_hit_ratio", "latency_ms", "mapping_distance_km", "origin",
    "errors", "edges", "regions", "cities", "resolvers", "scenario",
}  # fmt: skip


def one_edge_scenario(tmp_path, *, capacity="100MB", client="Frankfurt", extra="") -> str:
    """One LRU edge at FRA, objects that never expire, ISP resolvers only."""
    text = f"""
name = "one-edge"
seed = 5
[origin]
place = "FRA"
service_time = "5ms"
[[origin.cache_control]]
pattern = "*"
value = "max-age=315360000"
[[edges]]
name = "fra"
place = "FRA"
capacity = "{capacity}"
policy = "lru"
[dns]
ttl = "30s"
[[clients]]
place = "{client}"
weight = 1
[resolvers]
isp = 1.0
[workload]
duration = "10s"
rate = "100/s"
keepalive = 0
client_dns_cache = "1h"
[network]
access_delay = "5ms"
{extra}
"""
    path = tmp_path / "one-edge.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def write_trace(path, rows) -> str:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["time", "client", "key", "size"])
        w.writerows(rows)
    return str(path)


def test_quickstart_from_any_directory_writes_results(tmp_path):
    out = run_cdn("simulate", "--requests", "50000", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    summary_path = tmp_path / "results" / "quickstart" / "summary.json"
    summary = json.loads(summary_path.read_text())
    assert SUMMARY_KEYS <= summary.keys()
    assert summary["requests"] == 50000
    assert {"p50", "p90", "p99", "mean"} <= summary["latency_ms"].keys()
    assert {"mean", "p50"} <= summary["mapping_distance_km"].keys()
    assert {"requests", "bytes"} <= summary["origin"].keys()
    for e in summary["edges"].values():
        assert {"requests", "hit_ratio", "bytes", "peak_rps"} <= e.keys()
    for c in summary["cities"].values():
        assert {"requests", "p50", "p90", "p99"} <= c.keys()
    assert summary["scenario"]["name"] == "quickstart"
    assert len(summary["scenario"]["sha256"]) == 64
    assert sum(summary["outcomes"].values()) == summary["requests"]
    header = (tmp_path / "results" / "quickstart" / "timeseries.csv").read_text().splitlines()[0]
    assert header.startswith("t,requests,hit_ratio,origin_requests,p50,p95,p99,errors")
    assert "hit ratio" in out.stdout and "requests" in out.stdout
    assert not list((tmp_path / "results" / "quickstart").glob(".*tmp"))


def test_same_seed_same_bytes_whatever_the_chunk(tmp_path):
    runs = []
    for i, chunk in enumerate((65536, 65536, 777)):
        out = tmp_path / f"run{i}"
        simulate("quickstart", out_dir=out, requests=40000, chunk=chunk)
        runs.append(((out / "summary.json").read_bytes(), (out / "timeseries.csv").read_bytes()))
    assert runs[0] == runs[1]  # determinism
    assert runs[0] == runs[2]  # chunking changes nothing
    other = simulate("quickstart", out_dir=tmp_path / "seed2", requests=40000, seed=2)
    assert other.summary["latency_ms"] != json.loads(runs[0][0])["latency_ms"]


def test_lru_hit_ratio_equals_libcachesim(tmp_path):
    lcs = pytest.importorskip("libcachesim")
    rng = np.random.default_rng(11)
    n_obj, n_req = 3000, 30000
    w = np.arange(1, n_obj + 1, dtype=float) ** -0.9
    keys = np.searchsorted(np.cumsum(w) / w.sum(), rng.random(n_req), side="right")
    sizes_obj = np.clip(np.rint(rng.lognormal(np.log(20000), 1.2, n_obj)), 100, 5_000_000)
    sizes = sizes_obj[keys].astype(np.int64)
    wss = int(sizes_obj[np.unique(keys)].sum())
    capacity = wss // 20  # 5% of the working set
    rows = [(f"{i * 0.001:.3f}", "Frankfurt", f"/k/{k}", int(s)) for i, (k, s) in
            enumerate(zip(keys, sizes, strict=True))]  # fmt: skip
    trace = write_trace(tmp_path / "trace.csv", rows)
    scen = one_edge_scenario(tmp_path, capacity=str(capacity))
    res = simulate(scen, out_dir=tmp_path / "out", trace=trace)

    cache = lcs.LRU(cache_size=capacity)
    hits = 0
    for k, s in zip(keys.tolist(), sizes.tolist(), strict=True):
        hits += bool(cache.get(lcs.Request(obj_size=int(s), obj_id=int(k) + 1)))
    o = res.summary["outcomes"]
    assert res.summary["requests"] == n_req
    # Collapsed requests are store hits too (they waited for an in-flight fetch).
    assert o["hit"] + o["collapsed"] == hits
    assert o["miss"] == n_req - hits
    assert res.summary["hit_ratio"] == round(hits / n_req, 6)


def test_warm_client_beside_an_edge_pays_handshakes_plus_one_rtt(tmp_path):
    rows = [(f"{i * 0.05:.2f}", "Frankfurt", "/small", 1000) for i in range(201)]
    trace = write_trace(tmp_path / "trace.csv", rows)
    scen = one_edge_scenario(tmp_path)
    res = simulate(scen, out_dir=tmp_path / "out", trace=trace)
    sc = load_scenario(scen)
    rtt = NetworkModel.from_config(sc.network).rtt_ms(
        resolve_place("Frankfurt"), sc.edges[0].place, sc.network.access_delay
    )
    # TCP handshake + TLS 1.3 + request/response of one small segment: 3 RTT.
    assert rtt >= 2 * sc.network.access_delay * 1000
    assert res.summary["latency_ms"]["p50"] == pytest.approx(3 * rtt, rel=0.012)
    assert res.summary["outcomes"]["hit"] == 200 and res.summary["outcomes"]["miss"] == 1


def test_client_across_the_planet_sees_at_least_the_fiber_floor(tmp_path):
    rows = [(f"{i * 0.05:.2f}", "Sydney", f"/o{i % 7}", 5000) for i in range(300)]
    trace = write_trace(tmp_path / "trace.csv", rows)
    scen = one_edge_scenario(tmp_path, client="Sydney")
    out = tmp_path / "out"
    simulate(scen, out_dir=out, trace=trace, sample=10_000)
    syd, fra = resolve_place("Sydney"), load_scenario(scen).edges[0].place
    floor = fiber_rtt_ms(great_circle_km(syd.lat, syd.lon, fra.lat, fra.lon))
    with open(out / "sample.csv", newline="") as fh:
        lat = [float(r["latency_ms"]) for r in csv.DictReader(fh)]
    assert len(lat) == 300
    assert min(lat) >= 3 * floor  # handshakes and the request each cross the planet


def test_public_resolvers_without_ecs_map_far(tmp_path):
    res = simulate("public-resolvers", out_dir=tmp_path, requests=80000)
    r = res.summary["resolvers"]
    no_ecs = r["public"]["mapping_distance_km"]["mean"]
    ecs = r["public_ecs"]["mapping_distance_km"]["mean"]
    isp = r["isp"]["mapping_distance_km"]["mean"]
    assert no_ecs > 3 * ecs  # Chen et al. 2015 saw about 8x
    assert ecs == pytest.approx(isp, rel=0.15)  # ECS maps like a resolver beside the client
    assert r["public"]["p50"] > r["public_ecs"]["p50"]


def test_failover_decays_with_ttl_and_counts_every_request(tmp_path):
    sc = load_scenario("failover")
    res = simulate(sc, out_dir=tmp_path)
    s = res.summary
    assert sum(s["outcomes"].values()) == s["requests"]
    with open(tmp_path / "timeseries.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    t = np.array([float(r["t"]) for r in rows])
    req = np.array([int(r["requests"]) for r in rows])
    iad = np.array([int(r["first_tries:iad"]) for r in rows])
    step = t[1] - t[0]

    def share(a, b):
        m = (t >= a) & (t + step <= b)
        return iad[m].sum() / req[m].sum()

    before = share(30, 60)
    assert before > 0.3  # the busy edge
    assert share(60, 75) > 0.5 * before  # health checks have not noticed yet
    assert share(75, 90) < share(60, 75)  # resolvers' answers expire
    assert share(130, 180) < 0.01  # everyone moved (TTL 20 s, client caches 20 s)
    assert share(200, 240) > 0.5 * before  # back after edge_up and 2 good checks
    failed = s["edges"]["iad"]["failed_first_tries"]
    assert failed > 0 and s["errors"] > 0
    # Every request that hit the dead edge was either retried elsewhere or an error.
    assert s["errors"] <= failed <= s["errors"] + s["retries"]
    errs = np.array([int(r["errors"]) for r in rows])
    assert errs[t < 60].sum() == 0 and errs[t >= 180].sum() == 0


def test_bad_trace_row_names_the_line(tmp_path):
    trace = tmp_path / "bad.csv"
    trace.write_text("time,client,key,size\n0.1,London,/a,100\n0.2,London,/b,12x\n")
    scen = one_edge_scenario(tmp_path)
    out = run_cdn("simulate", scen, "--trace", str(trace), "-o", str(tmp_path / "o"))
    assert out.returncode == 2
    assert "line 3" in out.stderr and "12x" in out.stderr
    assert "Traceback" not in out.stderr


def test_trace_clients_by_address_plan(tmp_path):
    # The first client place owns 127.64.0.0/24 and fd00:cd:1::/48 (cdn.addressing).
    rows = [("0.0", "127.64.0.9", "/a", 100), ("0.1", "fd00:cd:1::5", "/a", 100),
            ("0.2", "Frankfurt", "/a", 100)]  # fmt: skip
    scen = one_edge_scenario(tmp_path)
    res = simulate(scen, out_dir=tmp_path / "o", trace=write_trace(tmp_path / "t.csv", rows))
    assert list(res.summary["cities"]) == [load_scenario(scen).clients[0].place.key]
    assert res.summary["cities"][load_scenario(scen).clients[0].place.key]["requests"] == 3
    bad = write_trace(tmp_path / "bad.csv", [("0", "10.1.2.3", "/a", 1)])
    out = run_cdn("simulate", scen, "--trace", bad, "-o", str(tmp_path / "o2"))
    assert out.returncode == 2 and "10.1.2.3" in out.stderr


def _sweep_rows(path) -> dict[str, dict]:
    with open(path, newline="") as fh:
        return {r["variant"]: r for r in csv.DictReader(fh)}


def test_sweep_grid_on_local_processes_and_on_dask(tmp_path, capsys):
    from cdn.cli import main

    scen = one_edge_scenario(tmp_path, capacity="1MB")
    local = tmp_path / "local"
    out = run_cdn("sweep", scen, "--set", "edges.capacity=200kB,50MB", "--set",
                  "dns.policy=latency", "-o", str(local))  # fmt: skip
    assert out.returncode == 0, out.stderr
    rows = _sweep_rows(local / "sweep.csv")
    assert len(rows) == 2
    small = rows["edges.capacity=200kB_dns.policy=latency"]
    big = rows["edges.capacity=50MB_dns.policy=latency"]
    assert float(small["hit_ratio"]) < float(big["hit_ratio"])
    variant_dir = local / "edges.capacity=50MB_dns.policy=latency"
    summary = json.loads((variant_dir / "summary.json").read_text())
    assert summary["scenario"]["name"].startswith("one-edge_")

    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  protocol="tcp://", host="127.0.0.1",
                                  dashboard_address=None) as cluster:  # fmt: skip
        rc = main(["sweep", scen, "--set", "edges.capacity=200kB,50MB", "--set",
                   "dns.policy=latency", "--scheduler", cluster.scheduler_address,
                   "-o", str(tmp_path / "dask")])  # fmt: skip
    assert rc == 0
    # The same figures wherever it ran.
    assert _sweep_rows(tmp_path / "dask" / "sweep.csv") == rows

    capsys.readouterr()
    assert main(["sweep", scen, "--set", "edges.capacity=lots", "-o", str(tmp_path / "b")]) == 2
    assert "capacity" in capsys.readouterr().err


def _outcomes_of(tmp_path, cache_control, rows, events) -> dict:
    scen = one_edge_scenario(tmp_path)
    text = Path(scen).read_text(encoding="utf-8").replace("max-age=315360000", cache_control)
    path = tmp_path / "events.toml"
    path.write_text(text + "\n" + events, encoding="utf-8")
    trace = write_trace(tmp_path / "t.csv", rows)
    return simulate(str(path), out_dir=tmp_path / "o", trace=trace).summary


ORIGIN_DOWN = """
[[events]]
at = "2s"
kind = "origin_down"
duration = "10s"
"""


def test_origin_down_serves_stale_if_error_and_fails_the_rest(tmp_path):
    rows = [(0, "Frankfurt", "/a", 100), (0.5, "Frankfurt", "/a", 100),
            (3, "Frankfurt", "/a", 100), (4, "Frankfurt", "/b", 100),
            (13, "Frankfurt", "/a", 100), (14, "Frankfurt", "/b", 100)]  # fmt: skip
    s = _outcomes_of(tmp_path, "max-age=1, stale-if-error=60", rows, ORIGIN_DOWN)
    o = s["outcomes"]
    assert (o["miss"], o["hit"], o["stale"], o["error"], o["revalidated"]) == (2, 1, 1, 1, 1)
    assert s["origin"] == {"requests": 3, "conditional": 1, "bytes": 200}
    s = _outcomes_of(tmp_path, "max-age=1", rows, ORIGIN_DOWN)  # no stale-if-error
    assert s["outcomes"]["error"] == 2 and s["outcomes"]["stale"] == 0


def test_purge_by_prefix_and_url(tmp_path):
    rows = [(0, "Frankfurt", "/img/1", 10), (0.1, "Frankfurt", "/img/2", 10),
            (0.2, "Frankfurt", "/css/x", 10), (0.3, "Frankfurt", "/img/1", 10),
            (3, "Frankfurt", "/img/1", 10), (3.1, "Frankfurt", "/css/x", 10),
            (6, "Frankfurt", "/css/x", 10)]  # fmt: skip
    events = """
[[events]]
at = "2s"
kind = "purge"
prefix = "/img/"

[[events]]
at = "5s"
kind = "purge"
url = "/css/x"
"""
    o = _outcomes_of(tmp_path, "max-age=315360000", rows, events)["outcomes"]
    assert (o["miss"], o["hit"]) == (5, 2)


def test_origin_slow_delays_misses_only(tmp_path):
    rows = [(0, "Frankfurt", "/warm-dns", 1), (0.2, "Frankfurt", "/a", 100),
            (0.5, "Frankfurt", "/a", 100), (3, "Frankfurt", "/b", 100),
            (3.5, "Frankfurt", "/b", 100), (6, "Frankfurt", "/b", 100)]  # fmt: skip
    events = """
[[events]]
at = "2s"
kind = "origin_slow"
service_time = "1500ms"
duration = "5s"
"""
    _outcomes_of(tmp_path, "max-age=315360000", rows, events)
    out = tmp_path / "o"
    scen = tmp_path / "events.toml"
    simulate(str(scen), out_dir=out, trace=str(tmp_path / "t.csv"), sample=100)
    with open(out / "sample.csv", newline="") as fh:
        lat = {(r["object"], r["outcome"]): float(r["latency_ms"]) for r in csv.DictReader(fh)}
    slow_miss, fast_miss = lat[("/b", "miss")], lat[("/a", "miss")]
    assert slow_miss - fast_miss == pytest.approx(1500 - 5, abs=1.0)  # service 5 ms -> 1.5 s
    assert lat[("/b", "hit")] == pytest.approx(lat[("/a", "hit")])
    # /b asked again while its slow fetch is in flight: collapsed, waits for the rest of it.
    wait = lat[("/b", "collapsed")] - lat[("/b", "hit")]
    assert wait == pytest.approx(slow_miss - lat[("/b", "hit")] - 500, abs=1.0)


def test_flash_crowd_event_adds_requests_in_its_window(tmp_path):
    scen = one_edge_scenario(tmp_path, extra="""
[[events]]
at = "4s"
kind = "flash_crowd"
region = "EU"
factor = 3
duration = "4s"
""")  # fmt: skip
    simulate(scen, out_dir=tmp_path / "o")
    with open(tmp_path / "o" / "timeseries.csv", newline="") as fh:
        per_second = {float(r["t"]): int(r["requests"]) for r in csv.DictReader(fh)}
    calm = sum(v for t, v in per_second.items() if t < 4 or t >= 8)
    crowd = sum(v for t, v in per_second.items() if 4 <= t < 8)
    assert calm == pytest.approx(600, abs=5 * 600**0.5)  # 100/s for 6 s
    assert crowd == pytest.approx(1200, abs=5 * 1200**0.5)  # 3 x 100/s for 4 s


BATCH_CONTENT = """
[[workload.content]]
type = "html"
share = 0.2
size = { distribution = "lognormal", median = "30KB", sigma = 0.7 }
cache_control = "max-age=5, stale-while-revalidate=3, stale-if-error=60"
[[workload.content]]
type = "image"
share = 0.4
size = { distribution = "lognormal", median = "40KB", sigma = 1.2, max = "10MB" }
cache_control = "max-age=8"
[[workload.content]]
type = "api"
share = 0.05
size = "2KB"
cache_control = "no-store"
[[workload.content]]
type = "video"
share = 0.35
size = { distribution = "lognormal", median = "1.5MB", sigma = 0.4, max = "6MB" }
cache_control = "max-age=604800"
"""
PURGE_AND_EDGE_DOWN = """
[[events]]
at = "11s"
kind = "purge"
prefix = "/obj/1"

[[events]]
at = "21s"
kind = "edge_down"
edge = "fra"
duration = "6s"
"""
SLOW_AND_DEAD_ORIGIN = """
[[events]]
at = "4s"
kind = "origin_slow"
service_time = "3s"
duration = "4s"

[[events]]
at = "14s"
kind = "origin_down"
duration = "4s"
"""


@pytest.mark.parametrize(
    ("capacity", "events", "outcomes"),
    [
        ("4GiB", PURGE_AND_EDGE_DOWN, ("collapsed", "stale", "revalidated", "pass")),
        ("20MB", PURGE_AND_EDGE_DOWN, ("collapsed", "stale", "revalidated", "pass")),
        ("20MB", PURGE_AND_EDGE_DOWN + SLOW_AND_DEAD_ORIGIN, ("stale", "error", "pass")),
    ],
)
def test_tier_by_tier_equals_the_request_by_request_loop(tmp_path, capacity, events, outcomes):
    # The engine serves a batch tier by tier (stores in one call per node, waits with
    # numpy) unless the origin is down or a fetch could outlast a freshness lifetime;
    # the plain loop (batched=False) must give the very same results, through shields,
    # expiring content, collapsing, purges, a dead edge, a slow and a dead origin.
    from cdn.simulate import Simulation

    text = load_scenario("global").text.replace('capacity = "4GiB"', f'capacity = "{capacity}"')
    text = text.replace('max = "2s" }', 'max = "30ms" }')  # the origin's service time
    path = tmp_path / "g.toml"
    path.write_text(text + BATCH_CONTENT + events, encoding="utf-8")
    runs, tiers = [], []
    for batched, chunk in ((False, 4096), (True, 4096), (True, 1 << 16)):
        sim = Simulation(load_scenario(path), requests=50_000)
        sim.caches.batched = batched
        sim.run(chunk=chunk)
        runs.append((json.dumps(sim.summary(), sort_keys=True), sim.stats.timeseries_rows()))
        tiers.append(sim.caches.tier_batches)
    o = json.loads(runs[0][0])["outcomes"]
    assert all(o[k] for k in outcomes), o  # every path exercised
    assert tiers[0] == 0 and tiers[1] > 0  # the loop alone, then (also) tier by tier
    assert runs[1] == runs[0] and runs[2] == runs[0]


def test_hop_times_worked_out_on_demand_equal_the_whole_arrays():
    # The simulator hands the engine fetch times it works out on demand: take()
    # must equal the whole array's values, and group_max must bound every fetch
    # of either kind per edge (equal to the longest where no server time adds).
    from cdn.simulate import Simulation, _HopTimes

    sim = Simulation(load_scenario("global"))  # ten minutes: html expires
    r = next(iter(sim.request_blocks()))
    e0 = np.maximum(sim.dns.resolve(r.t, r.place, r.group, r.host).edge, 0)
    chain_len = sim.chain_len[e0]
    expiring = sim.caches.ctype_class[r.ctype] == sim.caches.EXPIRING
    service, tls = r.service * 1000.0, sim.scenario.network.tls
    ci = np.argsort(e0, kind="stable")
    groups, starts = np.unique(e0[ci], return_index=True)
    rng = np.random.default_rng(3)
    for d in range(len(sim.hop_rtt)):
        up = _HopTimes(sim, e0, r.size, service, chain_len, None, tls)
        cond = _HopTimes(sim, e0, None, service, chain_len, expiring, tls)
        for hops, mask in ((up, chain_len > d), (cond, (chain_len > d) & expiring)):
            idx = np.sort(rng.permutation(np.flatnonzero(mask))[: int(mask.sum()) // 3])
            lazy = hops.take(d, idx)
            assert len(idx) and np.array_equal(lazy, hops[d][idx])
            assert np.array_equal(hops.take(d, idx), lazy)  # from the whole array now
        bound = up.group_max(d, ci, starts.tolist(), groups)
        longest = np.maximum.reduceat(np.maximum(up[d], cond[d])[ci], starts)
        assert (bound >= longest).all()
        plain = ~sim.hop_origin[d][groups]  # hops that end at a shield: no server time
        assert np.array_equal(bound[plain], longest[plain])
        assert longest.max() > 0
