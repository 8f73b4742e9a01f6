"""``cdn serve``: the scenario's whole CDN live on loopback, in one asyncio process.

Theory of operation
-------------------
:class:`LiveStack` starts, in this order, and stops in the reverse order:

1. the scenario's GeoIP City database (:func:`cdn.geoip.build_mmdb`) in a
   temporary directory, and a :class:`cdn.geoip.Locator` on it;
2. the origin (:mod:`origin.server`): real files from ``assets`` (default: the
   bundled demo site) plus the catalog's ``/obj/<id>``, on ``ORIGIN_HOST``;
3. the shields (tier "shield") on ``SHIELD_NET.N`` and then the edges (tier
   "edge") on their :mod:`cdn.addressing` addresses ``127.0.1.N``, all on the
   common HTTP port; a tiered edge's upstream is its parent shield;
4. the DNS server (:class:`cdn.dns_server.DnsServer`) on UDP and TCP, with
   health checks against the edges' ``/.well-known/cdn/health``. The edges
   listen on IPv4 only (IPv6 loopback is the single address ``::1``, and the
   plan's ``fd00:cd::1:N`` are on no interface), so the DNS server runs with
   ``ipv6=False``: AAAA for the host names is NODATA, and a client that
   prefers IPv6 falls back to A at once instead of trying a dead address.

Distance emulation (:mod:`cdn.emulation`) is hooked into the apps that
``create_origin_app`` / ``create_edge_app`` return, before their runners are
set up, so the servers themselves know nothing about it. Every address is on
loopback (Linux answers on all of 127.0.0.0/8), so no root is needed. A port
that is taken fails the start with a :class:`cdn.errors.UserError` naming the
address, after everything already started has been stopped again.

Events
------
The scenario's ``[[events]]`` are played on the wall clock, ``at`` real
seconds after the stack is up (``ServeOptions.events``; ``cdn serve
--no-events`` turns it off), by one asyncio task that :meth:`LiveStack.stop`
cancels first. ``--emulation-scale`` does not compress them: it scales
network distances, while the DNS TTL and the health checks, which decide how
long clients keep hitting a dead edge, run in real seconds too.
:func:`cdn.events.event_steps` (pure, the simulator schedules the same steps)
turns the events into steps in time (each event, then the end of its ``duration``; equal times in scenario
order), and the task applies each one and reports a line:

- ``edge_down`` / ``edge_up``: the edge (or shield) closes its listening
  socket and resets its open connections, so connects are refused as from a
  dead host, or listens again. The DNS server is not told: its health checks
  notice on their own, late, as in production. The edge's app and memory
  cache stay: the simulator keeps a down edge's store too (it models an
  unreachable PoP, not a process restart), so both agree on what an edge
  serves when it comes back.
- ``origin_down`` / ``origin_up``: the same for the origin; edges then answer
  from stale-if-error copies or with 502, as with any unreachable origin.
- ``origin_slow``: the origin's service time becomes the fixed
  ``service_time`` (:class:`origin.server.ServiceTime` ``set``, the sampler
  the origin already awaits), and the scenario's again after ``duration``.
- ``purge``: :meth:`edge.server.Edge.purge` on every edge and shield, down
  or not (the simulator purges every node).
- ``flash_crowd``: a workload event; ``cdn serve`` has no workload, so the
  line says so (``cdn simulate`` plays it; ``cdn load`` plays no events).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cdn.addressing import answered_edges, client_blocks, edge_addresses
from cdn.errors import UserError
from cdn.events import Step, event_steps
from cdn.health import HEALTH_PATH
from cdn.scenario import Distribution, Scenario

log = logging.getLogger("cdn.serve")

ORIGIN_HOST = "127.0.2.1"  # outside the edge (127.0.1.N) and client (127.64+) ranges
SHIELD_NET = "127.0.3"  # shields: 127.0.3.1, 127.0.3.2, ...


@dataclass(frozen=True)
class ServeOptions:
    """What ``cdn serve`` was asked for."""

    assets: Path | None = None  # directory served by the origin (None: scenario's or demo site)
    http_port: int = 8080
    dns_host: str = "127.0.0.1"
    dns_port: int = 5353
    emulate: bool = True
    emulation_scale: float = 1.0  # multiplies every emulated delay
    health_interval: float | None = None  # seconds (None: the scenario's dns.health_interval)
    origin_host: str = ORIGIN_HOST
    events: bool = True  # play the scenario's [[events]] on the wall clock


@dataclass
class Running:
    """One server that runs: for the table and for tests."""

    name: str
    role: str  # origin | edge | shield | dns
    place: str
    url: str
    upstream: str = ""


@dataclass
class _Listener:
    """A server's runner and address: ``site`` is None while it is down."""

    runner: object
    host: str
    port: int
    site: object = None


@dataclass
class LiveStack:
    """The running origin, shields, edges and DNS server of one scenario."""

    scenario: Scenario
    options: ServeOptions = field(default_factory=ServeOptions)
    running: list[Running] = field(default_factory=list)
    origin_app: object = None
    edge_apps: dict = field(default_factory=dict)  # name -> aiohttp Application
    edge_urls: dict = field(default_factory=dict)  # name -> base URL (edges and shields)
    dns: object = None
    locator: object = None
    model: object = None
    on_event: Callable[[str], None] | None = None  # one line per event step (None: log)
    fired: list = field(default_factory=list)  # (Step, seconds after start, what happened)
    _runners: list = field(default_factory=list)
    _listeners: dict = field(default_factory=dict)  # edge name (or None: origin) -> _Listener
    _player: asyncio.Task | None = None
    _tmp: str | None = None

    @property
    def origin_url(self) -> str:
        return f"http://{self.options.origin_host}:{self.options.http_port}"

    async def start(self) -> LiveStack:
        try:
            await self._start()
            steps = self.steps()
            if steps:
                loop = asyncio.get_running_loop()
                self._player = loop.create_task(self._play(steps, loop.time()))
        except BaseException:
            await self.stop()
            raise
        return self

    def steps(self) -> list[Step]:
        """The event steps this stack plays (none with ``events=False``)."""
        return event_steps(self.scenario.events) if self.options.events else []

    async def _start(self) -> None:
        from cdn.dns_server import DnsServer
        from cdn.emulation import DelayModel, install_edge_emulation, install_origin_emulation
        from cdn.geoip import Locator, build_mmdb
        from edge.server import EdgeConfig, create_edge_app
        from origin.server import create_origin_app, origin_config

        sc, opt = self.scenario, self.options
        port = opt.http_port
        self._tmp = tempfile.mkdtemp(prefix="cdn-serve-")
        db = build_mmdb(sc, Path(self._tmp) / "clients.mmdb")
        self.locator = Locator(db, list(client_blocks(sc)))
        if opt.emulate:
            self.model = DelayModel(sc)
            self.model.prewarm(client_blocks(sc))

        try:
            cfg = origin_config(sc, root=opt.assets)
            origin = create_origin_app(cfg)
        except ValueError as exc:
            raise UserError(f"origin: {exc}") from None
        if self.model is not None:
            install_origin_emulation(origin, self.model, opt.emulation_scale)
        self.origin_app = origin
        await self._serve(origin, opt.origin_host, port, "origin", key=None)
        root = cfg.root or Path(__file__).resolve().parent.parent / "origin" / "demo_site"
        self.running.append(
            Running("origin", "origin", sc.origin.place.name, self.origin_url, str(root))
        )

        addresses = edge_addresses(sc)
        shields = [e for e in sc.edges if e.tier != "edge"]
        hosts = {e.name: f"{SHIELD_NET}.{i + 1}" for i, e in enumerate(shields)}
        hosts.update({n: str(a[0]) for n, a in addresses.items()})
        self.edge_urls = {n: f"http://{h}:{port}" for n, h in hosts.items()}
        # parents first, so a child's upstream is listening before it is
        for e in _parents_first(sc):
            up = self.edge_urls[e.parent] if e.parent else self.origin_url
            config = EdgeConfig.for_edge(e, up, hosts[e.name], port)
            app = create_edge_app(config)
            if self.model is not None:
                install_edge_emulation(app, self.model, e.name, self.locator, opt.emulation_scale)
            await self._serve(app, hosts[e.name], port, f"{e.tier} {e.name}", config, key=e.name)
            self.edge_apps[e.name] = app
            self.running.append(
                Running(e.name, e.tier, e.place.name, self.edge_urls[e.name], e.parent or "origin")
            )

        self.dns = DnsServer(
            sc,
            self.locator,
            health_port=port,
            health_interval=opt.health_interval,
            ipv6=False,  # the edges listen on 127.0.1.N only: AAAA is NODATA
        )
        try:
            await self.dns.start(opt.dns_host, opt.dns_port)
        except OSError as exc:
            self.dns = None
            raise _busy("DNS server", opt.dns_host, opt.dns_port, exc, "--dns-listen") from None
        self.running.append(
            Running(
                "dns",
                "dns",
                "",
                f"{opt.dns_host}:{self.dns.port} UDP+TCP",
                f"{sc.dns.zone}: {', '.join(sc.dns.hosts)}",
            )
        )

    async def _serve(
        self, app, host: str, port: int, what: str, edge_config=None, *, key: str | None
    ) -> None:
        from aiohttp import web

        kwargs = {}
        if edge_config is not None:
            from edge.server import _handler_args

            kwargs = _handler_args(edge_config)
        runner = web.AppRunner(app, access_log=None, **kwargs)
        await runner.setup()
        self._runners.append(runner)
        listener = _Listener(runner, host, port)
        try:
            await self._listen(listener)
        except OSError as exc:
            raise _busy(what, host, port, exc, "--http-port") from None
        self._listeners[key] = listener

    @staticmethod
    async def _listen(listener: _Listener) -> None:
        from aiohttp import web

        site = web.TCPSite(listener.runner, listener.host, listener.port, backlog=1024)
        try:
            await site.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await site.stop()  # unregister it from the runner
            raise
        listener.site = site

    # -- events -------------------------------------------------------------------
    async def _play(self, steps: list[Step], t0: float) -> None:
        loop = asyncio.get_running_loop()
        for step in steps:
            wait = t0 + step.at - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                what = await self._apply(step)
            except Exception as exc:  # one failed step must not end the playback
                log.exception("event %s failed", step.describe())
                what = f"failed: {exc!r}"
            now = loop.time() - t0
            self.fired.append((step, now, what))
            line = f"[{now:8.1f} s] {step.describe()}: {what}"
            if self.on_event is not None:
                self.on_event(line)
            else:
                log.warning("%s", line)

    async def _apply(self, step: Step) -> str:
        ev, a = step.event, step.action
        if a in ("edge_down", "origin_down"):
            return await self._down(self._listeners[ev.edge if a == "edge_down" else None])
        if a in ("edge_up", "origin_up"):
            return await self._up(self._listeners[ev.edge if a == "edge_up" else None])
        if a in ("origin_slow", "origin_slow_end"):
            from origin.server import CONFIG, SERVICE_TIME

            if a == "origin_slow":
                self.origin_app[SERVICE_TIME].set(Distribution("fixed", ev.service_time))
                return f"the origin waits {ev.service_time:g} s before each answer"
            base = self.origin_app[CONFIG].service_time
            self.origin_app[SERVICE_TIME].set(base)
            what = "none" if base is None else f"{base.kind}, {base.value:g} s"
            return f"the origin's service time is the scenario's again ({what})"
        if a == "purge":
            from edge.server import EDGE_KEY

            tags = (ev.surrogate_key,) if ev.surrogate_key else ()
            n = sum(
                app[EDGE_KEY].purge(target=ev.url, prefix=ev.prefix, tags=tags)
                for app in self.edge_apps.values()
            )
            return f"{n} stored responses removed from {len(self.edge_apps)} caches"
        if a == "flash_crowd":
            return (
                "a workload event: cdn serve has no workload (cdn simulate plays it; "
                "cdn load plays no events)"
            )
        raise ValueError(f"unknown event step {a!r}")  # pragma: no cover (scenario validates)

    async def _down(self, listener: _Listener) -> str:
        """Stop listening and reset every open connection: a dead host."""
        where = f"{listener.host}:{listener.port}"
        if listener.site is None:
            return f"already down ({where})"
        site, listener.site = listener.site, None
        await site.stop()
        server = listener.runner.server
        conns = [h.transport for h in (server.connections if server else ()) if h.transport]
        for transport in conns:
            transport.abort()  # a crashed host's peer sees a reset, not a polite close
        return f"{where} refuses connections ({len(conns)} open ones reset)"

    async def _up(self, listener: _Listener) -> str:
        where = f"{listener.host}:{listener.port}"
        if listener.site is not None:
            return f"already up ({where})"
        try:
            await self._listen(listener)
        except OSError as exc:
            return f"cannot listen on {where} again: {exc.strerror or exc}"
        return f"listening on {where} again"

    def schedule(self) -> str:
        """The event schedule for the start banner."""
        if not self.scenario.events:
            return "Events: none in this scenario."
        if not self.options.events:
            return f"Events: {len(self.scenario.events)} in the scenario, not played (--no-events)."
        lines = ["Events (seconds after start, wall clock; --no-events turns them off):"]
        lines += [f"  {s.at:8.1f} s  {s.describe()}" for s in self.steps()]
        return "\n".join(lines)

    async def stop(self) -> None:
        """Stop everything that started (safe to call twice)."""
        if self._player is not None:
            self._player.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._player
            self._player = None
        if self.dns is not None:
            with contextlib.suppress(Exception):
                await self.dns.stop()
            self.dns = None
        while self._runners:
            runner = self._runners.pop()  # edges before shields before the origin
            with contextlib.suppress(Exception):
                await runner.cleanup()
        self._listeners.clear()
        if self.locator is not None:
            self.locator.close()
            self.locator = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    async def __aenter__(self) -> LiveStack:
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    # -- what to show -------------------------------------------------------------
    def table(self) -> str:
        rows = [("name", "role", "place", "listens on", "upstream / serves")]
        rows += [(r.name, r.role, r.place, r.url, r.upstream) for r in self.running]
        widths = [max(len(str(r[i])) for r in rows) for i in range(4)]
        return "\n".join(
            "  ".join(str(c).ljust(w) for c, w in zip(r[:4], widths, strict=True)) + "  " + r[4]
            for r in rows
        )

    def try_commands(self) -> str:
        sc, opt = self.scenario, self.options
        host = f"{sc.dns.hosts[0]}.{sc.dns.zone}"
        blocks = client_blocks(sc)
        places = list(blocks)
        lines = ["Try:"]
        for p in places[:2]:
            lines.append(
                f"  dig @{opt.dns_host} -p {self.dns.port} {host} +subnet={blocks[p][0]}"
                f"      # {p.name}"
            )
        first = answered_edges(sc)[0]
        lines.append(f"  curl -si -H 'Host: {host}' {self.edge_urls[first]}/index.html | head -20")
        port = "" if opt.http_port == 80 else f":{opt.http_port}"
        dns = (
            ""
            if (opt.dns_host, self.dns.port) == ("127.0.0.1", 5353)
            else f" --dns {opt.dns_host}:{self.dns.port}"
        )
        where = sc.name if sc.path.startswith("<bundled>") else sc.path
        scen = "" if sc.name == "quickstart" else f" --scenario {where}"
        for p in places[:2]:
            lines.append(f"  cdn fetch --from '{p.name}' http://{host}{port}/obj/1{dns}{scen}")
        lines.append(f"  curl -s {self.edge_urls[first]}/.well-known/cdn/metrics | grep origin")
        return "\n".join(lines)


def _parents_first(sc: Scenario):
    done: set[str] = set()
    order = []
    edges = {e.name: e for e in sc.edges}

    def visit(e, path=()):
        if e.name in done or e.name in path:
            return
        if e.parent and e.parent in edges:
            visit(edges[e.parent], (*path, e.name))
        done.add(e.name)
        order.append(e)

    for e in sc.edges:
        visit(e)
    return order


def _busy(what: str, host: str, port: int, exc: OSError, flag: str) -> UserError:
    why = os.strerror(exc.errno) if exc.errno else str(exc)
    hint = f"; choose another port with {flag}" if exc.errno == 98 else ""
    return UserError(f"{what}: cannot listen on {host}:{port}: {why}{hint}")


def check_loopback_port(host: str, port: int) -> None:
    """Raise UserError if ``host`` is not a usable loopback address."""
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        raise UserError(f"{host!r} is not an IP address; write one like 127.0.0.1") from None
    with socket.socket(socket.AF_INET6 if addr.version == 6 else socket.AF_INET) as s:
        try:
            s.bind((host, 0))
        except OSError as exc:
            raise UserError(f"cannot use address {host}: {exc.strerror}") from None
    if not 0 <= port <= 65535:
        raise UserError(f"port {port} is outside 0..65535")


__all__ = [
    "LiveStack", "Running", "ServeOptions", "Step", "event_steps", "ORIGIN_HOST", "HEALTH_PATH",
]  # fmt: skip
