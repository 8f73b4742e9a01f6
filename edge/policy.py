"""RFC 9111 shared-cache decisions, pure: what to store, when to reuse, how to revalidate.

Theory of operation
-------------------
The edge server and the simulator ask this module the same questions, in
the same order, and act on the answers; neither re-implements a rule.

1. A response arrives. :func:`is_storable` says whether a shared cache may
   keep it (RFC 9111 3); :func:`make_stored` builds the :class:`Stored`
   record: the header fields worth keeping (hop-by-hop fields and fields
   named by ``private="..."``/``no-cache="..."`` removed), a ``Date`` when
   the origin sent none, the request/response times and the request's
   values of the ``Vary`` fields (the secondary key, RFC 9111 4.1).
2. A request arrives. :func:`decide` looks at the request directives and
   the stored record and answers with a :class:`Decision`: ``hit`` (serve
   it), ``stale`` (serve it now and revalidate in the background, RFC 5861
   stale-while-revalidate), ``revalidate`` (send the conditional request
   from :func:`conditional_headers`), ``miss`` (forward), or
   ``gateway-timeout`` (``only-if-cached`` and nothing usable: 504).
   ``Decision.detail`` is the RFC 9211 ``fwd`` reason where there is one.
3. A 304 comes back: if :func:`freshens` agrees it is about the stored
   representation, :func:`merge_304` freshens the stored record (RFC 9111
   4.3.4). An error comes back: :func:`can_serve_stale_on_error`.
4. An unsafe method succeeds: :func:`invalidated_uris` lists what to drop.

Freshness (RFC 9111 4.2) is computed once per distinct header set
(:func:`freshness`, memoised) into a :class:`Freshness`; the hot path is
:func:`classify`, three comparisons on floats, which the simulator calls
directly.

Which field governs this cache (:data:`PRECEDENCE`, first that applies):

=====================  ==============================================  ==========
field                  applies when                                    ``Expires``
=====================  ==============================================  ==========
``CDN-Cache-Control``  present and a valid Dictionary (RFC 9213)       ignored
``Surrogate-Control``  it has ``max-age``, ``no-store`` or             ignored
                       ``no-store-remote`` for this surrogate (W3C
                       Edge Architecture 1.0; Fastly, Akamai, Squid)
``Cache-Control``      always (RFC 9111)                               used
=====================  ==============================================  ==========

The governing field replaces the ones below it altogether, as RFC 9213 says
for CDN-Cache-Control and as Fastly does for Surrogate-Control (the results
cache-tests.fyi ships for it): ``Cache-Control: no-store, Surrogate-Control:
max-age=60`` is stored for 60 seconds here, and Cache-Control still rules the
browser. Its other directives in Cache-Control syntax apply too
(``stale-while-revalidate``, ``stale-if-error``, as Fastly documents).
Surrogate-Control members targeted at another device (``max-age=60;other``)
are ignored; those targeted at this surrogate's device token (the
``surrogate`` argument, kept in ``Stored.surrogate``) override untargeted
ones; ``max-age=N+M`` gives ``M`` seconds of stale-if-error;
``no-store-remote`` counts as ``no-store`` (every cache here is a CDN cache,
remote from the origin). A Surrogate-Control with only other directives
(``content="ESI/1.0"``) or only for other devices leaves Cache-Control in
charge. ``surrogate=None`` ignores the field (a plain RFC 9111 shared cache).
Field names in ``private="..."``/``no-cache="..."`` of Cache-Control are
still never stored when another field governs.

Inside the governing field the lifetime is ``s-maxage``, then ``max-age``,
then (Cache-Control only) ``Expires - Date``; then the heuristic (a fraction
of ``Date - Last-Modified``, capped) for statuses that are heuristically
cacheable or marked ``public``.

Choices the RFCs leave open, made conservatively:
- An invalid delta-seconds (``max-age=abc``, ``max-age=-1``) makes the
  response stale on arrival (lifetime 0), RFC 9111 4.2.1.
- Nothing is stored without explicit freshness or a validator (ETag or
  Last-Modified): a response that could never be reused is not kept.
- 206 and 304 are never stored as responses (no range support here).
- ``must-revalidate``/``proxy-revalidate`` forbid every kind of stale
  serving (max-stale, stale-while-revalidate, stale-if-error). The
  ``proxy-revalidate`` that ``s-maxage`` implies forbids client-requested
  ``max-stale``, but the origin's own explicit ``stale-while-revalidate`` /
  ``stale-if-error`` in the same response still apply, as CDNs do.
- ``no-cache="f"`` and ``private="f"`` are honoured by not storing field
  ``f``; the rest of the response is reusable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import lru_cache
from urllib.parse import urljoin, urlsplit

from edge.cachecontrol import (
    DELTA_MAX,
    Headers,
    delta_seconds,
    field_names,
    format_http_date,
    get_all,
    get_one,
    parse_directives,
    parse_etag,
    parse_http_date,
    parse_surrogate,
    parse_targeted,
    split_list,
    strong_match,
    weak_match,
)

# RFC 9110 15.1: heuristically cacheable by default.
HEURISTIC_STATUS = frozenset({200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501})
# Status codes whose caching semantics this cache implements (for must-understand).
UNDERSTOOD_STATUS = frozenset(
    {200, 203, 204, 300, 301, 302, 303, 307, 308, 400, 403, 404, 405, 410, 414}
    | {500, 501, 502, 503, 504}
)
NEVER_STORED_STATUS = frozenset({206, 304})  # no ranges; 304 only freshens
STORABLE_METHODS = frozenset({"GET", "HEAD"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PROPFIND", "SEARCH", "REPORT"})

# RFC 9111 3.1 / RFC 9110 7.6.1: never stored.
NOT_STORED_FIELDS = frozenset(
    {
        "connection",
        "proxy-connection",
        "keep-alive",
        "te",
        "transfer-encoding",
        "upgrade",
        "trailer",
        "proxy-authenticate",
        "proxy-authentication-info",
        "proxy-authorization",
    }
)
# RFC 9111 3.2: never taken from a 304 into the stored response (describe the stored body;
# Content-MD5, RFC 1864, is a digest of the stored bytes, so a 304's value would be a lie).
NOT_UPDATED_FIELDS = NOT_STORED_FIELDS | {
    "content-length",
    "content-encoding",
    "content-range",
    "content-md5",
}

# Vary'd request fields whose values are case-insensitive / whose member order is free.
CASE_INSENSITIVE_FIELDS = frozenset({"accept-encoding", "accept-language", "accept-charset"})
UNORDERED_FIELDS = frozenset({"accept-encoding"})

Pairs = tuple[tuple[str, str], ...]
ABSENT = "\x00"  # vary_values() for a Vary'd field the request does not carry


@dataclass(frozen=True)
class Stored:
    """What the cache keeps besides the body."""

    status: int
    headers: Pairs
    request_time: float  # when the request that fetched it was sent
    response_time: float  # when its response arrived
    vary: Pairs = ()  # the request's normalised values of the Vary fields
    method: str = "GET"
    # the storing cache's Surrogate-Control device token ("" none, None: ignore the field)
    surrogate: str | None = ""
    # derived values memoised per record (parsed once, not per request); not part of equality
    _memo: dict = field(default_factory=dict, init=False, repr=False, compare=False)


@dataclass(frozen=True)
class Freshness:
    """What a response's headers say about storing and reusing it."""

    storable: bool  # response side only; is_storable() adds the request side
    lifetime: float  # freshness lifetime, seconds
    heuristic: bool  # lifetime came from the Last-Modified heuristic
    swr: float  # stale-while-revalidate window, seconds (0 = none)
    sie: float  # stale-if-error window, seconds (0 = none)
    must_revalidate: bool  # explicit must-revalidate or proxy-revalidate
    no_cache: bool  # unqualified no-cache: always revalidate
    no_stale: bool = False  # must_revalidate or s-maxage: no client max-stale
    immutable: bool = False
    has_validator: bool = False
    public: bool = False
    s_maxage: bool = False
    strip_fields: tuple[str, ...] = ()  # private="..." / no-cache="..." field names
    reason: str = ""  # why not storable, or where the lifetime came from


@dataclass(frozen=True)
class Decision:
    action: str  # "hit" | "stale" | "revalidate" | "miss" | "gateway-timeout"
    age: float
    ttl: float  # remaining freshness, negative when stale
    detail: str  # RFC 9211 fwd reason (uri-miss, vary-miss, method, stale, request) or why


# ---------------------------------------------------------------- directives


# Surrogate-Control governs only when it says something about storing or freshness.
SURROGATE_GOVERNS = frozenset({"max-age", "no-store", "no-store-remote"})


def _cdn_cache_control(lines: list[str], device: str | None) -> dict[str, str | None] | None:
    return parse_targeted(lines)  # RFC 9213: any valid field governs, even an empty-ish one


def _surrogate_control(lines: list[str], device: str | None) -> dict[str, str | None] | None:
    if device is None or not lines:
        return None
    d = parse_surrogate(lines, device)
    if d is None or SURROGATE_GOVERNS.isdisjoint(d):
        return None
    if "no-store-remote" in d:
        d["no-store"] = None
    return d


def _cache_control(lines: list[str], device: str | None) -> dict[str, str | None]:
    return parse_directives(lines)


# Response fields in the order this shared cache obeys them: the first whose parser
# answers (not None) governs and replaces the rest (Expires too, unless it is Cache-Control).
PRECEDENCE = (
    ("cdn-cache-control", _cdn_cache_control),
    ("surrogate-control", _surrogate_control),
    ("cache-control", _cache_control),
)


def governing_directives(
    headers: Headers, cdn_cache_control: bool = True, surrogate: str | None = ""
) -> tuple[dict[str, str | None], str]:
    """The directives this cache obeys and the (lowercase) field they came from.

    >>> governing_directives([("Cache-Control", "no-store"), ("Surrogate-Control", "max-age=9")])
    ({'max-age': '9'}, 'surrogate-control')
    """
    for name, parse in PRECEDENCE:
        if name == "cdn-cache-control" and not cdn_cache_control:
            continue
        d = parse(get_all(headers, name), surrogate)
        if d is not None:
            return d, name
    raise AssertionError("Cache-Control always answers")  # pragma: no cover


def response_directives(
    headers: Headers, cdn_cache_control: bool = True, surrogate: str | None = ""
) -> dict[str, str | None]:
    """The directives this shared cache obeys (see :data:`PRECEDENCE`)."""
    return governing_directives(headers, cdn_cache_control, surrogate)[0]


def request_directives(headers: Headers) -> dict[str, str | None]:
    """Request Cache-Control; ``Pragma: no-cache`` counts only without Cache-Control (9111 5.4)."""
    cc = get_all(headers, "cache-control")
    if cc:
        return parse_directives(cc)
    pragma = get_all(headers, "pragma")
    if pragma and any(p.lower() == "no-cache" for line in pragma for p in split_list(line)):
        return {"no-cache": None}
    return {}


def _delta(d: dict[str, str | None], name: str) -> float:
    """A present delta-seconds directive; invalid reads as 0 (stale / no window)."""
    v = delta_seconds(d[name])
    return float(v) if v is not None else 0.0


# ---------------------------------------------------------------- freshness


def freshness(
    status: int,
    headers: Headers,
    *,
    heuristic_fraction: float = 0.1,
    heuristic_cap: float = 86400.0,
    cdn_cache_control: bool = True,
    date: float | None = None,
    surrogate: str | None = "",
) -> Freshness:
    """What ``headers`` say about storing and reusing a response with ``status``.

    ``date`` stands in for the Date field when it is missing or invalid (pass
    the response time). ``surrogate`` is this cache's Surrogate-Control device
    token ("" for untargeted directives only, None to ignore the field).
    Memoised on its arguments, so the live server pays the parse once per
    stored response.

    >>> f = freshness(200, [("Cache-Control", "max-age=60, s-maxage=30")])
    >>> f.lifetime, f.storable
    (30.0, True)
    """
    return _freshness(
        status,
        tuple(headers),
        heuristic_fraction,
        heuristic_cap,
        cdn_cache_control,
        date,
        surrogate,
    )


@lru_cache(maxsize=8192)
def _freshness(
    status: int,
    headers: Pairs,
    fraction: float,
    cap: float,
    use_targeted: bool,
    date_fallback: float | None,
    surrogate: str | None,
) -> Freshness:
    cc, governing = governing_directives(headers, use_targeted, surrogate)
    date = parse_http_date(get_one(headers, "date"))
    if date is None:
        date = date_fallback
    has_validator = (
        parse_etag(get_one(headers, "etag")) is not None
        or parse_http_date(get_one(headers, "last-modified")) is not None
    )
    public = "public" in cc
    s_maxage = "s-maxage" in cc

    lifetime, heuristic, explicit = 0.0, False, True
    if s_maxage:
        lifetime, source = _delta(cc, "s-maxage"), "s-maxage"
    elif "max-age" in cc:
        lifetime, source = _delta(cc, "max-age"), "max-age"
    elif governing == "cache-control" and (expires_lines := get_all(headers, "expires")):
        # 9111 5.3: invalid (e.g. "0") or several differing values -> already expired
        expires = parse_http_date(expires_lines[0])
        if expires is None or len({e.strip() for e in expires_lines}) > 1 or date is None:
            lifetime = 0.0
        else:
            lifetime = max(0.0, expires - date)
        source = "expires"
    else:
        explicit = False
        source = "none"
        last_modified = parse_http_date(get_one(headers, "last-modified"))
        # Pragma: no-cache from an HTTP/1.0 origin (9111 5.4) rules out guessing a lifetime
        pragma_no_cache = any(
            m.lower() == "no-cache" for line in get_all(headers, "pragma") for m in split_list(line)
        )
        if (
            (status in HEURISTIC_STATUS or public)
            and last_modified is not None
            and date is not None
            and not pragma_no_cache
        ):
            lifetime = min(cap, max(0.0, fraction * (date - last_modified)))
            heuristic, source = True, "heuristic"

    must_revalidate = "must-revalidate" in cc or "proxy-revalidate" in cc
    # qualified forms only count with a usable field list; anything else reads as bare
    no_cache_fields = field_names(cc.get("no-cache"))
    private_fields = field_names(cc.get("private"))
    no_cache = "no-cache" in cc and not no_cache_fields
    private = "private" in cc and not private_fields
    strip = private_fields + no_cache_fields

    reason = source
    storable = True
    if not 200 <= status <= 599 or status in NEVER_STORED_STATUS:
        storable, reason = False, f"status {status} not stored"
    elif "must-understand" in cc and status not in UNDERSTOOD_STATUS:
        storable, reason = False, "must-understand with an unknown status"
    elif "no-store" in cc and not ("must-understand" in cc and status in UNDERSTOOD_STATUS):
        storable, reason = False, "no-store"
    elif private:
        storable, reason = False, "private"
    elif "*" in vary_fields(headers):
        storable, reason = False, "Vary: *"
    elif not (explicit or public or status in HEURISTIC_STATUS):
        storable, reason = False, "no explicit freshness and status not heuristically cacheable"
    elif not (explicit or has_validator):
        storable, reason = False, "no freshness information and no validator"
    if governing != "cache-control" and reason in (source, "no-store", "private"):
        reason = f"{governing} {reason}"  # say which field decided when it is not the usual one

    return Freshness(
        storable=storable,
        lifetime=float(min(lifetime, DELTA_MAX)),
        heuristic=heuristic,
        swr=_delta(cc, "stale-while-revalidate") if "stale-while-revalidate" in cc else 0.0,
        sie=_delta(cc, "stale-if-error") if "stale-if-error" in cc else 0.0,
        must_revalidate=must_revalidate,
        no_cache=no_cache,
        no_stale=must_revalidate or s_maxage,
        immutable="immutable" in cc,
        has_validator=has_validator,
        public=public,
        s_maxage=s_maxage,
        strip_fields=tuple(dict.fromkeys(strip)),
        reason=reason,
    )


def freshness_of(stored: Stored, **kw) -> Freshness:
    """Freshness of a stored response (its response time stands in for a missing Date),
    for the cache that stored it (``stored.surrogate``, unless ``surrogate=`` is given)."""
    if kw:
        kw.setdefault("surrogate", stored.surrogate)
        return freshness(stored.status, stored.headers, date=stored.response_time, **kw)
    f = stored._memo.get("freshness")
    if f is None:
        f = stored._memo["freshness"] = freshness(
            stored.status, stored.headers, date=stored.response_time, surrogate=stored.surrogate
        )
    return f


def is_storable(
    method: str,
    request_headers: Headers,
    status: int,
    response_headers: Headers,
    *,
    cdn_cache_control: bool = True,
    surrogate: str | None = "",
) -> bool:
    """RFC 9111 3: may a shared cache store this response to this request?"""
    return (
        storable_reason(
            method,
            request_headers,
            status,
            response_headers,
            cdn_cache_control=cdn_cache_control,
            surrogate=surrogate,
        )
        is None
    )


def storable_reason(
    method: str,
    request_headers: Headers,
    status: int,
    response_headers: Headers,
    *,
    cdn_cache_control: bool = True,
    surrogate: str | None = "",
) -> str | None:
    """None when storable, else a short reason (for logs and Cache-Status detail)."""
    if method.upper() not in STORABLE_METHODS:
        return f"method {method} not stored"
    if "no-store" in request_directives(request_headers):
        return "request no-store"
    f = freshness(
        status, response_headers, cdn_cache_control=cdn_cache_control, surrogate=surrogate
    )
    if not f.storable:
        return f.reason
    if get_all(request_headers, "authorization"):
        cc = response_directives(response_headers, cdn_cache_control, surrogate)
        if not ("public" in cc or "s-maxage" in cc or "must-revalidate" in cc):
            return "Authorization without public, s-maxage or must-revalidate"
    return None


# ---------------------------------------------------------------- age


def age_value(headers: Headers) -> float:
    """The Age field (RFC 9111 5.1): first member, non-negative integer, else ignored (0)."""
    lines = get_all(headers, "age")
    if not lines:
        return 0.0
    members = lines[0].split(",")
    v = delta_seconds(members[0].strip(" \t"))
    return float(v) if v is not None else 0.0


@lru_cache(maxsize=8192)
def _age_inputs(headers: Pairs) -> tuple[float | None, float]:
    return parse_http_date(get_one(headers, "date")), age_value(headers)


def current_age(stored: Stored, now: float) -> float:
    """RFC 9111 4.2.3: corrected initial age plus resident time.

    >>> s = Stored(200, (("Date", "Thu, 01 Jan 1970 00:01:40 GMT"), ("Age", "10")), 100.0, 102.0)
    >>> current_age(s, 110.0)  # max(apparent 2, 10 + delay 2) + resident 8
    20.0
    """
    inputs = stored._memo.get("age")
    if inputs is None:
        inputs = stored._memo["age"] = _age_inputs(stored.headers)
    date, age = inputs
    if date is None:
        date = stored.response_time
    apparent_age = max(0.0, stored.response_time - date)
    response_delay = stored.response_time - stored.request_time
    corrected_age_value = age + response_delay
    corrected_initial_age = max(apparent_age, corrected_age_value)
    resident_time = now - stored.response_time
    return corrected_initial_age + resident_time


# ---------------------------------------------------------------- vary


def vary_fields(response_headers: Headers) -> tuple[str, ...]:
    """The lowercased field names of Vary (all lines), ``"*"`` included as a member."""
    return _vary_fields(tuple(response_headers))


@lru_cache(maxsize=8192)
def _vary_fields(response_headers: Pairs) -> tuple[str, ...]:
    out: list[str] = []
    for line in get_all(response_headers, "vary"):
        for m in split_list(line):
            m = m.lower()
            if m not in out:
                out.append(m)
    return tuple(sorted(out))


def _normalise(name: str, lines: list[str]) -> str:
    """RFC 9111 4.1: combine lines, drop optional whitespace, case/ordering where allowed."""
    members = [m for line in lines for m in split_list(line)]
    if name in CASE_INSENSITIVE_FIELDS:
        members = [m.lower() for m in members]
    if name in UNORDERED_FIELDS:
        members = sorted(members)
    return ",".join(members)


def vary_values(response_headers: Headers, request_headers: Headers) -> Pairs | None:
    """The request's normalised values of the Vary'd fields; None for ``Vary: *``.

    A field absent from the request gets the value :data:`ABSENT` (a NUL,
    which no field value can contain), so absent matches only absent and
    the tuple is empty only when the response has no Vary.

    >>> vary_values([("Vary", "Accept-Encoding")], [("accept-encoding", "GZIP, br")])
    (('accept-encoding', 'br,gzip'),)
    """
    names = vary_fields(response_headers)
    if "*" in names:
        return None
    return _request_values(names, request_headers)


def _request_values(names: tuple[str, ...], request_headers: Headers) -> Pairs:
    out = []
    for name in names:
        lines = get_all(request_headers, name)
        out.append((name, _normalise(name, lines) if lines else ABSENT))
    return tuple(out)


def vary_matches(stored: Stored, request_headers: Headers) -> bool:
    """Does this request select the stored response (RFC 9111 4.1)?"""
    names = stored._memo.get("vary")
    if names is None:
        names = stored._memo["vary"] = vary_fields(stored.headers)
    if not names:
        return stored.vary == ()
    if "*" in names:
        return False
    return _request_values(names, request_headers) == stored.vary


# ---------------------------------------------------------------- storing


def storable_headers(
    response_headers: Headers, *, cdn_cache_control: bool = True, surrogate: str | None = ""
) -> Pairs:
    """The response header fields a shared cache keeps (RFC 9111 3.1, 5.2.2.4, 5.2.2.7).

    Fields named by ``private="..."``/``no-cache="..."`` are dropped whether the
    governing field or Cache-Control names them: a Surrogate-Control that lets
    this cache store the response does not make its Set-Cookie everyone's.
    """
    drop = set(NOT_STORED_FIELDS)
    for line in get_all(response_headers, "connection"):
        drop.update(field_names(line))
    governing, name = governing_directives(response_headers, cdn_cache_control, surrogate)
    sources = [governing]
    if name != "cache-control":
        sources.append(parse_directives(get_all(response_headers, "cache-control")))
    for cc in sources:
        for directive in ("private", "no-cache"):
            if cc.get(directive):
                drop.update(field_names(cc[directive]))
    return tuple((n, v) for n, v in response_headers if n.lower() not in drop)


def _with_date(headers: Pairs, t: float) -> Pairs:
    """Give a response without a valid Date one (RFC 9110 6.6.1: the receiving cache adds it)."""
    if parse_http_date(get_one(headers, "date")) is not None:
        return headers
    return tuple((n, v) for n, v in headers if n.lower() != "date") + (
        ("Date", format_http_date(t)),
    )


def make_stored(
    method: str,
    request_headers: Headers,
    status: int,
    response_headers: Headers,
    request_time: float,
    response_time: float,
    *,
    cdn_cache_control: bool = True,
    surrogate: str | None = "",
) -> Stored:
    """The record to keep for a storable response (call :func:`is_storable` first).

    ``surrogate`` (this cache's device token) is kept in the record, so that
    every later question about it reads Surrogate-Control the same way.
    """
    headers = _with_date(
        storable_headers(
            response_headers, cdn_cache_control=cdn_cache_control, surrogate=surrogate
        ),
        response_time,
    )
    vary = vary_values(headers, request_headers) or ()
    return Stored(status, headers, request_time, response_time, vary, method.upper(), surrogate)


# ---------------------------------------------------------------- reuse


def age_and_ttl(stored: Stored, now: float, **freshness_kw) -> tuple[float, float]:
    """Current age and remaining freshness (negative when stale), for Age and Cache-Status."""
    age = current_age(stored, now)
    return age, freshness_of(stored, **freshness_kw).lifetime - age


def classify(age: float, f: Freshness) -> str:
    """The hot-path core: ``"hit"`` | ``"stale"`` (within stale-while-revalidate) | ``"revalidate"``."""
    if f.no_cache:
        return "revalidate"
    if age < f.lifetime:
        return "hit"
    if f.swr and not f.must_revalidate and age - f.lifetime <= f.swr:
        return "stale"
    return "revalidate"


def decide(
    method: str,
    request_headers: Headers,
    stored: Stored | None,
    now: float,
    **freshness_kw,
) -> Decision:
    """Serve, serve stale, revalidate or forward (RFC 9111 4, 4.2.4, 5.2.1; RFC 5861).

    ``detail`` for forwards is the RFC 9211 ``fwd`` value: ``method``,
    ``uri-miss``, ``vary-miss``, ``request`` (the client asked to validate),
    ``stale``; for hits ``fresh`` or ``max-stale``.
    """
    method = method.upper()
    req = request_directives(request_headers)
    only_if_cached = "only-if-cached" in req

    def forward(action: str, detail: str, age: float = 0.0, ttl: float = 0.0) -> Decision:
        if only_if_cached:
            return Decision("gateway-timeout", age, ttl, "only-if-cached")
        return Decision(action, age, ttl, detail)

    if method not in STORABLE_METHODS:
        return forward("miss", "method")
    if stored is None or (stored.method == "HEAD" and method != "HEAD"):
        return forward("miss", "uri-miss")
    if not vary_matches(stored, request_headers):
        return forward("miss", "vary-miss")

    f = freshness_of(stored, **freshness_kw)
    age = current_age(stored, now)
    ttl = f.lifetime - age

    if f.no_cache:
        return forward("revalidate", "stale", age, ttl)
    if "no-cache" in req:
        return forward("revalidate", "request", age, ttl)
    if "max-age" in req and age > _delta(req, "max-age"):
        return forward("revalidate", "request", age, ttl)
    if "min-fresh" in req and ttl < _delta(req, "min-fresh"):
        return forward("revalidate", "request", age, ttl)
    if ttl > 0:
        return Decision("hit", age, ttl, "fresh")
    staleness = -ttl
    if "max-stale" in req and not f.no_stale:
        limit = req["max-stale"]
        if limit is None or staleness <= _delta(req, "max-stale"):
            return Decision("hit", age, ttl, "max-stale")
    if f.swr and not f.must_revalidate and staleness <= f.swr:
        return Decision("stale", age, ttl, "stale")
    return forward("revalidate", "stale", age, ttl)


def can_serve_stale_on_error(
    stored: Stored, request_headers: Headers, now: float, *, default_sie: float = 0.0, **kw
) -> bool:
    """RFC 5861 4: may a stale response stand in for an error (5xx, timeout, refused)?

    The window is the response's or the request's ``stale-if-error`` (the
    larger), else ``default_sie`` (a configured grace; RFC 9111 4.2.4 allows
    serving stale when disconnected). Forbidden by must-revalidate,
    proxy-revalidate and unqualified no-cache. A still-fresh response may
    always stand in.
    """
    f = freshness_of(stored, **kw)
    age = current_age(stored, now)
    staleness = age - f.lifetime
    if staleness < 0 and not f.no_cache:
        return True
    if f.must_revalidate or f.no_cache:
        return False
    req = request_directives(request_headers)
    window = max(f.sie, _delta(req, "stale-if-error") if "stale-if-error" in req else 0.0)
    window = window or default_sie
    return window > 0 and staleness <= window


# ---------------------------------------------------------------- validation


def conditional_headers(stored: Stored) -> list[tuple[str, str]]:
    """Validators to send when revalidating (RFC 9111 4.3.1)."""
    out = []
    etag = parse_etag(get_one(stored.headers, "etag"))
    if etag is not None:
        out.append(("If-None-Match", etag))
    last_modified = get_one(stored.headers, "last-modified")
    if parse_http_date(last_modified) is None:
        last_modified = get_one(stored.headers, "date")
    if parse_http_date(last_modified) is not None:
        out.append(("If-Modified-Since", last_modified))
    return out


def freshens(stored: Stored, response_headers: Headers) -> bool:
    """Does this 304 identify ``stored`` for update (RFC 9111 4.3.4)?

    A strong ETag in the 304 must equal the stored one strongly; a weak one
    must match weakly; otherwise an equal Last-Modified selects it. A 304
    carrying no validator at all updates the (single) stored response.
    When this is False, the caller fetches the representation again.
    """
    new_etag = parse_etag(get_one(response_headers, "etag"))
    old_etag = parse_etag(get_one(stored.headers, "etag"))
    if new_etag is not None:
        if old_etag is None:
            return False
        if new_etag.startswith("W/"):
            return weak_match(new_etag, old_etag)
        return strong_match(new_etag, old_etag)
    new_lm = parse_http_date(get_one(response_headers, "last-modified"))
    if new_lm is not None:
        return new_lm == parse_http_date(get_one(stored.headers, "last-modified"))
    return True


def merge_304(
    stored: Stored,
    response_headers: Headers,
    request_time: float,
    response_time: float,
) -> Stored:
    """Freshen ``stored`` with a 304's header fields (RFC 9111 3.2, 4.3.4).

    Each field the 304 carries replaces all stored lines of that name, except
    fields never stored and those describing the stored body (Content-Length,
    Content-Encoding, Content-Range). The stored Age is dropped (the 304's own
    Age, if any, replaces it) and a Date is added if the 304 had none, so the
    age calculation restarts from this validation.
    """
    incoming = storable_headers(response_headers, surrogate=stored.surrogate)
    new: dict[str, list[tuple[str, str]]] = {}
    for n, v in incoming:
        if n.lower() not in NOT_UPDATED_FIELDS:
            new.setdefault(n.lower(), []).append((n, v))
    new_date = "date" in new
    out: list[tuple[str, str]] = []
    replaced: set[str] = set()
    for n, v in stored.headers:
        low = n.lower()
        if low in new:
            out.extend(new.pop(low))  # first stored position, all the new lines
            replaced.add(low)
        elif low in replaced or low == "age" or (low == "date" and not new_date):
            continue
        else:
            out.append((n, v))
    for lines in new.values():
        out.extend(lines)
    headers = _with_date(tuple(out), response_time)
    return replace(stored, headers=headers, request_time=request_time, response_time=response_time)


def merge_head(
    stored: Stored,
    response_headers: Headers,
    request_time: float,
    response_time: float,
) -> Stored | None:
    """Freshen a stored GET response from a 200 answer to HEAD (RFC 9111 4.3.5).

    The HEAD response describes the same representation when every validator
    it carries (ETag, Last-Modified) and its Content-Length, if any, equal the
    stored ones: then its fields update the record as a 304's would. Otherwise
    ``None``: the stored response is outdated and should be treated as stale.
    """
    for name, parse in (("etag", parse_etag), ("last-modified", parse_http_date)):
        new = get_one(response_headers, name)
        if new is not None and parse(new) != parse(get_one(stored.headers, name)):
            return None
    length = get_one(response_headers, "content-length")
    if length is not None and length != get_one(stored.headers, "content-length"):
        return None
    return merge_304(stored, response_headers, request_time, response_time)


# ---------------------------------------------------------------- invalidation


def _origin(u) -> tuple[str, str, int | None]:
    scheme = u.scheme.lower()
    port = u.port or {"http": 80, "https": 443}.get(scheme)
    return scheme, (u.hostname or "").lower(), port


def invalidated_uris(
    method: str,
    status: int,
    request_uri: str,
    response_headers: Headers,
    *,
    host: str | None = None,
) -> list[str]:
    """RFC 9111 4.4: what an unsafe request with a non-error response invalidates.

    The target URI, and the Location and Content-Location URIs when they are
    on the same origin. URIs come back in the form of ``request_uri``: absolute
    if it is absolute, path-and-query if it is a path (then ``host``, the
    request's Host, identifies the origin for absolute references).

    >>> invalidated_uris("POST", 201, "/a", [("Location", "/b"), ("Content-Location", "//evil/c")])
    ['/a', '/b']
    """
    if method.upper() in SAFE_METHODS or not 200 <= status < 400:
        return []
    out = [request_uri]
    try:
        absolute = bool(urlsplit(request_uri).scheme)
        base = request_uri if absolute else f"http://{host or 'origin.invalid'}{request_uri}"
        origin = _origin(urlsplit(base))
    except ValueError:  # the request's own authority is malformed: nothing else is same-origin
        return out
    for name in ("location", "content-location"):
        value = get_one(response_headers, name)
        if not value:
            continue
        try:
            target = urlsplit(urljoin(base, value))
            if _origin(target) != origin:
                continue
        except ValueError:  # a malformed URI (bad port, bad IPv6 literal) names nothing
            continue
        if absolute:
            uri = target.geturl()
        else:
            uri = target.path + (f"?{target.query}" if target.query else "")
        if uri not in out:
            out.append(uri)
    return out


# ---------------------------------------------------------------- reporting


def _sf_string_or_token(s: str) -> str:
    if (
        s
        and (s[0].isalpha() or s[0] == "*")
        and all(c.isalnum() or c in "!#$%&'*+-.^_`|~:/" for c in s)
    ):
        return s
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def cache_status(
    *,
    hit: bool,
    fwd: str | None = None,
    fwd_status: int | None = None,
    stored: bool | None = None,
    ttl: float | None = None,
    collapsed: bool = False,
    detail: str | None = None,
    name: str = "cdn-sim",
) -> str:
    """An RFC 9211 Cache-Status field value for this cache.

    >>> cache_status(hit=False, fwd="miss", fwd_status=200, stored=True, ttl=59.7)
    'cdn-sim; fwd=miss; fwd-status=200; stored; ttl=59'
    >>> cache_status(hit=True, ttl=-1.5)
    'cdn-sim; hit; ttl=-2'
    """
    parts = [_sf_string_or_token(name)]
    if hit:
        parts.append("hit")
    if fwd:
        parts.append(f"fwd={fwd}")
    if fwd_status is not None:
        parts.append(f"fwd-status={int(fwd_status)}")
    if stored:
        parts.append("stored")
    if collapsed:
        parts.append("collapsed")
    if ttl is not None:
        parts.append(f"ttl={max(-DELTA_MAX, min(DELTA_MAX, math.floor(ttl)))}")
    if detail:
        parts.append(f"detail={_sf_string_or_token(detail)}")
    return "; ".join(parts)


def age_header(age: float) -> str:
    """The Age field value: whole seconds, never negative, saturated at 2**31."""
    return str(min(DELTA_MAX, max(0, int(age))))
