"""``cdn simulate``: replay a scenario on a virtual clock and write its results."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "simulate",
        help="simulate a scenario and write summary.json and timeseries.csv",
        description=(
            "Simulate a scenario (default: the bundled quickstart): requests from client "
            "places through resolvers, geo-aware DNS, edge caches and the origin, with "
            "speed-of-light latency. Writes results/<scenario-name>/summary.json and "
            "timeseries.csv (and sample.csv with --sample) and prints a summary table."
        ),
    )
    p.add_argument(
        "scenario",
        nargs="?",
        default="quickstart",
        help="scenario file, or the name of a bundled one (default: quickstart)",
    )
    p.add_argument("-o", "--output", metavar="DIR", help="results directory "
                   "(default: results/<scenario-name>/)")  # fmt: skip
    g = p.add_mutually_exclusive_group()
    g.add_argument("--requests", type=int, metavar="N", help="stop after N requests")
    g.add_argument("--duration", metavar="T", help='simulate T of virtual time ("10m", "90s")')
    p.add_argument("--seed", type=int, help="random seed (default: the scenario's)")
    p.add_argument("--trace", metavar="FILE",
                   help="replay a CSV trace (time,client,key,size) instead of the generator")  # fmt: skip
    p.add_argument("--chunk", type=int, metavar="N",
                   help="requests per vectorised batch (default 262144, about 70 MB; "
                        "results do not depend on it)")  # fmt: skip
    p.add_argument("--sample", type=int, default=0, metavar="N",
                   help="also write about N sampled requests to sample.csv")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no table and no progress bar")
    p.add_argument("--report", action="store_true",
                   help="also draw figures and an HTML page into <results>/report/")  # fmt: skip
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys
    import time

    from cdn.errors import UserError
    from cdn.results import summary_table
    from cdn.simulate import DEFAULT_CHUNK, simulate
    from cdn.units import UnitError, parse_duration

    duration = None
    if args.duration is not None:
        try:
            duration = parse_duration(args.duration)
        except UnitError as exc:
            raise UserError(f"--duration: {exc}") from None
    if args.sample < 0:
        raise UserError(f"--sample must be >= 0, got {args.sample}")
    res = simulate(
        args.scenario,
        out_dir=args.output,
        requests=args.requests,
        duration=duration,
        seed=args.seed,
        trace=args.trace,
        chunk=DEFAULT_CHUNK if args.chunk is None else args.chunk,
        sample=args.sample,
        progress=not args.quiet and sys.stderr.isatty(),
        clock=time.perf_counter,
    )
    if not args.quiet:
        print(summary_table(res.summary), end="")
        n = res.summary["requests"]
        rate = n / res.run_seconds if res.run_seconds > 0 else 0.0
        print(
            f"simulated {n:,} requests in {res.wall_seconds:.2f} s wall: "
            f"{res.run_seconds:.2f} s simulating ({rate:,.0f}/s), "
            f"{res.wall_seconds - res.run_seconds:.2f} s set-up and writing results"
        )
        print("results: " + ", ".join(str(p) for p in res.paths))
    if args.report:
        from cdn.report_html import write_report

        index = write_report(res.paths[0].parent)[-1]
        if not args.quiet:
            print(f"report: {index}")
    return 0
