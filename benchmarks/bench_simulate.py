"""Simulated requests per second for the bundled scenarios, beside a bare cache loop.

For each scenario, in the same process and run:

- ``simulator``: the whole engine (workload generation, DNS caches and routing,
  edge and shield caches, fetch times, statistics) over N requests, timed
  after the one-off set-up (places, network tables);
- ``bare loop``: the same N (object, size) requests through an inline
  OrderedDict LRU of the first edge's capacity, counting hits and bytes (no
  DNS, no latency, no statistics): the floor a Python per-request loop costs;
- ``store pass``: the same requests, sent to the edges the simulator's DNS
  chose, through fresh ``edge.store`` stores of the scenario (policies,
  capacities, and the shield chain on a miss), tier by tier as the simulator
  sends them: one ``request_many(keys, sizes)`` per store, its misses in time
  order to the parent: the store work alone, with no freshness, timing,
  DNS or statistics.

The ratios are CPU-time ratios: ``sim/bare`` against the bare LRU loop,
``sim/store`` against the store pass. Both wall-clock and process CPU time are printed (the CPU figure is less
sensitive to other work on the machine).

    python benchmarks/bench_simulate.py [--requests N] [SCENARIO ...]
"""

from __future__ import annotations

import argparse
import gc
import time

import numpy as np
from bench_store import bare_sim  # the same bare LRU loop is the yardstick in both

from cdn.scenario import load_scenario
from cdn.simulate import Simulation
from cdn.workload import Requests
from edge.store import make_store

BUNDLED = ("quickstart", "global", "public-resolvers", "failover")


def bench(name: str, n: int) -> dict:
    t0 = time.perf_counter()
    sc = load_scenario(name)
    sim = Simulation(sc, requests=n)
    setup = time.perf_counter() - t0

    w0, c0 = time.perf_counter(), time.process_time()
    sim.run()
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    done = sim.stats.requests

    reqs = Requests.concat(list(sim.request_blocks()))  # the same stream again
    keys, sizes = reqs.obj.tolist(), reqs.size.tolist()
    gc.disable()
    w1, c1 = time.perf_counter(), time.process_time()
    bare_sim(keys, sizes, sc.edges[0].capacity)
    bwall, bcpu = time.perf_counter() - w1, time.process_time() - c1
    fresh = Simulation(sc, requests=n)
    edges = fresh.dns.resolve(reqs.t, reqs.place, reqs.group, reqs.host).edge
    stores = [make_store(e.policy, e.capacity, e.max_object_size) for e in sc.edges]
    parent = fresh.parent
    depth = [0] * len(stores)
    for x in range(len(stores)):
        p = parent[x]
        while p >= 0:
            depth[x] += 1
            p = parent[p]
    key_arr, size_arr = reqs.obj.astype(np.int64), reqs.size.astype(np.int64)
    c2 = time.process_time()
    todo = [[np.flatnonzero(edges == x)] for x in range(len(stores))]
    for x in sorted(range(len(stores)), key=lambda x: -depth[x]):  # children first
        idx = np.sort(np.concatenate(todo[x]))
        hit = np.frombuffer(stores[x].request_many(key_arr[idx], size_arr[idx]), np.bool_)
        if parent[x] >= 0:
            todo[parent[x]].append(idx[~hit])
    scpu = time.process_time() - c2
    gc.enable()
    return {
        "scenario": name,
        "requests": done,
        "setup_s": setup,
        "sim_rps_wall": done / wall,
        "sim_rps_cpu": done / cpu,
        "bare_rps_wall": len(keys) / bwall,
        "bare_rps_cpu": len(keys) / bcpu,
        "store_rps_cpu": len(keys) / scpu,
        "hit_ratio": sim.summary()["hit_ratio"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenarios", nargs="*", default=list(BUNDLED))
    ap.add_argument("--requests", type=int, default=500_000)
    args = ap.parse_args()
    print(f"{'scenario':<18}{'requests':>10}{'setup s':>9}{'sim req/s (wall/cpu)':>24}"
          f"{'bare LRU loop req/s':>24}{'store pass/s':>14}{'sim/bare':>10}{'sim/store':>10}"
          f"{'hit':>7}")  # fmt: skip
    for name in args.scenarios:
        r = bench(name, args.requests)
        ratio = r["sim_rps_cpu"] / r["bare_rps_cpu"]
        print(
            f"{name:<18}{r['requests']:>10,}{r['setup_s']:>9.2f}"
            f"{r['sim_rps_wall']:>12,.0f}/{r['sim_rps_cpu']:<11,.0f}"
            f"{r['bare_rps_wall']:>12,.0f}/{r['bare_rps_cpu']:<11,.0f}"
            f"{r['store_rps_cpu']:>14,.0f}{ratio:>10.2f}"
            f"{r['sim_rps_cpu'] / r['store_rps_cpu']:>10.2f}{r['hit_ratio']:>7.3f}"
        )


if __name__ == "__main__":
    main()
