"""Benchmark the network model's lookups against a bare dict lookup.

Builds the default model (timed: the one-off all-pairs precomputation), warms
it with 200 client places x 25 edge places (attachments and pair results are
cached on first use), then times ``rtt_ms(a, b, access_a, access_b)`` over a
stream of random (client, edge) pairs, the way the simulator asks. Beside it, in
the same run, the same stream of pairs goes through a plain ``dict`` lookup
keyed by (client, edge) index pair: the yardstick. It also times the vectorised
forms (``rtt_pairs_ms`` for 1,000 new coordinate pairs, ``rtt_matrix_ms``) and
``fetch_time_ms_array``.

Usage: python benchmarks/bench_network.py [--lookups N] [--repeat R] [--json FILE]
Each measurement is the best of R runs. Takes a few seconds.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time

import numpy as np

from cdn.network import NetworkModel
from cdn.places import Place
from cdn.transfer import fetch_time_ms_array


def best_of(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lookups", type=int, default=300_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    model = NetworkModel.default()
    build_s = time.perf_counter() - t0

    rng = np.random.default_rng(1)

    def places(n: int, tag: str) -> list[Place]:
        lat, lon = rng.uniform(-50, 65, n), rng.uniform(-180, 180, n)
        return [
            Place(f"{tag}{i}", float(a), float(o))
            for i, (a, o) in enumerate(zip(lat, lon, strict=True))
        ]

    clients, edges = places(200, "c"), places(25, "e")
    t0 = time.perf_counter()
    table = {(i, j): model.rtt_ms(c, e) for i, c in enumerate(clients) for j, e in enumerate(edges)}
    warm_s = time.perf_counter() - t0
    ci = rng.integers(0, len(clients), args.lookups).tolist()
    ei = rng.integers(0, len(edges), args.lookups).tolist()
    pairs = [(clients[i], edges[j]) for i, j in zip(ci, ei, strict=True)]
    keys = list(zip(ci, ei, strict=True))
    rtt = model.rtt_ms

    def run_model():
        for a, b in pairs:
            rtt(a, b, 0.005, 0.0)

    def run_dict():
        get = table.__getitem__
        for k in keys:
            get(k)

    model_s = best_of(args.repeat, run_model)
    dict_s = best_of(args.repeat, run_dict)

    n = 1000
    lat_a, lon_a = rng.uniform(-60, 70, n), rng.uniform(-180, 180, n)
    lat_b, lon_b = rng.uniform(-60, 70, n), rng.uniform(-180, 180, n)
    pairs_s = best_of(args.repeat, lambda: model.rtt_pairs_ms(lat_a, lon_a, lat_b, lon_b))
    matrix_s = best_of(args.repeat, lambda: model.rtt_matrix_ms(clients, edges))
    m = 1_000_000
    f_rtt, f_bytes = rng.uniform(1, 300, m), rng.lognormal(np.log(20_000), 1.5, m)
    f_new = rng.random(m) < 0.5
    fetch_s = best_of(args.repeat, lambda: fetch_time_ms_array(f_rtt, f_bytes, f_new, True, 100e6))

    res = {
        "backbone_nodes": len(model.names),
        "backbone_links": model.graph.number_of_edges(),
        "build_s": build_s,
        "warm_pairs": len(table),
        "warm_s": warm_s,
        "rtt_ms_lookups_per_s": args.lookups / model_s,
        "rtt_ms_us_per_lookup": model_s / args.lookups * 1e6,
        "dict_lookups_per_s": args.lookups / dict_s,
        "ratio_model_over_dict_time": model_s / dict_s,
        "rtt_pairs_1000_new_ms": pairs_s * 1000,
        "rtt_matrix_200x25_ms": matrix_s * 1000,
        "fetch_time_array_per_s": m / fetch_s,
    }
    print(
        f"backbone: {res['backbone_nodes']} nodes, {res['backbone_links']} links; build {build_s * 1000:.0f} ms"
    )
    print(
        f"warm-up: {len(table)} new pairs in {warm_s * 1000:.0f} ms ({warm_s / len(table) * 1e6:.0f} us each)"
    )
    print(
        f"rtt_ms (known places): {res['rtt_ms_lookups_per_s']:,.0f} lookups/s "
        f"({res['rtt_ms_us_per_lookup']:.2f} us each)"
    )
    print(f"bare dict lookup:      {res['dict_lookups_per_s']:,.0f} lookups/s")
    print(f"ratio: rtt_ms takes {res['ratio_model_over_dict_time']:.1f}x the time of a dict lookup")
    print(f"rtt_pairs_ms, 1,000 new coordinate pairs: {res['rtt_pairs_1000_new_ms']:.1f} ms")
    print(f"rtt_matrix_ms, 200 x 25 known places: {res['rtt_matrix_200x25_ms']:.1f} ms")
    print(f"fetch_time_ms_array: {res['fetch_time_array_per_s']:,.0f} fetches/s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
