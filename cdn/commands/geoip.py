"""``cdn geoip``: build the scenario's GeoIP2-City database, or look addresses up."""

from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "geoip",
        help="build or query the GeoIP database of a scenario's address plan",
        description=(
            "build: write a GeoIP2-City MaxMind DB giving each client and resolver place of "
            "SCENARIO its loopback blocks (IPv4 /24 in 127.64.0.0/10.., IPv6 /48 in "
            "fd00:cd::/32); readable by geoip2 like any City database. "
            "lookup: locate addresses in a City database (ours or MaxMind's)."
        ),
    )
    sub = p.add_subparsers(dest="geoip_command", metavar="ACTION")
    b = sub.add_parser("build", help="write SCENARIO's GeoIP2-City database")
    b.add_argument("scenario", metavar="SCENARIO", help="scenario file or bundled name")
    b.add_argument("-o", "--output", required=True, metavar="FILE", help="the .mmdb to write")
    b.set_defaults(func=_build)
    lk = sub.add_parser("lookup", help="locate addresses in a City database")
    lk.add_argument("db", metavar="MMDB", help="GeoIP2/GeoLite2 City database")
    lk.add_argument("addresses", nargs="+", metavar="ADDR")
    lk.set_defaults(func=_lookup)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def _build(args) -> int:
    from cdn.addressing import client_blocks
    from cdn.geoip import build_mmdb
    from cdn.scenario import load_scenario

    scenario = load_scenario(args.scenario)
    path = build_mmdb(scenario, args.output)
    blocks = client_blocks(scenario)
    print(f"wrote {path}: {len(blocks)} places, {2 * len(blocks)} networks")
    for place, (v4, v6) in blocks.items():
        print(f"  {str(v4):<18} {str(v6):<20} {place.name}")
    return 0


def _lookup(args) -> int:
    import ipaddress

    from cdn.errors import UserError
    from cdn.geoip import Locator

    loc = Locator(args.db)
    for a in args.addresses:
        try:
            ipaddress.ip_address(a)
        except ValueError:
            raise UserError(f"{a!r} is not an IPv4 or IPv6 address") from None
        r = loc.lookup(a)
        where = (
            f"{r.place.name} ({r.place.lat:.4f}, {r.place.lon:.4f}) {r.place.country}"
            if r.place
            else "not located"
        )
        print(f"{a}\t/{r.prefix_len}\t{where}")
    return 0
