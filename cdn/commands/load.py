"""``cdn load --live``: replay a scenario's workload against the live CDN."""

from __future__ import annotations

from cdn.cli import DefaultsHelpFormatter


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "load",
        help="replay a scenario's workload against the live CDN; compare with the simulator",
        description=(
            "Replay the first N requests of the scenario's workload (the simulator's generator "
            "and seed) with real DNS queries and real HTTP requests from each client's address "
            "block, and print measured latency percentiles and hit ratio beside the "
            "simulator's prediction for the same requests (sent at the same times). By "
            "default it starts its own stack (as 'cdn serve' would, with cold caches) on "
            "--http-port and --dns-listen and stops it afterwards; with --attach it uses a "
            "'cdn serve' already running there (its caches may be warm: the hit ratio is then "
            "not comparable)."
        ),
        formatter_class=DefaultsHelpFormatter,
    )
    p.add_argument("scenario", metavar="SCENARIO", help="scenario file or bundled name")
    p.add_argument("--live", action="store_true", help="required: replay against live servers")
    p.add_argument(
        "--requests", type=int, default=500, metavar="N", help="how many requests to replay"
    )
    p.add_argument(
        "--concurrency", type=int, default=1, metavar="C", help="requests in flight at once"
    )
    p.add_argument("--attach", action="store_true", help="use a running 'cdn serve'")
    p.add_argument("--http-port", type=int, default=8080, help="port of the origin and edges")
    p.add_argument(
        "--dns-listen",
        default="127.0.0.1:5353",
        metavar="ADDR:PORT",
        help="the DNS server's address",
    )
    p.add_argument("--no-emulate", action="store_true", help="(own stack) no distance emulation")
    p.add_argument(
        "--emulation-scale", type=float, default=1.0, metavar="X",
        help="multiply every emulated delay (own stack; the client's DNS delay too)",
    )  # fmt: skip
    p.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    p.set_defaults(func=run)


def run(args) -> int:
    import asyncio
    import sys

    from cdn.commands.serve import options_from_args
    from cdn.errors import UserError
    from cdn.live_load import replay, report
    from cdn.scenario import load_scenario
    from cdn.serve import LiveStack

    if not args.live:
        raise UserError("only live replays exist: add --live (for the model alone: cdn simulate)")
    if args.requests < 1:
        raise UserError(f"--requests must be at least 1, got {args.requests}")
    if args.concurrency < 1:
        raise UserError(f"--concurrency must be at least 1, got {args.concurrency}")
    options = options_from_args(args)
    scenario = load_scenario(args.scenario)
    scale = 0.0 if options.emulate is False else options.emulation_scale

    def progress(i: int, n: int) -> None:
        if sys.stderr.isatty() and (i % 50 == 0 or i == n):
            print(f"\r{i}/{n} requests", end="" if i < n else "\n", file=sys.stderr, flush=True)

    async def main():
        stack = None
        if not args.attach:
            stack = await LiveStack(scenario, options).start()
        try:
            port = stack.dns.port if stack else options.dns_port
            return await replay(
                scenario, requests=args.requests, concurrency=args.concurrency,
                http_port=options.http_port, dns_server=(options.dns_host, port), scale=scale,
                seed=args.seed, progress=progress,
            )  # fmt: skip
        finally:
            if stack is not None:
                await stack.stop()

    res = asyncio.run(main())
    print(f"cdn load: scenario {scenario.name}, live" + ("" if args.attach else " (own stack)"))
    if scale != 1.0:
        print(
            f"note: emulated delays x{scale:g}: live latencies are not comparable with the "
            "simulator's (the hit ratio is)"
        )
    if scenario.events:
        print(
            f"note: the scenario's {len(scenario.events)} event(s) are not played, live or simulated"
        )
    print(report(res))
    return 0 if res.errors == 0 else 1
