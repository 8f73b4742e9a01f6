"""The edge server: an aiohttp caching reverse proxy in front of one origin.

Theory of operation
-------------------
This module is an adapter. Every caching decision is made by the pure cores:
:mod:`edge.policy` (RFC 9111: storable? fresh? revalidate? what to send, how to
merge a 304, what Cache-Status says) and :mod:`edge.store` (what stays in
memory). The server only moves bytes and keeps three indexes beside the store:

- ``variants``: primary key (the request target, path and query) -> the
  secondary keys stored for it (RFC 9111 4.1, ``Vary``). A store key is
  ``(target, vary_values)``, so each variant is one object in the store and is
  evicted on its own; ``on_evict`` keeps the indexes in step.
- ``surrogates``: surrogate key (from the ``Surrogate-Key`` response field) ->
  store keys, for ``PURGE`` by tag.
- ``inflight``: target -> the one origin fetch under way for it. A GET that
  misses while a fetch for its target is in flight waits for it and is served
  the stored result (Cache-Status ``collapsed``) when that result fits its
  request; otherwise it goes to the origin on its own. So N concurrent requests
  for a cold object make one origin request. When that fetch fails (refused,
  timed out) the waiting requests share the failure (or stale-if-error) rather
  than retrying it; when it succeeds with a response that may not be stored
  (no-store, private, too big), they each go to the origin, and for the next
  ``PASS_SECONDS`` misses on that target are not collapsed at all (hit-for-pass:
  waiting on each other would only serialise them) until an answer is stored.

A GET or HEAD is looked up, then ``decide`` says: ``hit`` (serve from memory),
``stale`` (serve now, revalidate in the background: stale-while-revalidate),
``revalidate`` (conditional request with the stored validators; a 304 is merged
into the stored response), ``miss`` (fetch; store if the policy allows and the
body is no larger than the maximum object size, else stream it through) or
``gateway-timeout`` (``only-if-cached``). When the origin is down, times out or
answers 5xx, a stored response that the policy allows to be served stale on
error is served instead. Other methods go to the origin unchanged, streamed
both ways, and the URIs that RFC 9111 4.4 names are invalidated.

A stored 200 also answers the client's own ``If-None-Match`` /
``If-Modified-Since`` (304) and a single byte ``Range`` (206/416, the origin's
:func:`origin.server.select_range` rules); a miss is fetched without the
client's validators so that the full response can be stored. A Range request
that misses is forwarded as it is (its 206 is not stored) while one background
fetch of the whole response fills the cache for the next ones. The hit path skips
``decide`` when the request carries no directives (no Cache-Control, no
Pragma): then the stored response's own freshness decides, which is the
policy's :func:`~edge.policy.classify`, the same call the simulator makes.

Every response carries ``Age``, ``Via`` and ``Cache-Status`` (RFC 9211). The
edge is a surrogate (W3C Edge Architecture 1.0): every request it forwards
announces ``Surrogate-Capability: <device token>="Surrogate/1.0"`` (appended
to the ones already there), the policy obeys ``Surrogate-Control`` for this
cache (see :mod:`edge.policy`: after CDN-Cache-Control, before
Cache-Control), and ``Surrogate-Control`` is removed from a response unless its
request announced a Surrogate-Capability, i.e. came from another surrogate.
So a shield passes the field on to the edges below it, which need it too,
and an edge removes it before a browser sees it (Squid does the same). The
device token is the edge's name unless configured (``surrogate_token``).
The admin endpoints live under ``/.well-known/cdn/`` (RFC 8615 reserves the prefix,
so they cannot collide with content): ``metrics`` (Prometheus text) and
``health`` (200 ``ok``; ``PUT health?state=down`` makes it answer 503, which
takes the edge out of DNS rotation while it keeps serving; ``state=up`` undoes
it; allowed like PURGE). ``PURGE`` removes a target (all its variants), a prefix (a target
ending in ``*``) or the objects tagged with the keys in a ``Surrogate-Key``
request field; it is allowed from the configured networks (loopback by
default) or with the configured token, and refused with 403 otherwise.

Time: the wall clock (``time.time``), read here and passed to the cores,
because HTTP dates in ``Date`` and ``Expires`` are wall-clock times.

Running: :func:`start_edge` serves on aiohttp's low-level server (no router,
so every request target reaches :meth:`Edge.handle`); :func:`create_edge_app`
gives the same edge as a ``web.Application`` to mount elsewhere;
:func:`run_edges` is ``cdn edge``, with ``--workers N`` processes sharing one
address through SO_REUSEPORT. Each worker has its own store, so the kernel's
spread of connections splits the cache N ways (an object may be fetched once
per worker), and each worker answers metrics for itself.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import hmac
import ipaddress
import json
import logging
import math
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from edge import policy as P
from edge.cachecontrol import (
    get_all,
    get_one,
    is_token,
    parse_etag,
    parse_etag_list,
    parse_http_date,
    weak_match,
)
from edge.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from edge.metrics import EdgeMetrics
from edge.store import make_store

# origin.server (for its Range rules) pulls in the catalog and numpy: imported when a
# Range request first needs it, so that an edge process stays small.
UNSATISFIABLE = "unsatisfiable"

log = logging.getLogger("edge")

ADMIN_PREFIX = "/.well-known/cdn/"
DEFAULT_MAX_OBJECT_SIZE = 64 * 2**20  # buffering bound for one response when none is given
STREAM_CHUNK = 64 * 1024
PASS_SECONDS = 10.0  # how long an uncacheable answer stops collapsing for its target
PASS_LIMIT = 10_000  # targets remembered that way
# RFC 9110 9.2.2: requests a client may resend when the connection failed under them.
# aiohttp resends these once when a pooled connection turns out dead (an origin's idle
# timer fired), but only with a body it can replay: small ones are read whole for that.
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
_REPLAYABLE_BODY = 1 << 20

# RFC 9110 7.6.1: fields that describe one connection and are never forwarded.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "proxy-authenticate",
        "proxy-authorization",
    }
)
# Dropped from forwarded requests as well: the edge answers Expect itself and
# sets Via; conditionals are replaced when the edge revalidates its own copy.
_REQUEST_DROP = HOP_BY_HOP | {"expect", "via"}
# Validators the edge replaces with its own when it fetches to fill or freshen the
# cache (the client's are then answered from the result). If-Match and
# If-Unmodified-Since are preconditions and always go through.
_CONDITIONALS = frozenset({"if-none-match", "if-modified-since"})
# Fields the edge sets itself on every response.
_RESPONSE_OWN = HOP_BY_HOP | {"age", "via", "cache-status", "content-length"}
# RFC 9110 15.4.5: what a 304 carries.
# The targeted cache-control fields go with them: they guide the update of a downstream
# cache's stored response, which is what 15.4.5 allows besides those.
_NOT_MODIFIED_FIELDS = frozenset(
    {"cache-control", "content-location", "date", "etag", "expires", "vary", "last-modified"}
    | {"cdn-cache-control", "surrogate-control"}
)
# W3C Edge Architecture 1.0: the capability a surrogate that obeys Surrogate-Control announces.
SURROGATE_CAPABILITY = "Surrogate/1.0"


@dataclass(frozen=True)
class EdgeConfig:
    """Everything one edge needs; ``cdn edge`` and ``cdn serve`` both build one."""

    origin: str  # base URL of the origin, e.g. http://127.0.0.1:8080
    host: str = "127.0.0.1"
    port: int = 8081
    capacity: int = 2**30  # bytes
    policy: str = "lru"
    max_object_size: int | None = None  # bytes; None: min(capacity, 64 MiB)
    name: str = "edge"  # pseudonym in Via and Cache-Status
    purge_allow: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    purge_token: str | None = None
    host_header: str = "keep"  # "keep" the client's Host, "origin" the origin's, or a value
    connect_timeout: float = 5.0  # seconds
    read_timeout: float = 30.0  # seconds between bytes from the origin
    origin_connections: int = 256  # keep-alive pool size
    max_line_size: int = 8190  # request line and header line limits (aiohttp's parser)
    max_field_size: int = 8190
    max_headers: int = 128
    reuse_port: bool = False
    # Surrogate-Control device token (``max-age=60;TOKEN``); None: the name, made a token
    surrogate_token: str | None = None

    @classmethod
    def for_edge(cls, edge, origin: str, host: str, port: int, **overrides) -> EdgeConfig:
        """The config of a scenario edge (:class:`cdn.scenario.Edge`) in front of ``origin``
        (the origin's URL, or the parent shield edge's URL for a tiered edge)."""
        return cls(
            origin=origin,
            host=host,
            port=port,
            capacity=edge.capacity,
            policy=edge.policy,
            max_object_size=edge.max_object_size,
            name=edge.name,
            **overrides,
        )

    @property
    def device_token(self) -> str:
        """The token this edge answers to in Surrogate-Control and announces upstream."""
        if self.surrogate_token is not None:
            return self.surrogate_token
        return "".join(c if is_token(c) else "-" for c in self.name) or "edge"

    @property
    def object_limit(self) -> int:
        limit = DEFAULT_MAX_OBJECT_SIZE if self.max_object_size is None else self.max_object_size
        return min(limit, self.capacity)


def validate_config(config: EdgeConfig) -> EdgeConfig:
    """Raise ValueError naming what is wrong and what is allowed."""
    url = URL(config.origin)
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"origin must be an http:// or https:// URL, got {config.origin!r}")
    make_store(config.policy, config.capacity, config.max_object_size)  # checks policy, sizes
    for net in config.purge_allow:
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError:
            raise ValueError(
                f"purge network {net!r} is not a CIDR such as 127.0.0.0/8 or ::1/128"
            ) from None
    for name, v in (
        ("connect timeout", config.connect_timeout),
        ("read timeout", config.read_timeout),
    ):
        if not v > 0:
            raise ValueError(f"{name} must be a positive number of seconds, got {v!r}")
    if not config.name or any(c in config.name for c in ' ,;"\r\n'):
        raise ValueError(
            f"edge name must be a token without spaces, commas or quotes, got {config.name!r}"
        )
    if config.surrogate_token is not None and not is_token(config.surrogate_token):
        raise ValueError(
            "surrogate token must be an HTTP token (letters, digits and !#$%&'*+-.^_`|~), "
            f"got {config.surrogate_token!r}"
        )
    return config


@dataclass(frozen=True, slots=True)
class Entry:
    """One stored response: the policy's view (``stored``) plus what serving needs."""

    target: str
    stored: P.Stored
    body: bytes
    headers: CIMultiDict  # stored fields minus those the edge sets, plus Via; copy, never mutate
    upstream_status: str  # upstream Cache-Status entries
    surrogate_keys: tuple[str, ...]
    size: int  # what the store accounts: the body's length
    varies: bool  # has a Vary field (its secondary key may still be empty)
    freshness: P.Freshness
    surrogate_control: bool = False  # has a Surrogate-Control field (only surrogates get it)


@dataclass
class _Flight:
    """The one origin fetch under way for a target."""

    done: asyncio.Event = field(default_factory=asyncio.Event)
    entry: Entry | None = None  # what it stored (or refreshed), for collapsed followers
    status: int | None = None  # the origin's status
    error: BaseException | None = None  # why the origin could not be reached
    fwd: str = "miss"
    followers: int = 0  # requests waiting on it


def _pairs(headers) -> list[tuple[str, str]]:
    return list(headers.items())


def _connection_tokens(headers) -> set[str]:
    return {t.strip().lower() for v in headers.getall("Connection", ()) for t in v.split(",")}


def _strip_hop_by_hop(pairs: Sequence[tuple[str, str]], tokens: set[str]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in pairs if k.lower() not in HOP_BY_HOP and k.lower() not in tokens]


def _join(values: Sequence[str], extra: str | None = None) -> str:
    items = [v for v in values if v.strip()]
    if extra:
        items.append(extra)
    return ", ".join(items)


class Edge:
    """One edge cache: the store, the indexes, the origin session and metrics."""

    def __init__(self, config: EdgeConfig):
        self.config = validate_config(config)
        self.name = config.name
        self.via = f"1.1 {config.name}"
        self.device = config.device_token
        self.capability = f'{self.device}="{SURROGATE_CAPABILITY}"'
        self.store = make_store(config.policy, config.capacity, config.object_limit)
        self.store.on_evict = self._on_evict
        self.metrics = EdgeMetrics(self.store)
        self.object_limit = config.object_limit
        self.variants: dict[str, dict[tuple, None]] = {}
        self.surrogates: dict[str, set[tuple]] = {}
        self.inflight: dict[str, _Flight] = {}
        self.passes: dict[str, float] = {}  # target -> until when misses are not collapsed
        self.tasks: set[asyncio.Task] = set()
        self.purge_nets = [ipaddress.ip_network(n, strict=False) for n in config.purge_allow]
        origin = URL(config.origin)
        self.origin_base = str(origin.with_query(None).with_fragment(None)).rstrip("/")
        if config.host_header == "keep":
            self.host_override = None
        elif config.host_header == "origin":
            self.host_override = origin.raw_authority
        else:
            self.host_override = config.host_header
        self.session: aiohttp.ClientSession | None = None
        self.started = time.time()
        self.healthy = True  # what the health endpoint reports (PUT ...?state=down)

    # -- lifecycle ---------------------------------------------------------------

    async def open(self, app: web.Application | None = None) -> None:
        connector = aiohttp.TCPConnector(
            limit=self.config.origin_connections, keepalive_timeout=30, ttl_dns_cache=60
        )
        self.session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(
                total=None,
                sock_connect=self.config.connect_timeout,
                sock_read=self.config.read_timeout,
            ),
            auto_decompress=False,  # bytes pass through as the origin encoded them
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            max_field_size=max(self.config.max_field_size, 16384),
            max_line_size=max(self.config.max_line_size, 16384),
        )

    async def close(self, app: web.Application | None = None) -> None:
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.session is not None:
            await self.session.close()

    # -- indexes -----------------------------------------------------------------

    def _on_evict(self, key, entry) -> None:
        self.metrics.evictions.inc()
        self._forget(key, entry)

    def _forget(self, key, entry: Entry | None) -> None:
        target = key[0]
        variants = self.variants.get(target)
        if variants is not None:
            variants.pop(key[1], None)
            if not variants:
                del self.variants[target]
        if entry is not None:
            for tag in entry.surrogate_keys:
                keys = self.surrogates.get(tag)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del self.surrogates[tag]

    def _remove(self, key) -> bool:
        entry = self.store.peek(key)
        removed = self.store.remove(key)
        self._forget(key, entry if isinstance(entry, Entry) else None)
        return removed

    def _insert(self, key, entry: Entry) -> bool:
        old = self.store.peek(key)
        if isinstance(old, Entry):
            self._forget(key, old)
        admitted = self.store.insert(key, entry.size, entry)
        if admitted:
            self.variants.setdefault(key[0], {})[key[1]] = None
            for tag in entry.surrogate_keys:
                self.surrogates.setdefault(tag, set()).add(key)
        return admitted

    def invalidate(self, target: str) -> int:
        """Remove every variant stored for ``target``; the number removed."""
        return sum(self._remove((target, sk)) for sk in list(self.variants.get(target, ())))

    def _find(self, target: str, rh):
        """(key, entry, None) for a stored variant matching the request fields ``rh``,
        else (None, None, miss kind)."""
        variants = self.variants.get(target)
        if not variants:
            return None, None, "uri-miss"
        req = None
        for sk in reversed(variants):
            key = (target, sk)
            entry = self.store.peek(key)
            if entry is None:
                continue
            if entry.varies and req is None:
                req = _pairs(rh)
            if not entry.varies or P.vary_matches(entry.stored, req):
                self.store.lookup(key)
                return key, entry, None
        return None, None, "vary-miss"

    def _make_entry(self, target: str, stored: P.Stored, body: bytes) -> Entry:
        hdrs = stored.headers
        own = CIMultiDict((k, v) for k, v in hdrs if k.lower() not in _RESPONSE_OWN)
        own["Via"] = _join([v for k, v in hdrs if k.lower() == "via"], self.via)
        upstream = _join([v for k, v in hdrs if k.lower() == "cache-status"])
        tags = tuple(t for v in get_all(hdrs, "surrogate-key") for t in v.split() if t)
        # The body's bytes, as the simulator counts objects, so that one trace gives the
        # same hits live and simulated (header fields are a small overhead beside it).
        size = len(body)
        varies = bool(P.vary_fields(hdrs))
        fresh = P.freshness_of(stored)
        sc = "Surrogate-Control" in own
        return Entry(target, stored, body, own, upstream, tags, size, varies, fresh, sc)

    # -- responses ---------------------------------------------------------------

    def _status_field(
        self, upstream: str, hit: bool = False, ttl: float | None = None, **params
    ) -> str:
        """Our Cache-Status entry appended to the upstream ones (RFC 9211: origin side first).

        Memoised: a hit's field differs only by its whole-second ttl.
        """
        ttl = None if ttl is None else math.floor(ttl)
        return _status_field(self.name, upstream, hit, ttl, tuple(sorted(params.items())))

    def _serve(
        self,
        request: web.Request,
        entry: Entry,
        age: float,
        status_field: str,
        label: str,
    ) -> web.StreamResponse:
        """A response from memory (honouring the client's own conditionals)."""
        headers = entry.headers.copy()
        headers["Age"] = P.age_header(age)
        headers["Cache-Status"] = status_field
        self.metrics.count(label)
        stored = entry.stored
        rh = request.headers
        if entry.surrogate_control and "Surrogate-Capability" not in rh:
            del headers["Surrogate-Control"]  # every line: it is for surrogates only
        if stored.status != 200:
            return web.Response(status=stored.status, body=entry.body, headers=headers)
        if ("If-None-Match" in rh or "If-Modified-Since" in rh) and _not_modified(
            rh, stored.headers, stored.response_time
        ):
            return web.Response(status=304, headers=_only_304_fields(headers))
        body = entry.body
        if "Range" in rh and request.method == "GET":
            span = _byte_range(rh, stored.headers, len(body))
            if span == UNSATISFIABLE:
                headers["Content-Range"] = f"bytes */{len(body)}"
                return web.Response(status=416, headers=headers)
            if span is not None:
                first, last = span
                headers["Content-Range"] = f"bytes {first}-{last}/{len(body)}"
                self.metrics.bytes_served.inc(last + 1 - first)
                return web.Response(status=206, body=body[first : last + 1], headers=headers)
        if request.method != "HEAD":
            self.metrics.bytes_served.inc(len(body))
        return web.Response(status=200, body=body, headers=headers)

    def _simple(self, status: int, text: str, status_field: str, label: str) -> web.Response:
        self.metrics.requests.inc(cache_status=label)
        body = (text + "\n").encode()
        self.metrics.bytes_served.inc(len(body))
        return web.Response(
            status=status,
            body=body,
            headers={
                "Content-Type": "text/plain; charset=utf-8",
                "Cache-Control": "no-store",
                "Age": "0",
                "Via": self.via,
                "Cache-Status": status_field,
            },
        )

    # -- the request handler -----------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        target = request.raw_path
        if target[:1] != "/":
            target = _origin_form(target)
            if target is None:
                return self._simple(
                    400,
                    "400 Bad Request: this edge is a reverse proxy; the request target must be "
                    "a path (/...) or an absolute http URL, not '*' or an authority (CONNECT)",
                    self._status_field("", detail="bad-target"),
                    "error",
                )
        if target.startswith(ADMIN_PREFIX):
            return self._admin(request, target)
        method = request.method
        if method == "GET" or method == "HEAD":
            return await self._cacheable(request, target)
        if method == "PURGE":
            return self._purge(request, target)
        return await self._pass(request, target)

    async def _cacheable(self, request: web.Request, target: str) -> web.StreamResponse:
        rh = request.headers
        method = request.method
        now = time.time()
        key, entry, miss = self._find(target, rh)
        if entry is not None and "Cache-Control" not in rh and "Pragma" not in rh:
            # No request directives: the stored response's freshness alone decides, and
            # the policy's classify() is that decision (the simulator's hot path too).
            age = P.current_age(entry.stored, now)
            if P.classify(age, entry.freshness) == "hit":
                ttl = entry.freshness.lifetime - age
                field_ = self._status_field(entry.upstream_status, hit=True, ttl=ttl)
                return self._serve(request, entry, age, field_, "hit")
        req = _pairs(rh)
        d = P.decide(method, req, entry.stored if entry else None, now)
        action = d.action
        if action == "hit":
            return self._serve(
                request,
                entry,
                d.age,
                self._status_field(entry.upstream_status, hit=True, ttl=d.ttl),
                "hit",
            )
        if action == "gateway-timeout":
            return self._simple(
                504,
                "504 Gateway Timeout: only-if-cached and no usable stored response",
                self._status_field(
                    "", fwd="miss" if entry is None else "stale", detail="only-if-cached"
                ),
                "gateway-timeout",
            )
        if action == "stale":
            self._revalidate_later(target, key, entry, request)
            return self._serve(
                request,
                entry,
                d.age,
                self._status_field(
                    entry.upstream_status,
                    hit=True,
                    fwd="stale",
                    ttl=d.ttl,
                    detail="stale-while-revalidate",
                ),
                "stale",
            )
        fwd = miss or d.detail
        if method == "HEAD" or "Range" in rh:
            # Answered uncached: the range (or the HEAD) as asked. A HEAD still follows an
            # in-flight GET; a Range miss starts a background fetch of the whole response
            # (collapsed with any other), so that the next ranges come from memory.
            flight = self.inflight.get(target)
            if method == "HEAD" and flight is not None:
                served = await self._follow(request, target, flight, fwd, entry)
                if served is not None:
                    return served
            if method == "GET":
                self._revalidate_later(target, key, entry, request, fwd)
            return await self._forward_uncached(request, target, key, entry, fwd)
        if self.passes and self.passes.get(target, 0.0) > now:
            # Its last answer could not be stored: waiting on each other would only
            # serialise these requests (hit-for-pass), so each goes on its own.
            return await self._fetch(request, target, req, key, entry, fwd, None)
        flight = self.inflight.get(target)
        if flight is not None:
            served = await self._follow(request, target, flight, fwd, entry)
            if served is not None:
                return served
            return await self._fetch(request, target, req, key, entry, fwd, None)
        flight = self.inflight[target] = _Flight(fwd=fwd)
        try:
            return await self._fetch(request, target, req, key, entry, fwd, flight)
        finally:
            flight.done.set()
            if self.inflight.get(target) is flight:
                del self.inflight[target]

    async def _follow(self, request, target, flight: _Flight, fwd: str, mine: Entry | None = None):
        """Wait for the fetch in flight; serve what it stored if it fits this request.

        When it could not reach the origin, answer as it did (stale-if-error from this
        request's own stored variant ``mine`` when allowed, else 502/504): a failing
        origin gets one request per target, not one per waiting client.
        """
        flight.followers += 1
        await flight.done.wait()
        if flight.error is not None:
            req = _pairs(request.headers)
            served = self._stale_on_error(request, mine, req)
            return served if served is not None else self._bad_gateway(flight.error, fwd)
        entry = flight.entry
        if entry is None:
            return None
        req = _pairs(request.headers)
        if entry.varies and not P.vary_matches(entry.stored, req):
            return None
        age, ttl = P.age_and_ttl(entry.stored, time.time())
        return self._serve(
            request,
            entry,
            age,
            self._status_field(
                entry.upstream_status,
                fwd=flight.fwd,
                fwd_status=flight.status,
                collapsed=True,
                ttl=ttl,
            ),
            "collapsed",
        )

    def _forward_headers(
        self,
        request: web.Request,
        *,
        drop_conditionals: bool = False,
        with_body: bool = False,
        drop_range: bool = False,
    ) -> CIMultiDict:
        """The request's fields as the origin gets them. GET and HEAD go without a body
        (it has no meaning there), so without the Content-Length that announced one."""
        h = request.headers
        tokens = _connection_tokens(h)
        out: CIMultiDict = CIMultiDict()
        for k, v in h.items():
            lk = k.lower()
            if lk in _REQUEST_DROP or lk in tokens:
                continue
            if drop_conditionals and lk in _CONDITIONALS:
                continue
            if lk == "content-length" and not with_body:
                continue
            if drop_range and (lk == "range" or lk == "if-range"):
                continue
            if lk == "host" and self.host_override is not None:
                continue
            out.add(k, v)
        v = request.version  # RFC 9110 7.6.3: the protocol the request was received with
        via = self.via if v == (1, 1) else f"{v.major}.{v.minor} {self.name}"
        out["Via"] = _join(h.getall("Via", ()), via)
        out["Surrogate-Capability"] = _join(h.getall("Surrogate-Capability", ()), self.capability)
        if self.host_override is not None:
            out["Host"] = self.host_override
        return out

    async def _origin(self, method: str, target: str, headers, data=None) -> aiohttp.ClientResponse:
        """Send one request to the origin and return once its headers have arrived."""
        assert self.session is not None, "edge not opened"
        url = URL(self.origin_base + target, encoded=True)
        t0 = time.perf_counter()
        try:
            resp = await self.session.request(
                method, url, headers=headers, data=data, allow_redirects=False
            )
        except TimeoutError:
            self.metrics.origin_requests.inc(outcome="timeout")
            raise
        except aiohttp.ClientError:
            self.metrics.origin_requests.inc(outcome="error")
            raise
        self.metrics.origin_latency.observe(time.perf_counter() - t0)
        self.metrics.origin_requests.inc(outcome=f"{resp.status // 100}xx")
        return resp

    def _stale_on_error(self, request, entry: Entry | None, req, status: int | None = None):
        """The stored response when the policy lets it stand in for an origin error
        (stale-if-error, RFC 5861), else None: the caller answers the error."""
        now = time.time()
        if entry is not None and P.can_serve_stale_on_error(entry.stored, req, now):
            age, ttl = P.age_and_ttl(entry.stored, now)
            return self._serve(
                request,
                entry,
                age,
                self._status_field(
                    entry.upstream_status,
                    hit=True,
                    fwd="stale",
                    fwd_status=status,
                    ttl=ttl,
                    detail="stale-if-error",
                ),
                "stale-if-error",
            )
        return None

    def _bad_gateway(self, exc: BaseException, fwd: str) -> web.Response:
        timeout = isinstance(exc, TimeoutError)
        log.warning("%s: origin request failed: %r", self.name, exc)
        what = "timed out" if timeout else f"failed: {type(exc).__name__}"
        return self._simple(
            504 if timeout else 502,
            f"{'504 Gateway Timeout' if timeout else '502 Bad Gateway'}: origin request {what}",
            self._status_field("", fwd=fwd, detail="origin-timeout" if timeout else "origin-error"),
            "error",
        )

    async def _fetch(
        self, request, target, req, key, entry: Entry | None, fwd, flight: _Flight | None
    ):
        """GET from the origin (conditionally when revalidating), store if allowed, respond."""
        headers = self._forward_headers(request, drop_conditionals=True)
        if entry is not None:
            for k, v in P.conditional_headers(entry.stored):
                headers[k] = v
        request_time = time.time()
        try:
            resp = await self._origin("GET", target, headers)
        except (aiohttp.ClientError, TimeoutError) as exc:
            if flight is not None:
                flight.error = exc  # followers share the failure instead of retrying it
            served = self._stale_on_error(request, entry, req)
            return served if served is not None else self._bad_gateway(exc, fwd)
        response_time = time.time()
        try:
            status = resp.status
            if flight is not None:
                flight.status = status
            if status >= 500 and entry is not None:
                served = self._stale_on_error(request, entry, req, status)
                if served is not None:
                    return served
            tokens = _connection_tokens(resp.headers)
            rh = _strip_hop_by_hop(_pairs(resp.headers), tokens)
            if status == 304 and entry is not None and not P.freshens(entry.stored, rh):
                # RFC 9111 4.3.4: a 304 whose validator matches no stored response MUST NOT
                # update one; fetch the representation again, unconditionally.
                resp.release()
                return await self._fetch(request, target, req, key, None, fwd, flight)
            if status == 304 and entry is not None:
                stored = P.merge_304(entry.stored, rh, request_time, response_time)
                fresh = self._make_entry(target, stored, entry.body)
                stored_ok = self._insert(key, fresh)
                if flight is not None:
                    flight.entry = fresh if stored_ok else None
                age, ttl = P.age_and_ttl(stored, time.time())
                return self._serve(
                    request,
                    fresh,
                    age,
                    self._status_field(
                        fresh.upstream_status, fwd=fwd, fwd_status=304, stored=stored_ok, ttl=ttl
                    ),
                    "revalidated",
                )
            why_not = P.storable_reason("GET", req, status, rh, surrogate=self.device)
            if why_not is None and P.vary_values(rh, req) is None:
                why_not = "Vary: *"
            length = resp.content_length
            if why_not is None and length is not None and length > self.object_limit:
                why_not = f"larger than the maximum object size ({self.object_limit} bytes)"
            if why_not is not None:
                self._mark_pass(target)
            if why_not is None:
                try:
                    body, complete = await self._read_bounded(resp, self.object_limit)
                except (aiohttp.ClientError, TimeoutError) as exc:  # the body broke off
                    served = self._stale_on_error(request, entry, req)
                    return served if served is not None else self._bad_gateway(exc, fwd)
                if complete:
                    stored = P.make_stored(
                        "GET", req, status, rh, request_time, response_time, surrogate=self.device
                    )
                    fresh = self._make_entry(target, stored, body)
                    stored_ok = self._insert((target, stored.vary), fresh)
                    if flight is not None and stored_ok:
                        flight.entry = fresh
                    self.passes.pop(target, None)
                    age, ttl = P.age_and_ttl(stored, time.time())
                    return self._serve(
                        request,
                        fresh,
                        age,
                        self._status_field(
                            fresh.upstream_status,
                            fwd=fwd,
                            fwd_status=status,
                            stored=stored_ok,
                            ttl=ttl,
                        ),
                        "miss",
                    )
                why_not = f"larger than the maximum object size ({self.object_limit} bytes)"
                self._mark_pass(target)
                return await self._stream(
                    request, resp, rh, fwd, "miss", prefix=body, detail=why_not
                )
            qh = request.headers
            if (
                status == 200
                and ("If-None-Match" in qh or "If-Modified-Since" in qh)
                and _not_modified(qh, rh)
            ):
                # The client's validators (held back from the origin) match what came back.
                headers = CIMultiDict(rh)
                if "Surrogate-Capability" not in qh:
                    headers.popall("Surrogate-Control", None)
                headers["Age"] = P.age_header(P.age_value(rh))
                headers["Via"] = _join(resp.headers.getall("Via", ()), self.via)
                headers["Cache-Status"] = self._status_field(
                    _join(resp.headers.getall("Cache-Status", ())),
                    fwd=fwd,
                    fwd_status=status,
                    detail=why_not,
                )
                self.metrics.count("miss")
                return web.Response(status=304, headers=_only_304_fields(headers))
            return await self._stream(request, resp, rh, fwd, "miss", detail=why_not)
        finally:
            resp.release()

    def _mark_pass(self, target: str) -> None:
        """Stop collapsing misses for ``target`` for a while (its answer was not stored)."""
        if len(self.passes) >= PASS_LIMIT:
            now = time.time()
            self.passes = {t: u for t, u in self.passes.items() if u > now}
            if len(self.passes) >= PASS_LIMIT:
                self.passes.clear()
        self.passes[target] = time.time() + PASS_SECONDS

    async def _read_bounded(self, resp: aiohttp.ClientResponse, limit: int) -> tuple[bytes, bool]:
        """The whole body if it is at most ``limit`` bytes, else the part read so far."""
        if resp.content_length is not None:
            body = await resp.read()
            self.metrics.bytes_from_origin.inc(len(body))
            return body, True
        parts: list[bytes] = []
        n = 0
        async for chunk in resp.content.iter_chunked(STREAM_CHUNK):
            parts.append(chunk)
            n += len(chunk)
            self.metrics.bytes_from_origin.inc(len(chunk))
            if n > limit:
                return b"".join(parts), False
        return b"".join(parts), True

    async def _stream(self, request, resp, rh, fwd: str, label: str, prefix: bytes = b"", **extra):
        """Pass an origin response through uncached, streaming its body."""
        drop = ("via", "cache-status")
        if "Surrogate-Capability" not in request.headers:
            drop += ("surrogate-control",)  # for surrogates only
        headers = CIMultiDict((k, v) for k, v in rh if k.lower() not in drop)
        length = resp.headers.get("Content-Length")
        if length is not None and request.method != "HEAD":
            headers["Content-Length"] = length
        if "Age" not in headers:
            headers["Age"] = "0"
        headers["Via"] = _join(resp.headers.getall("Via", ()), self.via)
        headers["Cache-Status"] = self._status_field(
            _join(resp.headers.getall("Cache-Status", ())), fwd=fwd, fwd_status=resp.status, **extra
        )
        self.metrics.requests.inc(cache_status=label)
        out = web.StreamResponse(status=resp.status, reason=resp.reason, headers=headers)
        if request.method == "HEAD" and length is not None:
            out.content_length = int(length) if length.isdigit() else None
        await out.prepare(request)
        if request.method == "HEAD" or resp.status in (204, 304):
            await out.write_eof()
            return out
        try:
            if prefix:
                await out.write(prefix)
                self.metrics.bytes_served.inc(len(prefix))
            async for chunk in resp.content.iter_chunked(STREAM_CHUNK):
                self.metrics.bytes_from_origin.inc(len(chunk))
                await out.write(chunk)
                self.metrics.bytes_served.inc(len(chunk))
        except ConnectionError:
            return out  # the client went away; releasing the origin response ends that side
        except (aiohttp.ClientError, TimeoutError) as exc:
            # The origin broke off mid-body; the status line is gone, so the only honest
            # signal left is to cut the client connection (never a clean-looking end).
            self.metrics.origin_requests.inc(outcome="broken-body")
            log.warning("%s: origin body for %s broke off: %r", self.name, request.raw_path, exc)
            if request.transport is not None:
                request.transport.abort()
            return out
        await out.write_eof()
        return out

    async def _forward_uncached(self, request, target, key, entry: Entry | None, fwd: str):
        """HEAD and Range requests that the cache does not answer: forwarded as they are.

        A HEAD response freshens the stored response it describes (RFC 9111 4.3.5).
        """
        headers = self._forward_headers(request)
        request_time = time.time()
        try:
            resp = await self._origin(request.method, target, headers)
        except (aiohttp.ClientError, TimeoutError) as exc:
            served = self._stale_on_error(request, entry, _pairs(request.headers))
            return served if served is not None else self._bad_gateway(exc, fwd)
        try:
            rh = _strip_hop_by_hop(_pairs(resp.headers), _connection_tokens(resp.headers))
            if (
                request.method == "HEAD"
                and entry is not None
                and resp.status == 200
                and _describes(rh, entry.stored.headers)
            ):
                stored = P.merge_304(entry.stored, rh, request_time, time.time())
                self._insert(key, self._make_entry(target, stored, entry.body))
            return await self._stream(request, resp, rh, fwd, "miss")
        finally:
            resp.release()

    async def _pass(self, request: web.Request, target: str) -> web.StreamResponse:
        """Any other method: to the origin unchanged, then RFC 9111 4.4 invalidation."""
        headers = self._forward_headers(request, with_body=True)
        data = request.content if request.body_exists else None
        if data is not None and request.headers.get("Expect", "").lower() == "100-continue":
            # The low-level server leaves Expect to the handler; the body is wanted.
            await request.writer.write(b"HTTP/%d.%d 100 Continue\r\n\r\n" % request.version)
        if data is not None and request.method in _IDEMPOTENT:
            size = request.content_length
            if size is not None and size <= _REPLAYABLE_BODY:
                data = await request.read()  # small enough to replay on a dead pooled connection
        try:
            resp = await self._origin(request.method, target, headers, data)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return self._bad_gateway(exc, "method")
        try:
            rh = _strip_hop_by_hop(_pairs(resp.headers), _connection_tokens(resp.headers))
            effective = f"http://{request.host}{target}"
            for uri in P.invalidated_uris(request.method, resp.status, effective, rh):
                u = URL(uri)
                if not u.is_absolute() or u.raw_authority == request.host:
                    self.invalidate(u.raw_path_qs if u.is_absolute() else uri)
            return await self._stream(request, resp, rh, "method", "pass")
        finally:
            resp.release()

    def _revalidate_later(
        self, target: str, key, entry: Entry | None, request: web.Request, fwd: str = "stale"
    ) -> None:
        """One background fetch per target of the whole response: a conditional one for a
        stale entry (stale-while-revalidate), a plain one to fill the cache (``entry`` None,
        after a Range request missed)."""
        if target in self.inflight:
            return
        flight = self.inflight[target] = _Flight(fwd=fwd)
        headers = self._forward_headers(request, drop_conditionals=True, drop_range=True)
        req = _pairs(request.headers)

        async def revalidate() -> None:
            try:
                if entry is not None:
                    for k, v in P.conditional_headers(entry.stored):
                        headers[k] = v
                request_time = time.time()
                resp = await self._origin("GET", target, headers)
                response_time = time.time()
                try:
                    flight.status = resp.status
                    rh = _strip_hop_by_hop(_pairs(resp.headers), _connection_tokens(resp.headers))
                    if resp.status == 304 and entry is not None:
                        if not P.freshens(entry.stored, rh):
                            return  # RFC 9111 4.3.4: updates nothing; the next request refetches
                        stored = P.merge_304(entry.stored, rh, request_time, response_time)
                        fresh = self._make_entry(target, stored, entry.body)
                        if self._insert(key, fresh):
                            flight.entry = fresh
                        return
                    if resp.status >= 500:
                        return  # keep the stale copy; stale-if-error rules apply on later requests
                    vary = (
                        P.vary_values(rh, req)
                        if P.is_storable("GET", req, resp.status, rh, surrogate=self.device)
                        else None
                    )
                    if vary is None:
                        return
                    body, complete = await self._read_bounded(resp, self.object_limit)
                    if complete:
                        stored = P.make_stored(
                            "GET",
                            req,
                            resp.status,
                            rh,
                            request_time,
                            response_time,
                            surrogate=self.device,
                        )
                        fresh = self._make_entry(target, stored, body)
                        if self._insert((target, stored.vary), fresh):
                            flight.entry = fresh
                finally:
                    resp.release()
            except (aiohttp.ClientError, TimeoutError) as exc:
                flight.error = exc  # the stale copy stays; the next request decides again
            finally:
                flight.done.set()
                if self.inflight.get(target) is flight:
                    del self.inflight[target]

        task = asyncio.get_running_loop().create_task(revalidate())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # -- purge and admin ---------------------------------------------------------

    def purge_allowed(self, request: web.Request) -> bool:
        token = self.config.purge_token
        if token:
            offered = request.headers.get("X-Purge-Token")
            auth = request.headers.get("Authorization", "")
            if offered is None and auth[:7].lower() == "bearer ":
                offered = auth[7:].strip()
            if offered is not None and hmac.compare_digest(offered.encode(), token.encode()):
                return True
        try:
            addr = ipaddress.ip_address((request.remote or "").split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        return any(addr in net for net in self.purge_nets)

    def purge(
        self, *, target: str | None = None, prefix: str | None = None, tags: Sequence[str] = ()
    ) -> int:
        """Remove a target's variants, every target under a prefix, or tagged objects."""
        n = 0
        if target is not None:
            n += self.invalidate(target)
        if prefix is not None:
            for t in [t for t in self.variants if t.startswith(prefix)]:
                n += self.invalidate(t)
        for tag in tags:
            for key in list(self.surrogates.get(tag, ())):
                n += self._remove(key)
        self.metrics.purged.inc(n)
        return n

    def _purge(self, request: web.Request, target: str) -> web.Response:
        if not self.purge_allowed(request):
            return self._json(
                403,
                {"error": "PURGE not allowed from this address without a valid token"},
                "purge-refused",
            )
        tags = [t for v in request.headers.getall("Surrogate-Key", ()) for t in v.split() if t]
        if tags:
            n, what = self.purge(tags=tags), {"surrogate_keys": tags}
        elif target.endswith("*"):
            n, what = self.purge(prefix=target[:-1]), {"prefix": target[:-1]}
        else:
            n, what = self.purge(target=target), {"target": target}
        return self._json(200, {"purged": n, **what}, "purge")

    def _json(self, status: int, obj, label: str) -> web.Response:
        self.metrics.requests.inc(cache_status=label)
        return web.Response(
            status=status,
            body=(json.dumps(obj) + "\n").encode(),
            headers={
                "Content-Type": "application/json",
                "Cache-Control": "no-store",
                "Age": "0",
                "Via": self.via,
                "Cache-Status": self._status_field("", detail=label),
            },
        )

    def _admin(self, request: web.Request, target: str) -> web.Response:
        path, _, query = target.partition("?")
        path = path[len(ADMIN_PREFIX) :]
        if path == "health" and request.method == "PUT":
            # Take the edge out of DNS rotation (or back) without stopping it: health
            # checks then see 503 while requests are still served. Allowed like PURGE.
            if not self.purge_allowed(request):
                return self._json(403, {"error": "not allowed from this address"}, "admin")
            state = dict(p.partition("=")[::2] for p in query.split("&") if p).get("state")
            if state not in ("up", "down"):
                return self._json(400, {"error": "PUT .../health?state=up or state=down"}, "admin")
            self.healthy = state == "up"
        elif request.method not in ("GET", "HEAD"):
            return self._json(
                405, {"error": "admin endpoints answer GET and HEAD (and PUT health)"}, "admin"
            )
        if path == "metrics":
            self.metrics.requests.inc(cache_status="admin")
            return web.Response(
                body=self.metrics.render().encode(),
                headers={
                    "Content-Type": METRICS_CONTENT_TYPE,
                    "Cache-Control": "no-store",
                    "Age": "0",
                    "Via": self.via,
                    "Cache-Status": self._status_field("", detail="admin"),
                },
            )
        if path == "health":
            return self._json(
                200 if self.healthy else 503,
                {
                    "status": "ok" if self.healthy else "down",
                    "name": self.name,
                    "pid": os.getpid(),
                    "uptime_s": round(time.time() - self.started, 3),
                    "objects": len(self.store),
                    "bytes": self.store.used,
                    "capacity": self.store.capacity,
                    "origin": self.config.origin,
                },
                "admin",
            )
        return self._json(
            404, {"error": f"no admin endpoint {path!r}; try metrics or health"}, "admin"
        )


def _byte_range(req_headers, stored_headers, size: int):
    """The origin's own Range rules (RFC 9110 14.2) applied to a stored 200:
    (first, last), :data:`UNSATISFIABLE`, or None for the whole representation."""
    from origin.files import parse_http_date as origin_date
    from origin.server import UNSATISFIABLE as unsatisfiable
    from origin.server import select_range

    etag = (get_one(stored_headers, "etag") or "").strip()
    last_modified = origin_date(get_one(stored_headers, "last-modified") or "")
    span = select_range(
        req_headers.get("Range"),
        req_headers.get("If-Range"),
        size,
        etag,
        -1 if last_modified is None else last_modified,
    )
    return UNSATISFIABLE if span == unsatisfiable else span


@functools.lru_cache(maxsize=4096)
def _status_field(name: str, upstream: str, hit: bool, ttl: int | None, params: tuple) -> str:
    mine = P.cache_status(name=name, hit=hit, ttl=ttl, **dict(params))
    return f"{upstream}, {mine}" if upstream else mine


def _origin_form(target: str) -> str | None:
    """The path and query of an absolute-form target (RFC 9112 3.2.2); None for others."""
    if not target.lower().startswith(("http://", "https://")):
        return None
    try:
        url = URL(target, encoded=True)
    except ValueError:
        return None
    return url.raw_path_qs if url.raw_path.startswith("/") else "/"


def _describes(head_headers, stored_headers) -> bool:
    """RFC 9111 4.3.5: a HEAD response updates a stored response when their validators
    match (ETag, else Last-Modified) and any Content-Length agrees."""
    etag, stored_etag = get_one(head_headers, "etag"), get_one(stored_headers, "etag")
    if etag is not None or stored_etag is not None:
        if etag is None or stored_etag is None or parse_etag(etag) != parse_etag(stored_etag):
            return False
    else:
        lm = get_one(head_headers, "last-modified")
        if lm is None or lm != get_one(stored_headers, "last-modified"):
            return False
    length = get_one(head_headers, "content-length")
    stored_length = get_one(stored_headers, "content-length")
    return length is None or stored_length is None or length.strip() == stored_length.strip()


def _only_304_fields(headers: CIMultiDict) -> CIMultiDict:
    """RFC 9110 15.4.5: a 304 carries the validators and caching fields, not content ones."""
    keep = _NOT_MODIFIED_FIELDS | {"age", "via", "cache-status"}
    return CIMultiDict((k, v) for k, v in headers.items() if k.lower() in keep)


def _not_modified(req_headers, stored_headers, received: float | None = None) -> bool:
    """RFC 9111 4.3.2 / RFC 9110 13.1: the client's If-None-Match (weak comparison) or,
    without it, If-Modified-Since holds for the stored response. Without Last-Modified
    the stored Date stands in, then the time the response was received."""
    inm = req_headers.getall("If-None-Match", ())
    if inm:
        tags = parse_etag_list(inm)
        if tags == "*":
            return True
        etag = parse_etag(get_one(stored_headers, "etag"))
        return etag is not None and any(weak_match(etag, t) for t in tags)
    ims = req_headers.get("If-Modified-Since")
    if ims is not None:
        since = parse_http_date(ims)
        lm = parse_http_date(get_one(stored_headers, "last-modified"))
        if lm is None:
            lm = parse_http_date(get_one(stored_headers, "date"))
        if lm is None:
            lm = received
        return since is not None and lm is not None and lm <= since
    return False


EDGE_KEY = web.AppKey("edge", Edge)


def create_edge_app(config: EdgeConfig) -> web.Application:
    """A web.Application serving one edge; ``app[EDGE_KEY]`` is its :class:`Edge`."""
    edge = Edge(config)
    app = web.Application(handler_args=handler_args(config))
    app[EDGE_KEY] = edge
    app.router.add_route("*", "/{tail:.*}", edge.handle)
    app.on_startup.append(edge.open)
    app.on_cleanup.append(edge.close)
    return app


def handler_args(config: EdgeConfig) -> dict:
    """Request parser limits for aiohttp's runner: ``web.AppRunner(app, **handler_args(c))``."""
    return {
        "max_line_size": config.max_line_size,
        "max_field_size": config.max_field_size,
        "max_headers": config.max_headers,
    }


class EdgeRunner:
    """A running edge: ``edge`` (the :class:`Edge`), ``addresses``, ``await cleanup()``."""

    def __init__(self, edge: Edge, runner: web.BaseRunner):
        self.edge = edge
        self.runner = runner

    @property
    def addresses(self) -> list:
        return self.runner.addresses

    async def cleanup(self) -> None:
        await self.runner.cleanup()
        await self.edge.close()


_handler_args = handler_args  # the name cdn.serve imported first


async def start_edge(config: EdgeConfig) -> EdgeRunner:
    """Start an edge on ``config.host:config.port``; ``await runner.cleanup()`` stops it.

    It runs on aiohttp's low-level server (no router, no middlewares): every request
    target reaches :meth:`Edge.handle`, and the hit path is shorter.
    """
    edge = Edge(config)
    await edge.open()
    runner = web.ServerRunner(web.Server(edge.handle, access_log=None, **handler_args(config)))
    await runner.setup()
    site = web.TCPSite(
        runner, config.host, config.port, reuse_port=config.reuse_port or None, backlog=1024
    )
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        await edge.close()
        why = os.strerror(exc.errno) if exc.errno else str(exc)
        raise OSError(exc.errno, f"cannot listen on {config.host}:{config.port}: {why}") from None
    return EdgeRunner(edge, runner)


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


async def _serve_forever(config: EdgeConfig, announce: bool) -> None:
    from cdn.signals import stop_event

    stop = stop_event()  # before serving: a stop is never lost
    runner = await start_edge(config)
    gc.freeze()  # startup objects never become garbage: keep them out of every collection
    if announce:
        print(
            f"edge cache {config.name} listening on http://{config.host}:{config.port} "
            f"(origin {config.origin}, {config.policy}, capacity {config.capacity} bytes, pid {os.getpid()})",
            flush=True,
        )
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def serve_edge(config: EdgeConfig, announce: bool = True) -> None:
    """Run one edge in this process until SIGINT or SIGTERM (uvloop when present)."""
    with asyncio.Runner(loop_factory=_new_loop) as runner:
        runner.run(_serve_forever(config, announce))


def _probe_bind(config: EdgeConfig) -> None:
    import socket

    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            sock.bind((config.host, config.port))
        except OSError as exc:
            why = os.strerror(exc.errno) if exc.errno else str(exc)
            raise OSError(
                exc.errno, f"cannot listen on {config.host}:{config.port}: {why}"
            ) from None


def _worker(config: EdgeConfig) -> None:
    try:
        serve_edge(config)
    except OSError as exc:
        print(f"edge {config.name} worker {os.getpid()}: {exc.strerror or exc}", file=sys.stderr)
        raise SystemExit(1) from None


def run_edges(config: EdgeConfig, workers: int = 1) -> int:
    """Run ``workers`` edge processes on one address (SO_REUSEPORT); each has its own cache."""
    if workers <= 1:
        serve_edge(config)
        return 0
    import multiprocessing

    config = replace(config, reuse_port=True)
    _probe_bind(config)  # a busy address fails here, once, with a clear message
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(config,), daemon=False) for _ in range(workers)]
    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True
        for p in procs:
            if p.pid is not None and p.is_alive():
                os.kill(p.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)  # before any worker exists: a stop is never lost
    signal.signal(signal.SIGINT, stop)
    for p in procs:
        if not stopping:
            p.start()
    status = 0
    for p in procs:
        if p.pid is not None:
            p.join()
            status = status or (p.exitcode or 0)
    return 1 if status else 0


if __name__ == "__main__":  # pragma: no cover
    serve_edge(EdgeConfig(origin=sys.argv[1], port=int(sys.argv[2])))
