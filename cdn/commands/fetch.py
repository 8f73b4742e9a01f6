"""``cdn fetch``: one request as a client at a place would make it, against ``cdn serve``."""

from __future__ import annotations

from cdn.cli import DefaultsHelpFormatter


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "fetch",
        help="fetch a URL from the live CDN as a client at PLACE (DNS with ECS, then HTTP)",
        description=(
            "Resolve the URL's host through our DNS server with the place's address block as "
            "EDNS Client Subnet, connect from a source address in that block (on a new "
            "connection), fetch, and print the edge, the Cache-Status, the bytes, the "
            "measured time and the model's predicted time for the same fetch. Needs a "
            "running 'cdn serve' of the same scenario."
        ),
        formatter_class=DefaultsHelpFormatter,
    )
    p.add_argument("url", metavar="URL", help="e.g. http://www.cdn.test:8080/index.html")
    p.add_argument(
        "--from", dest="place", required=True, metavar="PLACE",
        help="a client or resolver place of the scenario (e.g. Tokyo)",
    )  # fmt: skip
    p.add_argument("--dns", default="127.0.0.1:5353", metavar="ADDR:PORT", help="our DNS server")
    p.add_argument("--scenario", default="quickstart", help="the scenario 'cdn serve' runs")
    p.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS")
    p.set_defaults(func=run)


def run(args) -> int:
    import asyncio

    from cdn.addressing import parse_hostport
    from cdn.live_load import fetch, find_place
    from cdn.scenario import load_scenario

    server = parse_hostport(args.dns, "--dns")
    scenario = load_scenario(args.scenario)
    place = find_place(scenario, args.place)
    res = asyncio.run(fetch(scenario, place, args.url, server, args.timeout))
    print(f"from       {place.name} (source {res.source})")
    print(f"edge       {res.edge} at {res.address}")
    print(f"status     {res.status}")
    print(f"cache      {res.cache_status or '-'}")
    print(f"bytes      {res.nbytes}")
    print(
        f"measured   {res.measured_ms:.1f} ms  (DNS {res.dns_ms:.1f} ms on loopback, HTTP {res.http_ms:.1f} ms)"
    )
    if res.emulated:
        print(f"emulated   {res.emulated} (the edge's client-side delay)")
    pr = res.prediction
    if pr is not None:
        parts = f"client {pr.client_ms:.1f}"
        if pr.upstream_ms or pr.service_ms:
            parts += f" + upstream {pr.upstream_ms:.1f} + origin service {pr.service_ms:.1f}"
        print(f"predicted  {pr.total_ms:.1f} ms  ({parts}; new connection, no DNS)")
    return 0 if 200 <= res.status < 400 else 1
