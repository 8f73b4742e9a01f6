"""``cdn origin``: serve a directory (and the synthetic catalog) as the CDN's origin."""

from __future__ import annotations

import argparse
from pathlib import Path

from cdn.errors import UserError

DESCRIPTION = """\
Serve real files under --root (default: the bundled demo site) with strong
ETags, Last-Modified, 304s, single byte ranges and per-path Cache-Control.
Cache-Control: the first --cache-control rule whose glob matches the URL path
wins ('*' also matches '/'; a directory is matched as its index.html); with
no rule at all the defaults are '*.html=max-age=60, stale-while-revalidate=30'
and '/assets/*=max-age=31536000, immutable'; nothing matching gets
--default-cache-control (max-age=300). Every matching --surrogate-key rule adds
its keys. With --scenario, /obj/<id> serves the scenario's synthetic catalog
(deterministic bytes of each object's size; Content-Type and Cache-Control of
its content type; Surrogate-Key: the type's name). The scenario's origin rules
come after the command line's (so those win); its root, service time and seed
apply unless given here.
Health check: /.well-known/cdn/health.
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "origin",
        help="run the origin server (static files + synthetic catalog)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--root", type=Path, help="directory to serve (default: bundled demo site)")
    p.add_argument(
        "--listen", default="127.0.0.1:8080", metavar="HOST:PORT", help="default %(default)s"
    )
    p.add_argument(
        "--cache-control",
        action="append",
        default=[],
        metavar="PATTERN=VALUE",
        help="Cache-Control for paths matching a glob, e.g. '*.html=max-age=60' (repeatable)",
    )
    p.add_argument(
        "--surrogate-key",
        action="append",
        default=[],
        metavar="PATTERN=KEYS",
        help="Surrogate-Key for paths matching a glob, e.g. '/assets/*=assets static'",
    )
    p.add_argument(
        "--default-cache-control",
        default=None,
        metavar="VALUE",
        help="Cache-Control when no rule matches (default max-age=300)",
    )
    p.add_argument(
        "--service-time",
        metavar="SPEC",
        help="artificial delay before each answer: 5ms, lognormal:5ms:0.5, exponential:5ms, "
        "pareto:1ms:1.5 (default: the scenario's, else none)",
    )
    p.add_argument("--scenario", help="scenario name or file: catalog, rules, service time")
    p.add_argument(
        "--seed", type=int, help="seed of the service-time sampler (default: scenario's)"
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log every request")
    p.set_defaults(func=run)


def build_config(args: argparse.Namespace):
    """An :class:`origin.server.OriginConfig` from the command line (and scenario)."""
    from cdn.distributions import parse_distribution
    from cdn.units import parse_duration
    from origin.rules import DEFAULT_CACHE_CONTROL, parse_rule
    from origin.server import origin_config

    try:
        cc = [parse_rule(r, "--cache-control") for r in args.cache_control]
        sk = [parse_rule(r, "--surrogate-key") for r in args.surrogate_key]
        service = (
            parse_distribution(args.service_time, parse_duration) if args.service_time else None
        )
    except ValueError as exc:
        raise UserError(str(exc)) from None
    scenario = None
    if args.scenario:
        try:
            from cdn.scenario import load_scenario  # type: ignore[attr-defined]
        except ImportError:
            raise UserError("--scenario: the scenario loader is not available yet") from None
        scenario = load_scenario(args.scenario)
    if args.root is not None and not Path(args.root).is_dir():
        raise UserError(f"--root {str(args.root)!r} is not a directory")
    try:
        config = origin_config(
            scenario,
            root=args.root,
            cache_control=cc,
            surrogate_keys=sk,
            default_cache_control=args.default_cache_control or DEFAULT_CACHE_CONTROL,
            service_time=service,
            seed=args.seed,
        )
    except ValueError as exc:
        raise UserError(f"{scenario.path if scenario else 'origin'}: {exc}") from None
    if config.root is not None and not config.root.is_dir():
        raise UserError(f"origin root {str(config.root)!r} is not a directory")
    return config


def run(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from origin.server import DEMO_SITE, start_origin

    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    from cdn.addressing import parse_hostport

    host, port = parse_hostport(args.listen)
    config = build_config(args)

    async def serve() -> None:
        from cdn.signals import stop_event

        stop = stop_event()  # before the banner: it invites Ctrl-C
        try:
            runner = await start_origin(config, host, port)
        except OSError as exc:
            raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        root = config.root or DEMO_SITE
        objs = f", catalog of {config.catalog.n} objects at /obj/<id>" if config.catalog else ""
        print(f"origin: serving {root}{objs} on http://{host}:{port}/", flush=True)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:
        factory = None
    with asyncio.Runner(loop_factory=factory) as r:
        r.run(serve())
    return 0
