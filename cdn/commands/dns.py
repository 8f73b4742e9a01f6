"""``cdn dns``: the geo-aware authoritative DNS server for a scenario's zone."""

from __future__ import annotations

from cdn.cli import DefaultsHelpFormatter


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "dns",
        help="run the geo-aware authoritative DNS server for a scenario's zone",
        description=(
            "Answer for the scenario's zone (dns.zone) on UDP and TCP: the CDN host names "
            "get A records of the edges the routing policy picks for the client, located "
            "by its EDNS Client Subnet or its source address. The addresses are the plan's "
            "127.0.1.N, where `cdn edge --listen 127.0.1.N:PORT` runs without root; AAAA is "
            "NODATA unless --aaaa. Without --geoip-db the "
            "scenario's own database is built in a temporary directory. Clients that cannot "
            "be located get dns.fallback, else the edge nearest the origin. Try: "
            "dig @127.0.0.1 -p 5353 www.cdn.test +subnet=127.64.10.0/24"
        ),
        formatter_class=DefaultsHelpFormatter,
    )
    p.add_argument("scenario", metavar="SCENARIO", help="scenario file or bundled name")
    p.add_argument(
        "--listen",
        default="127.0.0.1:5353",
        metavar="ADDR:PORT",
        help="where to answer, UDP and TCP",
    )
    p.add_argument(
        "--geoip-db", default=None, metavar="FILE", help="any GeoIP2/GeoLite2 City database"
    )
    p.add_argument(
        "--metrics", default=None, metavar="ADDR:PORT", help="serve Prometheus /metrics here"
    )
    p.add_argument("--query-log", action="store_true", help="log every query (slow)")
    p.add_argument("--no-health", action="store_true", help="no active health checks")
    p.add_argument(
        "--health-port", type=int, default=8080, help="port of the edges' health endpoint"
    )
    p.add_argument(
        "--health-interval",
        type=float,
        default=None,
        metavar="SECONDS",
        help="seconds between checks (default: the scenario's dns.health_interval)",
    )
    p.add_argument(
        "--aaaa",
        action="store_true",
        help="answer AAAA with the edges' IPv6 plan addresses fd00:cd::1:N (default: NODATA); "
        "only once those addresses are configured (as root: ip -6 addr add fd00:cd::1:1/128 "
        "dev lo) and the edges listen on them",
    )
    p.add_argument("--no-cache", action="store_true", help="disable the answer cache")
    p.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    p.set_defaults(func=run)


def run(args) -> int:
    import asyncio
    import logging
    import tempfile
    from pathlib import Path

    from cdn.addressing import parse_hostport
    from cdn.dns_metrics import start_metrics
    from cdn.dns_server import DnsServer
    from cdn.errors import UserError
    from cdn.geoip import Locator, build_mmdb
    from cdn.scenario import load_scenario

    logging.basicConfig(
        level=logging.INFO if (args.verbose or args.query_log) else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    host, port = parse_hostport(args.listen, "--listen")
    mhost_port = parse_hostport(args.metrics, "--metrics") if args.metrics else None
    if args.health_interval is not None and args.health_interval <= 0:
        raise UserError("--health-interval must be a positive number of seconds")
    scenario = load_scenario(args.scenario)
    places = [c.place for c in scenario.clients] + [p for r in scenario.resolvers for p in r.places]
    with tempfile.TemporaryDirectory(prefix="cdn-dns-") as tmp:
        db = args.geoip_db
        if db is None:
            db = build_mmdb(scenario, Path(tmp) / "clients.mmdb")
        elif not Path(db).is_file():
            raise UserError(f"--geoip-db {db}: no such file")
        locator = Locator(db, places)
        server = DnsServer(
            scenario,
            locator,
            check_health=not args.no_health,
            health_port=args.health_port,
            health_interval=args.health_interval,
            query_log=args.query_log,
            cache=not args.no_cache,
            ipv6=args.aaaa,  # the plan's IPv6 addresses are on no interface by default
        )

        async def main() -> None:
            from cdn.signals import stop_event

            stop = stop_event()  # before the banner: it invites Ctrl-C
            try:
                await server.start(host, port)
            except OSError as exc:
                raise UserError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
            runner = None
            if mhost_port:
                try:
                    runner = await start_metrics(server, *mhost_port)
                except OSError as exc:
                    await server.stop()
                    raise UserError(f"cannot serve metrics on {args.metrics}: {exc}") from None
            print(
                f"cdn dns: {scenario.dns.zone} on {host}:{server.port} (UDP+TCP), "
                f"policy {server.router.policy.name}, "
                f"{len(server.router.names)} edges"
                + (f", metrics http://{args.metrics}/metrics" if runner else ""),
                flush=True,
            )
            try:
                await stop.wait()
            finally:
                if runner is not None:
                    await runner.cleanup()
                await server.stop()

        try:
            import uvloop

            uvloop.run(main())
        except ImportError:
            asyncio.run(main())
        locator.close()
    return 0
