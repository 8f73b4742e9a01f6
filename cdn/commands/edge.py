"""``cdn edge``: run one edge cache (an HTTP caching reverse proxy) in front of an origin."""

from __future__ import annotations

from cdn.errors import UserError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "edge",
        help="run an edge cache (caching reverse proxy) in front of an origin",
        description=(
            "Run an RFC 9111 shared cache in front of ORIGIN. Every response carries Age, "
            "Via and Cache-Status (RFC 9211). Admin endpoints: /.well-known/cdn/metrics "
            "(Prometheus text) and /.well-known/cdn/health (PUT ...health?state=down|up takes "
            "the edge out of DNS rotation and back). PURGE /path removes a URL (all "
            "its variants), PURGE /prefix* every URL under a prefix, and PURGE with a "
            "'Surrogate-Key: k1 k2' header the objects tagged with those keys."
        ),
    )
    a = p.add_argument
    a("--origin", required=True, metavar="URL", help="origin base URL, http://HOST:PORT")
    a("--listen", default="127.0.0.1:8081", metavar="ADDR:PORT", help="default 127.0.0.1:8081")
    a("--capacity", default="1GiB", metavar="SIZE", help="cache capacity (default 1GiB)")
    a("--policy", default="lru", help="eviction policy: lru (default), fifo, s3fifo, sieve")
    a(
        "--max-object-size",
        metavar="SIZE",
        help="larger responses stream through uncached (default: min(capacity, 64MiB))",
    )
    a(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="processes sharing the address (SO_REUSEPORT), each with its own cache",
    )
    a(
        "--purge-allow",
        action="append",
        metavar="CIDR",
        help="network allowed to PURGE (repeatable; default 127.0.0.0/8 and ::1/128)",
    )
    a(
        "--purge-token",
        metavar="T",
        help="token that allows PURGE from anywhere (X-Purge-Token: T or Authorization: Bearer T)",
    )
    a("--name", default="edge", help="cache name in Via and Cache-Status (default edge)")
    a(
        "--surrogate-token",
        metavar="TOKEN",
        help="this edge's device token in Surrogate-Control and Surrogate-Capability "
        "(default: --name)",
    )
    a(
        "--host-header",
        default="keep",
        metavar="keep|origin|VALUE",
        help="Host sent to the origin: the client's (default), the origin URL's, or VALUE",
    )
    a("--connect-timeout", default="5s", metavar="T", help="origin connect timeout (default 5s)")
    a("--read-timeout", default="30s", metavar="T", help="origin read timeout (default 30s)")
    p.set_defaults(func=run)


def config_from_args(args):
    from cdn.addressing import parse_hostport
    from cdn.units import UnitError, parse_duration, parse_size
    from edge.server import EdgeConfig, validate_config

    host, port = parse_hostport(args.listen)
    try:
        capacity = parse_size(args.capacity)
        max_obj = None if args.max_object_size is None else parse_size(args.max_object_size)
        connect_timeout = parse_duration(args.connect_timeout)
        read_timeout = parse_duration(args.read_timeout)
    except UnitError as exc:
        raise UserError(str(exc)) from None
    if args.workers < 1:
        raise UserError(f"--workers must be at least 1, got {args.workers}")
    config = EdgeConfig(
        origin=args.origin,
        host=host,
        port=port,
        capacity=capacity,
        policy=args.policy,
        max_object_size=max_obj,
        name=args.name,
        surrogate_token=args.surrogate_token,
        purge_allow=tuple(args.purge_allow) if args.purge_allow else EdgeConfig.purge_allow,
        purge_token=args.purge_token,
        host_header=args.host_header,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
    )
    try:
        return validate_config(config)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def run(args) -> int:
    from edge.server import run_edges

    config = config_from_args(args)
    try:
        return run_edges(config, args.workers)
    except OSError as exc:
        raise UserError(exc.strerror or str(exc)) from None
