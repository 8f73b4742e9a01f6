"""The origin server: real files under a root, plus synthetic catalog objects.

Theory of operation: every GET or HEAD names one *representation* (a file
under the root, or ``/obj/<id>`` of the catalog) with a length, a strong ETag,
a Last-Modified date, a Content-Type and the Cache-Control its path rule (or
content type) gives. The answer is then decided by pure functions, in the
order RFC 9110 section 13.2.2 prescribes:

1. preconditions (:func:`evaluate_preconditions`): If-Match /
   If-Unmodified-Since can give 412; If-None-Match (weak comparison, ``*``
   too) or, only when it is absent, If-Modified-Since give 304 with the
   validators and Cache-Control;
2. range (:func:`select_range`, GET only): one byte range (``a-b``, ``a-``,
   ``-n``) gives 206 with Content-Range, or 416 with ``bytes */len``; several
   ranges, a syntactically invalid header or a failing If-Range give the full
   200 (RFC 9110 14.2 lets a server ignore Range).

Bodies up to 64 KiB go out in one write; larger ones stream in ``chunk_size``
pieces (``os.pread`` in a worker thread for files,
:meth:`Catalog.body_chunk` for objects), never read whole. Path safety is
:mod:`origin.files`; header rules are :mod:`origin.rules`. An optional service
time (seeded sampler, :class:`ServiceTime`, swappable at run time) is awaited
before each answer to play a slow application server. ``/.well-known/cdn/health`` answers ``ok`` for health
checks and is never delayed.

Reuse: ``origin_config(scenario, ...)`` builds the configuration (what
``cdn origin`` does), ``create_origin_app(config)`` gives the aiohttp app;
``await start_origin(config, host, port)`` starts it and returns the runner
(``await runner.cleanup()`` stops it).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import mimetypes
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from cdn.catalog import MEDIA_TYPES, Catalog
from cdn.distributions import Sampler
from cdn.scenario import Distribution, Scenario
from origin.files import Found, Refused, file_etag, http_date, parse_http_date, resolve
from origin.rules import DEFAULT_CACHE_CONTROL, PathRules

log = logging.getLogger("origin")

DEMO_SITE = Path(__file__).resolve().parent / "demo_site"
HEALTH_PATH = "/.well-known/cdn/health"
ALLOW = "GET, HEAD"
CHUNK_SIZE = 256 * 1024
SMALL_BODY = 64 * 1024  # bodies up to this size are sent in one write
# Last-Modified of every catalog object: a fixed instant, so that validators
# are the same on every run and every machine (2024-01-01T00:00:00Z).
CATALOG_EPOCH = 1_704_067_200


@dataclass(frozen=True)
class OriginConfig:
    root: Path | None = None  # None: the bundled demo site
    rules: PathRules = field(default_factory=PathRules)
    catalog: Catalog | None = None  # serves /obj/<id> when set
    service_time: Distribution | None = None  # seconds; None: answer at once
    seed: int = 0  # of the service-time sampler
    chunk_size: int = CHUNK_SIZE


@dataclass
class OriginStats:
    """Counters a test or a report can read from ``app[STATS]``."""

    requests: int = 0
    body_bytes: int = 0
    largest_write: int = 0  # bytes in the largest single body write
    refused: int = 0  # traversal attempts and malformed targets
    by_status: dict[int, int] = field(default_factory=dict)


class ServiceTime:
    """The artificial delay before each answer, from a seeded sampler.

    ``set`` swaps the distribution while the server runs (``cdn serve`` plays
    an ``origin_slow`` event that way); ``drawn`` counts the delays handed out.
    """

    def __init__(self, distribution: Distribution | None, seed: int):
        self.seed = seed
        self.drawn = 0
        self.set(distribution)

    def set(self, distribution: Distribution | None) -> None:
        if distribution is not None and distribution.kind == "fixed" and distribution.value == 0:
            distribution = None
        self.distribution = distribution
        self._sampler = Sampler(distribution, self.seed) if distribution is not None else None

    def __call__(self) -> float:
        """Seconds to wait before this answer (0.0 when there is no service time)."""
        if self._sampler is None:
            return 0.0
        self.drawn += 1
        return self._sampler()


CONFIG = web.AppKey("origin_config", OriginConfig)
STATS = web.AppKey("origin_stats", OriginStats)
SERVICE_TIME = web.AppKey("origin_service_time", ServiceTime)


def origin_config(
    scenario: Scenario | None = None,
    *,
    root: Path | None = None,
    cache_control: Iterable[tuple[str, str]] = (),
    surrogate_keys: Iterable[tuple[str, str]] = (),
    default_cache_control: str = DEFAULT_CACHE_CONTROL,
    service_time: Distribution | None = None,
    seed: int | None = None,
) -> OriginConfig:
    """The origin's configuration from explicit settings and an optional scenario.

    Explicit rules come first (the first match wins, so they override the
    scenario's); root, service time and seed come from the scenario only when
    not given. The scenario also gives the catalog for ``/obj/<id>``. A fixed
    service time of 0 means none. Raises ``ValueError`` for a bad workload.
    """
    cc, sk, catalog = list(cache_control), list(surrogate_keys), None
    if scenario is not None:
        catalog = Catalog(scenario.workload, scenario.seed)
        cc += scenario.origin.cache_control
        sk += scenario.origin.surrogate_keys
        root = root or scenario.origin.root
        if service_time is None:
            service_time = scenario.origin.service_time
        seed = scenario.seed if seed is None else seed
    if service_time is not None and service_time.kind == "fixed" and service_time.value == 0:
        service_time = None  # same as none
    return OriginConfig(
        root=Path(root) if root else None,
        rules=PathRules.create(cc, sk, default_cache_control),
        catalog=catalog,
        service_time=service_time,
        seed=seed or 0,
    )


# --- validators and ranges (pure) -------------------------------------------

_ETAG = re.compile(r'\s*(W/)?"([\x21\x23-\x7e\x80-\xff]*)"\s*(?:,|$)')


def parse_etags(value: str) -> list[tuple[bool, str]] | None:
    """Entity tags of an If-Match / If-None-Match value as (weak, opaque-tag).

    ``None`` means ``*``. Malformed members are skipped.
    """
    if value.strip() == "*":
        return None
    tags = []
    pos = 0
    while pos < len(value):
        m = _ETAG.match(value, pos)
        if m:
            tags.append((bool(m.group(1)), m.group(2)))
            pos = m.end()
        else:  # skip to the next comma outside our reach
            nxt = value.find(",", pos)
            if nxt == -1:
                break
            pos = nxt + 1
    return tags


def _opaque(etag: str) -> str:
    return etag.strip().removeprefix("W/").strip('"')


def evaluate_preconditions(
    method: str, headers: Mapping[str, str], etag: str, last_modified: int
) -> int | None:
    """304 or 412 when a precondition says so (RFC 9110 13.2.2), else None.

    ``headers`` maps lower-case names to the field value (lines joined by ", ").
    ``etag`` is our strong, quoted tag.
    """
    ours = _opaque(etag)
    if_match = headers.get("if-match")
    if if_match is not None:
        tags = parse_etags(if_match)
        if tags is not None and not any(not weak and tag == ours for weak, tag in tags):
            return 412
    elif (ius := headers.get("if-unmodified-since")) is not None:
        date = parse_http_date(ius)
        if date is not None and last_modified > date:
            return 412
    if_none = headers.get("if-none-match")
    if if_none is not None:
        tags = parse_etags(if_none)
        if tags is None or any(tag == ours for _, tag in tags):  # weak comparison
            return 304 if method in ("GET", "HEAD") else 412
    elif method in ("GET", "HEAD") and (ims := headers.get("if-modified-since")) is not None:
        date = parse_http_date(ims)
        if date is not None and last_modified <= date:
            return 304
    return None


UNSATISFIABLE = "unsatisfiable"
_SPEC = re.compile(r"^(?:(\d+)-(\d*)|-(\d+))$")


def select_range(
    range_value: str | None,
    if_range: str | None,
    length: int,
    etag: str,
    last_modified: int,
) -> tuple[int, int] | str | None:
    """The byte range to send: ``(first, last)`` inclusive, :data:`UNSATISFIABLE`
    (answer 416), or ``None`` (send the whole representation with 200)."""
    if range_value is None:
        return None
    if if_range is not None:
        v = if_range.strip()
        if v.startswith(('"', "W/")):
            # strong comparison: a weak tag never matches
            if v.startswith("W/") or v != etag:
                return None
        elif parse_http_date(v) != last_modified:
            return None
    unit, sep, specs = range_value.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None
    parts = [p.strip() for p in specs.split(",") if p.strip()]
    if len(parts) != 1:  # none, or several ranges: serve the whole (allowed)
        return None
    m = _SPEC.match(parts[0])
    if not m:
        return None
    if m.group(3) is not None:  # suffix: the last n bytes
        n = int(m.group(3))
        if n == 0 or length == 0:
            return UNSATISFIABLE
        return max(0, length - n), length - 1
    first = int(m.group(1))
    if m.group(2) and int(m.group(2)) < first:
        return None  # invalid, so ignored
    if first >= length:
        return UNSATISFIABLE
    last = int(m.group(2)) if m.group(2) else length - 1
    return first, min(last, length - 1)


def media_type_for(path: str) -> str:
    """Content-Type from the file name: our fixed table first (the same one the
    catalog uses, so answers do not depend on the machine's mime.types), then
    :mod:`mimetypes`."""
    ext = os.path.splitext(path)[1].lower()
    if ext in MEDIA_TYPES:
        return MEDIA_TYPES[ext]
    mt, encoding = mimetypes.guess_type(path, strict=False)
    if mt is None or encoding is not None:  # .gz and friends: bytes as they are
        return "application/octet-stream"
    if mt.startswith("text/") or mt in ("application/javascript", "application/json"):
        return f"{mt}; charset=utf-8"
    return mt


# --- the aiohttp adapter -----------------------------------------------------


@dataclass
class _Representation:
    length: int
    etag: str
    last_modified: int
    media_type: str
    cache_control: str
    surrogate_key: str | None
    fd: int | None = None  # file to read from, else the catalog object
    obj_id: int = -1


def create_origin_app(config: OriginConfig) -> web.Application:
    """The origin as an aiohttp application (not yet listening)."""
    root = (config.root or DEMO_SITE).resolve()
    if not root.is_dir():
        raise ValueError(f"origin root {root} is not a directory")
    config = dataclasses.replace(config, root=root)
    app = web.Application()
    app[CONFIG] = config
    app[STATS] = OriginStats()
    app[SERVICE_TIME] = ServiceTime(config.service_time, config.seed)
    app.router.add_route("*", "/{tail:.*}", _handle)
    return app


async def start_origin(config: OriginConfig, host: str, port: int) -> web.AppRunner:
    """Start the origin on ``host:port``; stop it with ``await runner.cleanup()``."""
    runner = web.AppRunner(create_origin_app(config), access_log=log)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, reuse_address=True).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner


def _headers(request: web.Request) -> dict[str, str]:
    names = ("if-match", "if-none-match", "if-modified-since", "if-unmodified-since")
    out = {}
    for name in names:
        values = request.headers.getall(name, ())
        if values:
            out[name] = ", ".join(values)
    return out


async def _handle(request: web.Request) -> web.StreamResponse:
    app = request.app
    config, stats = app[CONFIG], app[STATS]
    stats.requests += 1
    response = await _answer(request, config, stats)
    stats.by_status[response.status] = stats.by_status.get(response.status, 0) + 1
    return response


async def _answer(request: web.Request, config: OriginConfig, stats: OriginStats):
    target = request.raw_path
    if target.split("?", 1)[0] == HEALTH_PATH:
        if request.method not in ("GET", "HEAD"):
            return web.Response(status=405, headers={"Allow": ALLOW})
        return web.Response(text="ok", headers={"Cache-Control": "no-store"})
    if request.method not in ("GET", "HEAD"):
        text = f"method {request.method} not allowed; allowed: {ALLOW}\n"
        return web.Response(status=405, text=text, headers={"Allow": ALLOW})
    delay = request.app[SERVICE_TIME]()
    if delay > 0:
        await asyncio.sleep(delay)
    rep = _find(target, config, stats, request)
    if isinstance(rep, Refused):
        # a 404 says nothing more (probes learn nothing); a 400 says what is malformed
        text = "not found\n" if rep.status == 404 else f"bad request: {rep.reason}\n"
        return web.Response(status=rep.status, text=text, headers={"Cache-Control": "no-store"})
    try:
        return await _respond(request, rep, config, stats)
    finally:
        if rep.fd is not None:
            os.close(rep.fd)


def _find(target: str, config: OriginConfig, stats: OriginStats, request: web.Request):
    catalog = config.catalog
    path = target.split("?", 1)[0]
    if catalog is not None and path.startswith("/obj/"):
        obj_id = catalog.object_id(path)
        if obj_id is None:
            return Refused(404, "no such catalog object", suspicious=False)
        keys = " ".join(
            k
            for k in (catalog.content_type(obj_id).name, config.rules.surrogate_key_for(path))
            if k
        )
        return _Representation(
            length=catalog.size(obj_id),
            etag=catalog.etag(obj_id),
            last_modified=CATALOG_EPOCH,
            media_type=catalog.media_type(obj_id),
            cache_control=catalog.cache_control(obj_id),
            surrogate_key=keys or None,
            obj_id=obj_id,
        )
    found = resolve(config.root, target)  # type: ignore[arg-type]
    if isinstance(found, Refused):
        if found.suspicious:
            stats.refused += 1
            log.warning(
                "refused %r from %s: %s (%d)", target, request.remote, found.reason, found.status
            )
        return found
    assert isinstance(found, Found)
    try:
        fd = os.open(found.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return Refused(404, "cannot open", suspicious=False)
    st = os.fstat(fd)  # validators of the file we actually send
    return _Representation(
        length=st.st_size,
        etag=file_etag(st),
        last_modified=int(st.st_mtime),
        media_type=media_type_for(found.path),
        cache_control=config.rules.cache_control_for(found.url_path),
        surrogate_key=config.rules.surrogate_key_for(found.url_path),
        fd=fd,
    )


def _read(rep: _Representation, config: OriginConfig, pos: int, n: int) -> bytes:
    if rep.fd is not None:
        return os.pread(rep.fd, n, pos)
    return config.catalog.body_chunk(rep.obj_id, pos, pos + n)  # type: ignore[union-attr]


async def _respond(
    request: web.Request, rep: _Representation, config: OriginConfig, stats: OriginStats
) -> web.StreamResponse:
    headers = {
        "ETag": rep.etag,
        "Last-Modified": http_date(rep.last_modified),
        "Cache-Control": rep.cache_control,
    }
    if rep.surrogate_key:
        headers["Surrogate-Key"] = rep.surrogate_key
    status = evaluate_preconditions(request.method, _headers(request), rep.etag, rep.last_modified)
    if status is not None:
        return web.Response(status=status, headers=headers)
    headers["Accept-Ranges"] = "bytes"
    headers["Content-Type"] = rep.media_type
    chosen = None
    if request.method == "GET":
        chosen = select_range(
            request.headers.get("Range"),
            request.headers.get("If-Range"),
            rep.length,
            rep.etag,
            rep.last_modified,
        )
    if chosen == UNSATISFIABLE:
        # not for caches: a 416 says nothing about the representation's freshness
        headers["Content-Range"] = f"bytes */{rep.length}"
        headers["Cache-Control"] = "no-store"
        del headers["Content-Type"]
        return web.Response(status=416, headers=headers)
    if chosen is None:
        first, last, status = 0, rep.length - 1, 200
    else:
        first, last = chosen  # type: ignore[misc]
        status = 206
        headers["Content-Range"] = f"bytes {first}-{last}/{rep.length}"
    length = last - first + 1
    if request.method == "GET" and length <= SMALL_BODY:
        # small bodies in one piece, read inline: a page-cache read of a few KiB
        # costs less than the hop to a worker thread
        data = _read(rep, config, first, length)
        if len(data) == length:
            stats.body_bytes += length
            stats.largest_write = max(stats.largest_write, length)
            return web.Response(status=status, headers=headers, body=data)
    response = web.StreamResponse(status=status, headers=headers)
    response.content_length = length
    await response.prepare(request)
    if request.method == "HEAD":
        return response
    loop = asyncio.get_running_loop()
    pos, end = first, last + 1
    while pos < end:
        n = min(config.chunk_size, end - pos)
        if rep.fd is not None:
            data = await loop.run_in_executor(None, os.pread, rep.fd, n, pos)
        else:
            data = _read(rep, config, pos, n)
        if not data:  # file shrank under us: the promised length cannot be kept
            log.warning("file shrank while sending (%d of %d bytes)", pos, end)
            if request.transport is not None:
                request.transport.close()
            return response
        try:
            await response.write(data)
        except ConnectionResetError:  # the client went away: nothing left to do
            return response
        pos += len(data)
        stats.body_bytes += len(data)
        stats.largest_write = max(stats.largest_write, len(data))
    await response.write_eof()
    return response
