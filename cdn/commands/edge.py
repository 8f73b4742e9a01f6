"""``cdn edge``: run one edge cache (an HTTP caching reverse proxy) in front of an origin."""

from __future__ import annotations

import argparse

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
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--origin", required=True, metavar="URL", help="origin base URL, http://HOST:PORT"
    )
    p.add_argument(
        "--listen", default="127.0.0.1:8081", metavar="ADDR:PORT", help="address to serve on"
    )
    p.add_argument(
        "--capacity", default="1GiB", help="cache capacity (bytes, or 512MiB, 2GiB, ...)"
    )
    p.add_argument("--policy", default="lru", help="eviction policy: lru, fifo, s3fifo, sieve")
    p.add_argument(
        "--max-object-size",
        default=None,
        metavar="SIZE",
        help="larger responses stream through uncached (default: min(capacity, 64MiB))",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes sharing the address with SO_REUSEPORT; each has its own cache",
    )
    p.add_argument(
        "--purge-allow",
        action="append",
        metavar="CIDR",
        help="network allowed to PURGE (repeatable; default 127.0.0.0/8 and ::1/128)",
    )
    p.add_argument(
        "--purge-token",
        default=None,
        metavar="T",
        help="token that allows PURGE from anywhere (X-Purge-Token: T or Authorization: Bearer T)",
    )
    p.add_argument("--name", default="edge", help="cache name in Via and Cache-Status")
    p.add_argument(
        "--host-header",
        default="keep",
        metavar="keep|origin|VALUE",
        help="Host sent to the origin: the client's, the origin URL's, or a fixed value",
    )
    p.add_argument("--connect-timeout", default="5s", help="origin connect timeout")
    p.add_argument("--read-timeout", default="30s", help="origin read timeout (between bytes)")
    p.set_defaults(func=run)


def _host_port(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(
            f"--listen {listen!r}: expected ADDR:PORT, e.g. 127.0.0.1:8081 or [::1]:8081"
        )
    return (host.strip("[]") or "0.0.0.0"), int(port)


def config_from_args(args):
    from cdn.units import UnitError, parse_duration, parse_size
    from edge.server import EdgeConfig, validate_config

    host, port = _host_port(args.listen)
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
