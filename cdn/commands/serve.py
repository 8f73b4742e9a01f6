"""``cdn serve``: origin, edges and DNS of a scenario live on loopback, with the
scenario's events played on the wall clock (``--no-events``: not played)."""

from __future__ import annotations

from cdn.cli import DefaultsHelpFormatter


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "serve",
        help="run the scenario's CDN live on loopback: origin, one edge per PoP, DNS",
        description=(
            "Start the origin (serving --assets, default the bundled demo site, plus the "
            "catalog's /obj/<id>), one caching edge per PoP on its own loopback address "
            "127.0.1.N (shields on 127.0.3.N) on a common port, and the geo-aware DNS "
            "server over UDP and TCP with health checks. Distance emulation (on unless "
            "--no-emulate) delays each response by the modelled round trips: client to "
            "edge (client located by its source address) and edge to origin. The "
            "scenario's [[events]] are played at their 'at' in real seconds after start "
            "(edge_down: the edge refuses connections until it is up again, and DNS health "
            "checks notice on their own; origin_down, origin_slow, purge likewise; "
            "flash_crowd is a workload event, not played here); one line is printed per "
            "event. Ctrl-C stops everything. No root needed."
        ),
        formatter_class=DefaultsHelpFormatter,
    )
    p.add_argument(
        "scenario", nargs="?", default="quickstart", metavar="SCENARIO",
        help="scenario file or bundled name",
    )  # fmt: skip
    p.add_argument("--assets", default=None, metavar="DIR", help="directory the origin serves")
    p.add_argument("--http-port", type=int, default=8080, help="port of the origin and edges")
    p.add_argument("--dns-listen", default="127.0.0.1:5353", metavar="ADDR:PORT",
                   help="where the DNS server listens, UDP and TCP")  # fmt: skip
    p.add_argument("--no-emulate", action="store_true", help="no distance emulation")
    p.add_argument(
        "--emulation-scale", type=float, default=1.0, metavar="X",
        help="multiply every emulated delay (0.1: a tenth of the world's distances)",
    )  # fmt: skip
    p.add_argument(
        "--health-interval", type=float, default=None, metavar="SECONDS",
        help="seconds between health checks (default: the scenario's dns.health_interval)",
    )  # fmt: skip
    p.add_argument(
        "--no-events", action="store_true",
        help="do not play the scenario's [[events]] (edge_down, origin_down, purge, ...)",
    )  # fmt: skip
    p.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    p.set_defaults(func=run)


def options_from_args(args):
    """ServeOptions from the flags ``cdn serve`` and ``cdn load`` share."""
    from pathlib import Path

    from cdn.addressing import parse_hostport
    from cdn.errors import UserError
    from cdn.serve import ServeOptions, check_loopback_port

    if not 1 <= args.http_port <= 65535:
        raise UserError(f"--http-port {args.http_port}: allowed 1..65535")
    host, port = parse_hostport(args.dns_listen, "--dns-listen")
    check_loopback_port(host, port)
    assets = getattr(args, "assets", None)
    if assets is not None and not Path(assets).is_dir():
        raise UserError(f"--assets {assets}: not a directory")
    scale = getattr(args, "emulation_scale", 1.0)
    if not (scale >= 0 and scale < 1e6):
        raise UserError(f"--emulation-scale {scale}: allowed a number >= 0")
    interval = getattr(args, "health_interval", None)
    if interval is not None and not interval > 0:
        raise UserError("--health-interval must be a positive number of seconds")
    return ServeOptions(
        assets=Path(assets) if assets else None,
        http_port=args.http_port,
        dns_host=host,
        dns_port=port,
        emulate=not args.no_emulate,
        emulation_scale=scale,
        health_interval=interval,
        # only cdn serve plays events: cdn load compares with a simulation without them
        events=hasattr(args, "no_events") and not args.no_events,
    )


def run(args) -> int:
    import asyncio
    import logging

    from cdn.scenario import load_scenario
    from cdn.serve import LiveStack

    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    options = options_from_args(args)
    scenario = load_scenario(args.scenario)

    async def main() -> None:
        from cdn.signals import stop_event

        stop = stop_event()  # before the banner: it invites Ctrl-C
        stack = LiveStack(scenario, options, on_event=lambda line: print(line, flush=True))
        await stack.start()
        try:
            mode = (
                "off"
                if not options.emulate
                else f"on (x{options.emulation_scale:g})"
                if options.emulation_scale != 1
                else "on"
            )
            print(
                f"cdn serve: scenario {scenario.name}, distance emulation {mode}\n"
                f"{stack.table()}\n\n{stack.try_commands()}\n\n{stack.schedule()}\n\n"
                "Ctrl-C stops everything.",
                flush=True,
            )
            await stop.wait()
        finally:
            await stack.stop()
        print("cdn serve: stopped", flush=True)

    asyncio.run(main())
    return 0
