"""Scenario files: TOML in, frozen model objects out.

CONTRACT: the dataclasses below are what every other part (simulator, DNS
server, serve, reports) consumes. ``load_scenario(path)`` reads and validates a
file and returns a :class:`Scenario`; all problems are collected and raised at
once as one :class:`ScenarioError` (exit status 2, no traceback), each naming
the file, the key path (``edges[3].capacity``), the bad value and what is
allowed. Times are seconds, sizes bytes, bandwidths bits per second, rates
requests per second (floats or ints), already converted from their units.

Theory of operation: tomllib turns the text into plain dicts and lists. A
:class:`_Reader` then walks them section by section with a small vocabulary of
converters (duration, size, place, fraction, choice, ...). Each converter
either returns a value in base units or raises; the reader catches that, files
a problem under the key path, and carries on with the default so that later
cross-checks (parents, event edges, share sums) still run. Only when no
problem was found is the frozen :class:`Scenario` returned. Unknown keys are
checked against the keys each table allows, with a difflib "did you mean".
Array indices in key paths count from 0, like ``edges[0]`` for the first
``[[edges]]`` table. tomllib keeps no positions, so the line of each problem
is found afterwards by scanning the text for its table headers and ``key =``
lines. This module reads the file; it never touches the clock.

What belongs here: the schema (keys, types, ranges, defaults), unit and place
conversion, and checks across sections (parents, event edges, share sums).
What does not: what a policy or an event does. Those live in the registries
of the parts that act on them; this file only knows their names.

>>> s = load_scenario("quickstart")          # a bundled scenario, by name
>>> s.workload.expected_requests > 0
True
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from cdn.errors import UserError
from cdn.places import Place, PlaceError, resolve_place, top_cities
from cdn.units import UnitError, parse_bandwidth, parse_duration, parse_rate, parse_size

__all__ = [
    "CONTINENTS", "DEFAULT_CONTENT", "DISTRIBUTIONS", "DIURNAL_SHAPES", "EDGE_POLICIES",
    "EDGE_TIERS", "EVENT_KINDS", "ROUTING_POLICIES",
    "BackboneLink", "BackboneNode", "ClientPlace", "ContentType", "Distribution", "Dns", "Edge",
    "Event", "Network", "Origin", "ResolverGroup", "Scenario", "ScenarioError", "Workload",
    "bundled_scenarios", "find_scenario", "load_scenario", "scenario_from_bytes",
    "scenario_from_text",
]  # fmt: skip


class ScenarioError(UserError):
    """One or more problems in a scenario file; ``problems`` lists them all."""

    def __init__(self, path: str, problems: list[str], lines: list[int | None] | None = None):
        self.path = path
        self.problems = problems
        self.lines = lines or [None] * len(problems)  # line number of each problem, if known
        text = "\n".join(
            f"  {path}:{n}: {p}" if n else f"  {path}: {p}"
            for p, n in zip(problems, self.lines, strict=True)
        )
        super().__init__(f"{path}: {len(problems)} problem(s):\n{text}")


@dataclass(frozen=True)
class Distribution:
    """A positive random quantity: ``fixed`` (value), ``lognormal`` (median,
    sigma), ``exponential`` (mean = value) or ``pareto`` (value = scale, shape)."""

    kind: str = "fixed"
    value: float = 0.0  # fixed value, lognormal median, exponential mean, pareto scale
    sigma: float = 0.0  # lognormal sigma
    shape: float = 0.0  # pareto shape
    minimum: float = 0.0
    maximum: float = float("inf")


@dataclass(frozen=True)
class Origin:
    place: Place
    root: Path | None = None  # directory of real files for `cdn serve` (None: bundled demo site)
    service_time: Distribution = Distribution("fixed", 0.005)  # seconds
    # (glob pattern, Cache-Control value) in order; the first match wins.
    cache_control: tuple[tuple[str, str], ...] = ()
    surrogate_keys: tuple[tuple[str, str], ...] = ()  # (glob pattern, keys)


@dataclass(frozen=True)
class Edge:
    name: str
    place: Place
    capacity: int  # bytes
    policy: str = "lru"  # eviction policy name (edge.store registry)
    parent: str | None = None  # name of the shield edge it fetches through, if any
    max_object_size: int | None = None  # bytes; larger objects are not cached
    tier: str = "edge"  # "edge" (answered by DNS) or "shield" (parents only)
    weight: float = 1.0  # relative serving capacity for weighted routing
    max_rps: float | None = None  # load above this counts as overload


@dataclass(frozen=True)
class Dns:
    zone: str = "cdn.test"
    hosts: tuple[str, ...] = ("www",)  # relative to the zone
    ttl: float = 30.0  # seconds
    policy: str = "latency"  # routing policy name (cdn.routing registry)
    ecs: bool = True  # does the authoritative use EDNS Client Subnet when sent
    answers: int = 1  # edges per answer
    slack_ms: float = 10.0  # RTT slack for the near set (weighted, consistent)
    health_interval: float = 5.0  # seconds between active checks
    health_failures: int = 3  # k consecutive failures mark an edge down
    health_successes: int = 2  # m consecutive successes mark it up
    # edge for clients that cannot be located (None: the edge nearest the origin)
    fallback: str | None = None
    place: Place | None = None  # where the authoritative server sits (None: the origin's place)


@dataclass(frozen=True)
class ClientPlace:
    place: Place
    weight: float  # relative share of requests
    access_delay: float | None = None  # one-way last-mile seconds (None: network default)


@dataclass(frozen=True)
class ResolverGroup:
    name: str  # "isp" for the ISP resolvers, else the public resolver's name
    kind: str  # "isp" | "public"
    share: float  # fraction of clients behind it (shares sum to 1)
    places: tuple[Place, ...] = ()  # public resolver sites (anycast: the nearest serves)
    ecs: bool = False  # does it send EDNS Client Subnet
    cache: bool = True


@dataclass(frozen=True)
class ContentType:
    name: str  # "html", "image", ...
    share: float  # fraction of catalog objects
    size: Distribution  # bytes
    cache_control: str = "max-age=3600"
    extension: str = ""  # file extension used for the synthetic path and Content-Type


@dataclass(frozen=True)
class Workload:
    duration: float = 60.0  # seconds
    rate: float = 1000.0  # requests per second (global mean)
    requests: int | None = None  # if set, stop after this many requests instead
    diurnal: float = 0.0  # amplitude 0..1 of the local time-of-day shape
    diurnal_shape: str = "sine"  # workload shape name (registry)
    start_hour_utc: float = 0.0  # UTC hour at t = 0, for local time of day
    catalog_size: int = 10_000
    zipf_alpha: float = 0.8
    content: tuple[ContentType, ...] = ()
    keepalive: float = 0.5  # share of requests on a reused connection
    client_dns_cache: float = 60.0  # seconds a client keeps a DNS answer (0: not at all)
    trace: Path | None = None  # CSV time,client,key,size replayed instead of the generator

    @property
    def expected_requests(self) -> int:
        """How many requests a run makes: ``requests`` if set, else rate x duration."""
        return self.requests if self.requests is not None else round(self.rate * self.duration)


@dataclass(frozen=True)
class Event:
    at: float  # seconds from the start
    kind: str  # edge_down edge_up origin_down origin_up origin_slow purge flash_crowd
    edge: str | None = None
    duration: float | None = None  # seconds (origin_down, origin_slow, flash_crowd)
    url: str | None = None  # purge: one path
    prefix: str | None = None  # purge: a path prefix
    surrogate_key: str | None = None  # purge: a surrogate key
    object: int | None = None  # flash_crowd: catalog object id
    region: str | None = None  # flash_crowd: continent code or country code
    factor: float = 1.0  # flash_crowd rate multiplier
    service_time: float | None = None  # origin_slow: seconds


@dataclass(frozen=True)
class BackboneNode:
    name: str
    place: Place


@dataclass(frozen=True)
class BackboneLink:
    a: str
    b: str
    stretch: float | None = None  # route length over great circle (None: the model's default)
    latency: float | None = None  # one-way seconds, overrides the distance
    bandwidth: float | None = None  # bits per second


@dataclass(frozen=True)
class Network:
    access_delay: float = 0.005  # one-way last-mile seconds for clients
    access_delays: tuple[tuple[str, float], ...] = ()  # (place name as written, seconds)
    bandwidth: float = 100e6  # client path bits per second
    server_bandwidth: float = 10e9  # edge-origin path bits per second
    # None: the built-in global backbone; otherwise the scenario's own.
    nodes: tuple[BackboneNode, ...] | None = None
    links: tuple[BackboneLink, ...] | None = None
    connect_timeout: float = 3.0  # seconds a client waits on a dead edge
    tls: bool = True


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str  # the file it came from ("<bundled>/quickstart.toml" for bundled ones)
    text_sha256: str  # hash of the file's bytes
    text: str  # the file's text, for reports
    seed: int
    origin: Origin
    edges: tuple[Edge, ...]
    dns: Dns
    clients: tuple[ClientPlace, ...]
    resolvers: tuple[ResolverGroup, ...]
    workload: Workload
    events: tuple[Event, ...] = ()
    network: Network = field(default_factory=Network)
    description: str = ""

    def edge(self, name: str) -> Edge:
        for e in self.edges:
            if e.name == name:
                return e
        raise KeyError(name)


# ----------------------------------------------------------------------------
# What a scenario may say: names users pick from, and the default content mix.

# Names from registries owned elsewhere, repeated here so that loading a file
# stays light (tests check they match edge.store, cdn.routing, cdn.workload and
# cdn.distributions).
EDGE_POLICIES = ("lru", "fifo", "s3fifo", "sieve")
ROUTING_POLICIES = ("nearest", "latency", "weighted", "consistent")
DIURNAL_SHAPES = ("sine", "evening", "flat")
EDGE_TIERS = ("edge", "shield")
CONTINENTS = ("AF", "AN", "AS", "EU", "NA", "OC", "SA")
DISTRIBUTIONS = ("fixed", "lognormal", "exponential", "pareto")

# kind -> (required keys, optional keys), besides "at" and "kind".
EVENT_KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "edge_down": (("edge",), ("duration",)),  # with a duration: back up after it
    "edge_up": (("edge",), ()),
    "origin_down": ((), ("duration",)),
    "origin_up": ((), ()),
    "origin_slow": (("service_time",), ("duration",)),
    "purge": ((), ("url", "prefix", "surrogate_key")),  # exactly one, on every edge
    "flash_crowd": (("factor", "duration"), ("object", "region")),  # exactly one of the two
}

_KB, _MB = 1000.0, 1_000_000.0

# Used when [[workload.content]] is absent: a typical web property with video.
# Sizes follow HTTP Archive medians (html ~30 KB, js ~20 KB, images ~40 KB, heavy
# tails) and 2-4 s HLS segments at a few Mbit/s (~1.5 MB).
DEFAULT_CONTENT: tuple[ContentType, ...] = (
    ContentType(
        "html", 0.10, Distribution("lognormal", 30 * _KB, 0.7, minimum=1 * _KB, maximum=2 * _MB),
        "max-age=60, stale-while-revalidate=30", ".html",
    ),
    ContentType(
        "script", 0.12, Distribution("lognormal", 20 * _KB, 1.0, minimum=500, maximum=3 * _MB),
        "max-age=31536000, immutable", ".js",
    ),
    ContentType(
        "style", 0.08, Distribution("lognormal", 12 * _KB, 0.8, minimum=500, maximum=1 * _MB),
        "max-age=31536000, immutable", ".css",
    ),
    ContentType(
        "image", 0.45, Distribution("lognormal", 40 * _KB, 1.2, minimum=1 * _KB, maximum=10 * _MB),
        "max-age=86400", ".jpg",
    ),
    ContentType(
        "video", 0.25, Distribution("lognormal", 1.5 * _MB, 0.4, minimum=200 * _KB, maximum=20 * _MB),
        "max-age=604800", ".ts",
    ),
)  # fmt: skip

_KEYS = {
    "": ("name", "description", "seed", "origin", "edge_defaults", "edges", "dns", "clients",
         "resolvers", "workload", "events", "network"),
    "origin": ("place", "root", "service_time", "cache_control", "surrogate_keys"),
    "origin.cache_control": ("pattern", "value"),
    "origin.surrogate_keys": ("pattern", "keys"),
    "edge_defaults": ("capacity", "policy", "max_object_size", "max_rps", "weight"),
    "edges": ("name", "place", "capacity", "policy", "parent", "tier", "weight", "max_rps",
              "max_object_size"),
    "dns": ("zone", "hosts", "ttl", "policy", "ecs", "answers", "slack", "health_interval",
            "health_failures", "health_successes", "fallback", "place"),
    "clients": ("place", "top", "continent", "country", "weight", "access_delay"),
    "resolvers": ("isp", "isp_ecs", "public"),
    "resolvers.public": ("name", "share", "places", "ecs", "cache"),
    "workload": ("duration", "rate", "requests", "diurnal", "diurnal_shape", "start_hour_utc",
                 "catalog_size", "zipf_alpha", "keepalive", "client_dns_cache", "trace",
                 "content"),
    "workload.content": ("type", "share", "size", "cache_control", "extension"),
    "events": ("at", "kind", "edge", "duration", "url", "prefix", "surrogate_key", "object",
               "region", "factor", "service_time"),
    "network": ("access_delay", "access_delays", "bandwidth", "server_bandwidth",
                "connect_timeout", "tls", "nodes", "links"),
    "network.nodes": ("name", "place"),
    "network.links": ("a", "b", "stretch", "latency", "bandwidth"),
    "distribution": ("distribution", "value", "median", "sigma", "mean", "scale", "shape",
                     "min", "max"),
}  # fmt: skip

_DIST_KEYS = {
    "fixed": ("value",),
    "lognormal": ("median", "sigma"),
    "exponential": ("mean",),
    "pareto": ("scale", "shape"),
}
_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


# ----------------------------------------------------------------------------
# Finding and loading files.


def bundled_dir() -> Path:
    """Where the bundled scenarios are: the installed package ``cdn.scenarios``, or
    the top-level ``scenarios/`` directory when ``cdn`` is imported from a source tree
    (as ``python -m pytest`` does from the repository root)."""
    try:
        return Path(str(resources.files("cdn.scenarios")))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parent.parent / "scenarios"


def bundled_scenarios() -> list[str]:
    """Names of the scenarios shipped in the package, e.g. ``["failover", "global", ...]``."""
    root = bundled_dir()
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".toml"))


def find_scenario(name: str | Path) -> Path:
    """A path to an existing scenario file: ``name`` itself, or a bundled scenario
    called ``name`` (``"quickstart"`` or ``"quickstart.toml"``)."""
    path = Path(name)
    if path.is_file():
        return path
    text = str(name)
    if "/" not in text and "\\" not in text:
        stem = text[:-5] if text.endswith(".toml") else text
        bundled = bundled_dir() / f"{stem}.toml"
        if bundled.is_file():
            return bundled
    if path.is_dir():
        raise UserError(f"{name}: is a directory, not a scenario file")
    names = ", ".join(bundled_scenarios())
    raise UserError(
        f"{name}: no such scenario file, and no bundled scenario by that name; bundled: {names}"
    )


def load_scenario(path_or_name: str | Path) -> Scenario:
    """Read, validate and convert a scenario file (a path or a bundled name)."""
    path = find_scenario(path_or_name)
    bundled = bundled_dir().resolve()
    # a name that found a bundled file (not a path the user gave) shows as <bundled>/
    shown = str(path_or_name)
    if not Path(shown).is_file() and path.resolve().parent == bundled:
        shown = f"<bundled>/{path.name}"
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"{shown}: cannot read: {exc.strerror}") from None
    return scenario_from_bytes(data, shown, base_dir=path.resolve().parent, stem=path.stem)


def scenario_from_text(text: str, path: str = "<text>", base_dir: Path | None = None) -> Scenario:
    """Validate scenario TOML given as a string (relative paths resolve against
    ``base_dir``, default the current directory)."""
    return scenario_from_bytes(
        text.encode(), path, base_dir=base_dir or Path.cwd(), stem=Path(path).stem
    )


def scenario_from_bytes(data: bytes, path: str, base_dir: Path, stem: str) -> Scenario:
    """The scenario in ``data`` (a file's bytes), shown as ``path`` in messages."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            path, [f"not UTF-8 text (byte {exc.start}); TOML files must be UTF-8"]
        ) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(path, [f"TOML syntax error: {exc}"]) from None
    reader = _Reader(base_dir)
    scenario = reader.scenario(raw, path=path, text=text, stem=stem)
    if reader.problems:
        where = _key_lines(text)
        located = sorted(  # in file order; problems with no line (cross-checks) keep theirs
            ((_line_of(p, where), i, p) for i, p in enumerate(reader.problems)),
            key=lambda x: (x[0] is None, x[0] or 0, x[1]),
        )
        raise ScenarioError(path, [p for _, _, p in located], [n for n, _, _ in located])
    return replace(scenario, text_sha256=hashlib.sha256(data).hexdigest())


# ----------------------------------------------------------------------------
# The reader: converters and the walk over the sections.


class _Bad(ValueError):
    """A value that does not fit; the message says what is allowed. ``parts``
    holds (sub-key, message) pairs for problems inside an inline table."""

    def __init__(self, message: str = "", parts: list[tuple[str, str]] | None = None):
        super().__init__(message or "; ".join(f"{k}: {m}" for k, m in parts or ()))
        self.parts = parts or []


def _show(value: Any) -> str:
    """A value the way it looks in TOML (double-quoted strings)."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return str(value)


def _type_name(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a float", str: "a string",
            list: "an array", dict: "a table"}.get(type(value), f"a {type(value).__name__}")  # fmt: skip


def _got(value: Any) -> str:
    """``a string "heavy"``, ``an integer 1``, ``an array``: what the user wrote."""
    if isinstance(value, list | dict):
        return _type_name(value)
    return f"{_type_name(value)} {_show(value)}"


def _number(value: Any, what: str = "a number") -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Bad(f"expected {what}, got {_got(value)}")
    if not math.isfinite(value):
        raise _Bad(f"expected a finite number, got {value}")
    return float(value)


def _fmt(x: float) -> str:
    """2147483647 -> "2,147,483,647"; 0.5 -> "0.5"."""
    return f"{x:,.0f}" if x == int(x) and abs(x) >= 1e4 else f"{x:g}"


def _range(
    x: float, shown: str, lo: float | None, hi: float | None, lo_open: bool, unit: str = ""
) -> None:
    low = lo is not None and (x < lo or (lo_open and x == lo))
    if not low and (hi is None or x <= hi):
        return
    if lo is not None and hi is not None:
        allowed = (
            f"more than {_fmt(lo)} and at most {_fmt(hi)}{unit}"
            if lo_open
            else f"{_fmt(lo)} to {_fmt(hi)}{unit}"
        )
    elif lo is not None:
        allowed = f"more than {_fmt(lo)}{unit}" if lo_open else f"at least {_fmt(lo)}{unit}"
    else:
        allowed = f"at most {_fmt(hi)}{unit}"
    raise _Bad(f"{shown} is out of range; allowed: {allowed}")


def number(lo: float | None = None, hi: float | None = None, lo_open: bool = False) -> Callable:
    def conv(v: Any) -> float:
        x = _number(v)
        _range(x, _show(v), lo, hi, lo_open)
        return x

    return conv


def integer(lo: int | None = None, hi: int | None = None) -> Callable:
    def conv(v: Any) -> int:
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        if isinstance(v, bool) or not isinstance(v, int):
            raise _Bad(f"expected an integer, got {_got(v)}")
        _range(v, _show(v), lo, hi, False)
        return v

    return conv


_EXAMPLES = {
    parse_duration: '"250ms"',
    parse_size: '"2GiB"',
    parse_bandwidth: '"100Mbit/s"',
    parse_rate: '"2000/s"',
}
_BASE_UNITS = {
    parse_duration: " s",
    parse_size: " bytes",
    parse_bandwidth: " bit/s",
    parse_rate: "/s",
}


def quantity(
    parser: Callable, lo: float | None = 0.0, hi: float | None = None, lo_open: bool = False
) -> Callable:
    def conv(v: Any) -> float:
        if isinstance(v, list | dict):
            example = _EXAMPLES.get(parser, '"250ms"')
            raise _Bad(f"expected a quantity such as {example}, got {_type_name(v)}")
        x = parser(v)  # raises UnitError naming the allowed units
        _range(x, _show(v), lo, hi, lo_open, _BASE_UNITS.get(parser, ""))
        return x

    return conv


def choice(*allowed: str) -> Callable:
    def conv(v: Any) -> str:
        if not isinstance(v, str):
            raise _Bad(f"expected one of {', '.join(allowed)}; got {_got(v)}")
        if v not in allowed:
            close = difflib.get_close_matches(v, allowed, n=1)
            hint = f'did you mean "{close[0]}"? ' if close else ""
            raise _Bad(f"{_show(v)} is not allowed; {hint}allowed: {', '.join(allowed)}")
        return v

    return conv


def string(pattern: re.Pattern | None = None, what: str = "") -> Callable:
    def conv(v: Any) -> str:
        if not isinstance(v, str):
            raise _Bad(f"expected a string, got {_got(v)}")
        if pattern is not None and not pattern.match(v):
            raise _Bad(f"{_show(v)} is not allowed; {what}")
        return v

    return conv


def boolean(v: Any) -> bool:
    if not isinstance(v, bool):
        raise _Bad(f"expected true or false, got {_got(v)}")
    return v


_MISSING = object()


class _Reader:
    def __init__(self, base_dir: Path):
        self.base_dir = base_dir
        self.problems: list[str] = []
        self._places: dict[str, Place | PlaceError] = {}
        self._access_delays: list[tuple[Place, float]] = []  # filled by network()

    # -- plumbing ------------------------------------------------------------

    def problem(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    def table(self, value: Any, path: str, schema: str) -> dict:
        """``value`` as a table, with unknown keys reported against ``_KEYS[schema]``."""
        if value is _MISSING:
            return {}
        if not isinstance(value, dict):
            self.problem(
                path,
                f"expected a table ([{path}] or {{...}}), got {_got(value)}",
            )
            return {}
        allowed = _KEYS[schema]
        for key in value:
            if key not in allowed:
                self.problem(_join(path, key), _unknown_key(key, allowed, schema))
        return value

    def tables(self, value: Any, path: str, schema: str) -> list[tuple[str, dict]]:
        """An array of tables (``[[path]]``) as (key path, table) pairs."""
        if value is _MISSING:
            return []
        if isinstance(value, dict):
            self.problem(
                path,
                f"expected an array of tables, written [[{path}]], got a single table [{path}]",
            )
            return []
        if not isinstance(value, list):
            self.problem(
                path, f"expected an array of tables, written [[{path}]], got {_type_name(value)}"
            )
            return []
        out = []
        for i, item in enumerate(value):
            p = f"{path}[{i}]"
            if isinstance(item, dict):
                out.append((p, self.table(item, p, schema)))
            else:
                self.problem(p, f"expected a table, got {_got(item)}")
        return out

    def get(
        self,
        tbl: dict,
        key: str,
        path: str,
        conv: Callable,
        default: Any = None,
        required: bool = False,
    ) -> Any:
        """Convert ``tbl[key]``; on any problem, file it and return ``default``."""
        if key not in tbl:
            if required:
                self.problem(_join(path, key), "missing; this key is required")
            return default
        value = tbl[key]
        try:
            return conv(value)
        except _Bad as exc:
            for sub, message in exc.parts or [("", str(exc))]:
                self.problem(_join(_join(path, key), sub), message)
        except (UnitError, PlaceError) as exc:
            self.problem(_join(path, key), _message(exc, value))
        return default

    def place(self, v: Any) -> Place:
        if not isinstance(v, str):
            raise _Bad(
                f'expected a place name such as "FRA", "Lagos" or "52.5,13.4", got {_got(v)}'
            )
        if v not in self._places:
            try:
                self._places[v] = resolve_place(v)
            except PlaceError as exc:
                self._places[v] = exc
        found = self._places[v]
        if isinstance(found, PlaceError):
            raise found
        return found

    def places(self, v: Any) -> tuple[Place, ...]:
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not v:
            raise _Bad(
                f'expected a non-empty array of place names such as ["IAD", "FRA"], got {_show(v)}'
            )
        out, bad = [], []
        for i, item in enumerate(v):
            try:
                out.append(self.place(item))
            except (_Bad, PlaceError) as exc:
                bad.append((f"[{i}]", _message(exc, item)))
        if bad:
            raise _Bad(parts=bad)
        return tuple(out)

    def file_path(self, kind: str) -> Callable:
        def conv(v: Any) -> Path:
            if not isinstance(v, str) or not v:
                raise _Bad(f"expected a path (relative to the scenario file), got {_show(v)}")
            p = Path(v).expanduser()
            p = p if p.is_absolute() else self.base_dir / p
            ok = p.is_dir() if kind == "directory" else p.is_file()
            if not ok:
                raise _Bad(f"{_show(v)}: no such {kind} (looked at {p})")
            return p.resolve()

        return conv

    def distribution(self, parser: Callable, unit_hint: str, zero: bool = False) -> Callable:
        """A quantity ("14KB") or a table {distribution = "lognormal", median = ..., sigma = ...};
        ``zero`` allows a fixed 0 (a service time, not a size)."""
        quantity_conv = quantity(parser, lo=0.0, lo_open=True)

        def conv(v: Any) -> Distribution:
            if not isinstance(v, dict):
                return Distribution("fixed", quantity(parser, 0.0, lo_open=not zero)(v))
            problems: list[tuple[str, str]] = []
            kind = v.get("distribution", _MISSING)
            if kind is _MISSING:
                raise _Bad(
                    f"a distribution table needs distribution = one of {', '.join(DISTRIBUTIONS)}"
                )
            kind = choice(*DISTRIBUTIONS)(kind)
            wanted = _DIST_KEYS[kind]
            for key in v:
                if key not in _KEYS["distribution"]:
                    problems.append((key, _unknown_key(key, _KEYS["distribution"], "distribution")))
                elif key not in (*wanted, "distribution", "min", "max"):
                    problems.append(
                        (key, f"does not apply to {kind}; its keys: {', '.join(wanted)}, min, max")
                    )
            vals: dict[str, float] = {}
            for key in (*wanted, "min", "max"):
                if key not in v:
                    if key in wanted:
                        problems.append((key, f"missing; {kind} needs {', '.join(wanted)}"))
                    continue
                try:
                    if key in ("sigma", "shape"):
                        vals[key] = number(lo=0.0, lo_open=key == "shape")(v[key])
                    else:
                        vals[key] = (
                            quantity_conv(v[key]) if key != "min" else quantity(parser)(v[key])
                        )
                except (_Bad, UnitError) as exc:
                    problems.append((key, str(exc)))
            lo, hi = vals.get("min", 0.0), vals.get("max", math.inf)
            if lo > hi:
                problems.append(("min", f"is larger than max; allowed: min <= max ({unit_hint})"))
            if problems:
                raise _Bad(parts=problems)
            main = vals.get(wanted[0], 0.0)
            return Distribution(kind, main, vals.get("sigma", 0.0), vals.get("shape", 0.0), lo, hi)

        return conv

    # -- sections ------------------------------------------------------------

    def scenario(self, raw: dict, path: str, text: str, stem: str) -> Scenario:
        top = self.table(raw, "", "")
        name = self.get(top, "name", "", string(), stem)
        description = self.get(top, "description", "", string(), "")
        seed = self.get(top, "seed", "", integer(lo=0), 0)
        for key in ("origin", "edges", "clients"):
            if key not in top:
                self.problem(
                    key,
                    f"missing; a scenario needs [origin], [[edges]] and [[clients]] (see {_README})",
                )
        origin = self.origin(top.get("origin", _MISSING))
        edges = self.edges(top.get("edge_defaults", _MISSING), top.get("edges", _MISSING))
        dns = self.dns(top.get("dns", _MISSING), edges)
        workload = self.workload(top.get("workload", _MISSING))
        network = self.network(top.get("network", _MISSING))
        clients = self.clients(top.get("clients", _MISSING))  # after network: access delays
        resolvers = self.resolvers(top.get("resolvers", _MISSING))
        events = self.events(top.get("events", _MISSING), edges, workload, clients)
        return Scenario(
            name=name,
            path=path,
            text_sha256="",
            text=text,
            seed=seed,
            origin=origin,
            edges=edges,
            dns=dns,
            clients=clients,
            resolvers=resolvers,
            workload=workload,
            events=events,
            network=network,
            description=description,
        )

    def origin(self, value: Any) -> Origin:
        t = self.table(value, "origin", "origin")
        place = self.get(t, "place", "origin", self.place, None, required=isinstance(value, dict))
        root = self.get(t, "root", "origin", self.file_path("directory"))
        service = self.get(
            t,
            "service_time",
            "origin",
            self.distribution(parse_duration, "durations", zero=True),
            Origin.service_time,
        )
        cache_control = tuple(
            (
                self.get(r, "pattern", p, string(), "", required=True),
                self.get(r, "value", p, string(), "", required=True),
            )
            for p, r in self.tables(
                t.get("cache_control", _MISSING), "origin.cache_control", "origin.cache_control"
            )
        )
        surrogate = tuple(
            (
                self.get(r, "pattern", p, string(), "", required=True),
                self.get(r, "keys", p, _keys, "", required=True),
            )
            for p, r in self.tables(
                t.get("surrogate_keys", _MISSING), "origin.surrogate_keys", "origin.surrogate_keys"
            )
        )
        return Origin(place, root, service, cache_control, surrogate)  # type: ignore[arg-type]

    def edges(self, defaults_value: Any, value: Any) -> tuple[Edge, ...]:
        d = self.table(defaults_value, "edge_defaults", "edge_defaults")
        capacity = self.get(
            d, "capacity", "edge_defaults", quantity(parse_size, 0, lo_open=True), 2**30
        )
        policy = self.get(d, "policy", "edge_defaults", choice(*EDGE_POLICIES), "lru")
        max_obj = self.get(
            d, "max_object_size", "edge_defaults", quantity(parse_size, 0, lo_open=True)
        )
        max_rps = self.get(d, "max_rps", "edge_defaults", quantity(parse_rate, 0, lo_open=True))
        weight = self.get(d, "weight", "edge_defaults", number(0, lo_open=True), 1.0)
        edges: list[Edge] = []
        paths: dict[str, str] = {}
        rows = self.tables(value, "edges", "edges")
        if value is not _MISSING and not rows and isinstance(value, list):
            self.problem("edges", "empty; a scenario needs at least one [[edges]] table")
        for p, t in rows:
            name = self.get(
                t,
                "name",
                p,
                string(_LABEL, "use letters, digits and '-' (it becomes a DNS label)"),
                required=True,
            )
            if name is not None and name in paths:
                self.problem(
                    f"{p}.name",
                    f"duplicate edge name {_show(name)} (also {paths[name]}); edge names must be unique",
                )
            elif name is not None:
                paths[name] = p
            edges.append(
                Edge(
                    name=name or f"#{len(edges)}",
                    place=self.get(t, "place", p, self.place, required=True),
                    capacity=int(
                        self.get(t, "capacity", p, quantity(parse_size, 0, lo_open=True), capacity)
                    ),
                    policy=self.get(t, "policy", p, choice(*EDGE_POLICIES), policy),
                    parent=self.get(t, "parent", p, string()),
                    max_object_size=_int_or_none(
                        self.get(
                            t, "max_object_size", p, quantity(parse_size, 0, lo_open=True), max_obj
                        )
                    ),
                    tier=self.get(t, "tier", p, choice(*EDGE_TIERS), "edge"),
                    weight=self.get(t, "weight", p, number(0, lo_open=True), weight),
                    max_rps=self.get(
                        t, "max_rps", p, quantity(parse_rate, 0, lo_open=True), max_rps
                    ),
                )
            )
        by_name = {e.name: e for e in edges}
        for (p, _), e in zip(rows, edges, strict=True):
            if e.parent is None:
                continue
            parent = by_name.get(e.parent)
            if parent is None:
                self.problem(
                    f"{p}.parent",
                    f"{_show(e.parent)} is not an edge; {_names_hint(e.parent, by_name)}",
                )
            elif parent.name == e.name:
                self.problem(
                    f"{p}.parent",
                    f"{_show(e.parent)} is the edge itself; a parent must be another edge",
                )
            elif parent.tier != "shield":
                self.problem(
                    f"{p}.parent",
                    f'{_show(e.parent)} has tier "edge"; a parent must have tier = "shield"',
                )
        for e in edges:  # a cycle of shields would fetch forever
            seen, cur = set(), e
            if e.parent == e.name:
                continue  # reported above
            while cur is not None and cur.parent in by_name and cur.name not in seen:
                seen.add(cur.name)
                cur = by_name[cur.parent]
            if cur is not None and cur.name in seen and cur is e:
                self.problem(
                    f"{paths.get(e.name, 'edges')}.parent",
                    f"parents form a cycle through {_show(e.name)}",
                )
        if rows and edges and not any(e.tier == "edge" for e in edges):
            self.problem(
                "edges",
                'every edge has tier = "shield"; at least one must be tier = "edge" for DNS to answer with',
            )
        return tuple(edges)

    def dns(self, value: Any, edges: tuple[Edge, ...]) -> Dns:
        t, p = self.table(value, "dns", "dns"), "dns"
        zone = self.get(t, "zone", p, _domain, Dns.zone)
        hosts = self.get(t, "hosts", p, _hosts, Dns.hosts)
        servable = [e for e in edges if e.tier == "edge"]
        answers = self.get(t, "answers", p, integer(lo=1), 1)
        if servable and answers > len(servable):
            self.problem(
                "dns.answers",
                f'{answers} is more than the {len(servable)} edge(s) with tier "edge"; allowed: 1 to {len(servable)}',
            )
        fallback = self.get(t, "fallback", p, string())
        names = {e.name: e for e in edges}
        if fallback is not None and fallback not in names:
            self.problem(
                "dns.fallback", f"{_show(fallback)} is not an edge; {_names_hint(fallback, names)}"
            )
        elif fallback is not None and names[fallback].tier != "edge":
            self.problem(
                "dns.fallback",
                f'{_show(fallback)} is a shield; the fallback must have tier = "edge"',
            )
        return Dns(
            zone=zone,
            hosts=hosts,
            ttl=self.get(t, "ttl", p, _ttl, Dns.ttl),
            policy=self.get(t, "policy", p, choice(*ROUTING_POLICIES), Dns.policy),
            ecs=self.get(t, "ecs", p, boolean, Dns.ecs),
            answers=answers,
            slack_ms=1000
            * self.get(t, "slack", p, quantity(parse_duration, 0), Dns.slack_ms / 1000),
            health_interval=self.get(
                t,
                "health_interval",
                p,
                quantity(parse_duration, 0, lo_open=True),
                Dns.health_interval,
            ),
            health_failures=self.get(t, "health_failures", p, integer(lo=1), Dns.health_failures),
            health_successes=self.get(
                t, "health_successes", p, integer(lo=1), Dns.health_successes
            ),
            fallback=fallback,
            place=self.get(t, "place", p, self.place),
        )

    def clients(self, value: Any) -> tuple[ClientPlace, ...]:
        rows = self.tables(value, "clients", "clients")
        if value is not _MISSING and not rows and isinstance(value, list):
            self.problem("clients", "empty; a scenario needs at least one [[clients]] table")
        delays = dict(self._access_delays)
        merged: dict[Place, list] = {}  # place -> [weight, access_delay]
        for p, t in rows:
            weight = self.get(t, "weight", p, number(0, lo_open=True), 1.0)
            access = self.get(t, "access_delay", p, quantity(parse_duration, 0))
            found: list[tuple[Place, float]] = []
            if ("place" in t) == ("top" in t):
                self.problem(
                    p,
                    'give either place = "Lagos" or top = 150 (the most populous cities), not both or neither',
                )
            elif "place" in t:
                for key in ("continent", "country"):
                    if key in t:
                        self.problem(
                            f"{p}.{key}",
                            "only applies with top = N; with place = ... name the place itself",
                        )
                place = self.get(t, "place", p, self.place)
                if place is not None:
                    found.append((place, weight))
            else:
                n = self.get(t, "top", p, integer(lo=1, hi=10_000))
                continent = self.get(t, "continent", p, choice(*CONTINENTS))
                country = self.get(
                    t,
                    "country",
                    p,
                    string(re.compile(r"^[A-Z]{2}$"), 'use an ISO 3166 country code such as "US"'),
                )
                if (
                    n is not None
                    and (continent is not None or "continent" not in t)
                    and (country is not None or "country" not in t)
                ):
                    try:
                        cities = top_cities(n, continent=continent, country=country)
                    except PlaceError as exc:
                        self.problem(p, str(exc))
                        cities = None
                    if cities is not None and not cities:
                        self.problem(
                            p, f"no cities match (continent={continent}, country={country})"
                        )
                    # weight multiplies the population in millions
                    found.extend((c, weight * max(c.population, 1) / 1e6) for c in cities or ())
            for place, w in found:
                entry = merged.setdefault(place, [0.0, None])
                entry[0] += w
                if entry[1] is None:
                    entry[1] = access if access is not None else delays.get(place)
        return tuple(ClientPlace(pl, w, a) for pl, (w, a) in merged.items())

    def resolvers(self, value: Any) -> tuple[ResolverGroup, ...]:
        t, p = self.table(value, "resolvers", "resolvers"), "resolvers"
        groups: list[ResolverGroup] = []
        names: set[str] = {"isp"}
        for q, r in self.tables(t.get("public", _MISSING), "resolvers.public", "resolvers.public"):
            name = self.get(
                r, "name", q, string(_LABEL, "use letters, digits and '-'"), required=True
            )
            if name in names:
                self.problem(
                    f"{q}.name",
                    f'duplicate resolver name {_show(name)}; names must be unique and not "isp"',
                )
            names.add(name or "")
            groups.append(
                ResolverGroup(
                    name=name or "",
                    kind="public",
                    share=self.get(r, "share", q, number(0, 1), 0.0, required=True),
                    places=self.get(r, "places", q, self.places, (), required=True),
                    ecs=self.get(r, "ecs", q, boolean, False),
                    cache=self.get(r, "cache", q, boolean, True),
                )
            )
        public = sum(g.share for g in groups)
        isp = self.get(t, "isp", p, number(0, 1))
        if isp is None and "isp" not in t:
            isp = 1.0 - public
            if isp < -1e-9:
                self.problem(
                    "resolvers.public",
                    f"public shares sum to {public:g}; allowed: a total of at most 1 (the rest is isp)",
                )
        elif isp is not None and abs(isp + public - 1.0) > 1e-6:
            parts = " + ".join(f"{g.name} {g.share:g}" for g in groups)
            self.problem(
                "resolvers",
                f"shares sum to {isp + public:g} (isp {isp:g}{' + ' + parts if parts else ''}); they must sum to 1",
            )
        isp_group = ResolverGroup(
            "isp", "isp", max(isp or 0.0, 0.0), (), self.get(t, "isp_ecs", p, boolean, False)
        )
        return tuple(g for g in (isp_group, *groups) if g.share > 0) or (isp_group,)

    def workload(self, value: Any) -> Workload:
        t, p = self.table(value, "workload", "workload"), "workload"
        catalog = self.get(t, "catalog_size", p, integer(lo=1), Workload.catalog_size)
        content = []
        rows = self.tables(t.get("content", _MISSING), "workload.content", "workload.content")
        for q, c in rows:
            ext = self.get(
                c,
                "extension",
                q,
                string(re.compile(r"^(\.[A-Za-z0-9]+)?$"), 'write it with a dot, e.g. ".js"'),
                "",
            )
            content.append(
                ContentType(
                    name=self.get(
                        c,
                        "type",
                        q,
                        string(re.compile(r"^[A-Za-z0-9_-]+$"), "use letters, digits, '-' and '_'"),
                        "",
                        required=True,
                    ),
                    share=self.get(c, "share", q, number(0, 1, lo_open=True), 0.0, required=True),
                    size=self.get(
                        c,
                        "size",
                        q,
                        self.distribution(parse_size, "sizes"),
                        Distribution("fixed", 1.0),
                        required=True,
                    ),
                    cache_control=self.get(c, "cache_control", q, string(), "max-age=3600"),
                    extension=ext,
                )
            )
        if content:
            total = sum(c.share for c in content)
            if abs(total - 1.0) > 1e-6:
                self.problem("workload.content", f"shares sum to {total:g}; they must sum to 1")
            seen: set[str] = set()
            for (q, _), c in zip(rows, content, strict=True):
                if c.name in seen:
                    self.problem(f"{q}.type", f"duplicate content type {_show(c.name)}")
                seen.add(c.name)
        return Workload(
            duration=self.get(
                t, "duration", p, quantity(parse_duration, 0, lo_open=True), Workload.duration
            ),
            rate=self.get(t, "rate", p, quantity(parse_rate, 0, lo_open=True), Workload.rate),
            requests=self.get(t, "requests", p, integer(lo=1)),
            diurnal=self.get(t, "diurnal", p, number(0, 1), 0.0),
            diurnal_shape=self.get(t, "diurnal_shape", p, choice(*DIURNAL_SHAPES), "sine"),
            start_hour_utc=self.get(t, "start_hour_utc", p, number(0, 24), 0.0),
            catalog_size=catalog,
            zipf_alpha=self.get(t, "zipf_alpha", p, number(0, 3), Workload.zipf_alpha),
            content=tuple(content) or DEFAULT_CONTENT,
            keepalive=self.get(t, "keepalive", p, number(0, 1), Workload.keepalive),
            client_dns_cache=self.get(
                t, "client_dns_cache", p, quantity(parse_duration, 0), Workload.client_dns_cache
            ),
            trace=self.get(t, "trace", p, self.file_path("file")),
        )

    def events(
        self,
        value: Any,
        edges: tuple[Edge, ...],
        workload: Workload,
        clients: tuple[ClientPlace, ...],
    ) -> tuple[Event, ...]:
        names = {e.name: e for e in edges}
        regions = {c.place.continent for c in clients} | {c.place.country for c in clients}
        out = []
        for p, t in self.tables(value, "events", "events"):
            kind = self.get(t, "kind", p, choice(*EVENT_KINDS), required=True)
            at = self.get(t, "at", p, quantity(parse_duration, 0), 0.0, required=True)
            if workload.requests is None and at > workload.duration:
                self.problem(
                    f"{p}.at",
                    f"{_show(t['at'])} is after the end of the workload ({workload.duration:g} s); allowed: 0 to {workload.duration:g} s",
                )
            if kind is None:
                continue
            required, optional = EVENT_KINDS[kind]
            for key in t:
                if key not in ("at", "kind", *required, *optional) and key in _KEYS["events"]:
                    allowed = ", ".join(("at", "kind", *required, *optional))
                    self.problem(
                        f"{p}.{key}", f'does not apply to kind = "{kind}"; its keys: {allowed}'
                    )
            for key in required:
                if key not in t:
                    self.problem(
                        f"{p}.{key}", f'missing; kind = "{kind}" needs {", ".join(required)}'
                    )
            edge = self.get(t, "edge", p, string())
            if edge is not None and edge not in names:
                self.problem(
                    f"{p}.edge", f"{_show(edge)} is not an edge; {_names_hint(edge, names)}"
                )
            if kind == "purge" and sum(k in t for k in ("url", "prefix", "surrogate_key")) != 1:
                self.problem(
                    p,
                    'a purge needs exactly one of url = "/path", prefix = "/dir/" or surrogate_key = "key"',
                )
            if kind == "flash_crowd" and ("object" in t) == ("region" in t):
                self.problem(
                    p,
                    "a flash_crowd needs exactly one of object = N (one catalog object, "
                    'requested from everywhere) or region = "EU" (every object, from one '
                    "continent or country)",
                )
            slash = string(re.compile(r"^/"), 'write a path starting with "/"')
            obj = self.get(t, "object", p, integer(lo=0, hi=workload.catalog_size - 1))
            region = self.get(t, "region", p, _region)
            if region is not None and clients and region not in regions:
                self.problem(
                    f"{p}.region",
                    f"no client place is in {_show(region)}; client continents and countries: "
                    + ", ".join(sorted(r for r in regions if r)),
                )
            out.append(
                Event(
                    at=at,
                    kind=kind,
                    edge=edge,
                    duration=self.get(t, "duration", p, quantity(parse_duration, 0, lo_open=True)),
                    url=self.get(t, "url", p, slash),
                    prefix=self.get(t, "prefix", p, slash),
                    surrogate_key=self.get(t, "surrogate_key", p, string()),
                    object=obj,
                    region=region,
                    factor=self.get(t, "factor", p, number(1, lo_open=True), 1.0),
                    service_time=self.get(
                        t, "service_time", p, quantity(parse_duration, 0, lo_open=True)
                    ),
                )
            )
        return tuple(sorted(out, key=lambda e: e.at))

    def network(self, value: Any) -> Network:
        t, p = self.table(value, "network", "network"), "network"
        delays: list[tuple[str, float]] = []
        table = t.get("access_delays", _MISSING)
        if table is not _MISSING and not isinstance(table, dict):
            self.problem(
                "network.access_delays",
                f'expected a table of place = duration, such as "Lagos" = "25ms"; got {_type_name(table)}',
            )
        elif isinstance(table, dict):
            for name in table:
                d = self.get(table, name, "network.access_delays", quantity(parse_duration, 0))
                place = self.get({name: name}, name, "network.access_delays", self.place)
                if d is not None and place is not None:
                    delays.append((name, d))
                    self._access_delays.append((place, d))
        nodes = links = None
        node_rows = self.tables(t.get("nodes", _MISSING), "network.nodes", "network.nodes")
        link_rows = self.tables(t.get("links", _MISSING), "network.links", "network.links")
        if node_rows or link_rows:
            nodes = tuple(
                BackboneNode(
                    self.get(n, "name", q, string(), "", required=True),
                    self.get(n, "place", q, self.place, required=True),
                )
                for q, n in node_rows
            )
            known: dict[str, str] = {}
            for (q, _), n in zip(node_rows, nodes, strict=True):
                if n.name in known:
                    self.problem(
                        f"{q}.name", f"duplicate node name {_show(n.name)} (also {known[n.name]})"
                    )
                known.setdefault(n.name, q)
            links = []
            for q, lk in link_rows:
                ends = []
                for key in ("a", "b"):
                    end = self.get(lk, key, q, string(), required=True)
                    if end is not None and end not in known:
                        self.problem(
                            f"{q}.{key}",
                            f"{_show(end)} is not a node; {_names_hint(end, known, 'network.nodes')}",
                        )
                    ends.append(end)
                links.append(
                    BackboneLink(
                        ends[0],
                        ends[1],
                        stretch=self.get(lk, "stretch", q, number(1.0)),
                        latency=self.get(lk, "latency", q, quantity(parse_duration, 0)),
                        bandwidth=self.get(
                            lk, "bandwidth", q, quantity(parse_bandwidth, 0, lo_open=True)
                        ),
                    )
                )
            links = tuple(links)
            if not nodes:
                self.problem(
                    "network.nodes",
                    "missing; a custom backbone needs [[network.nodes]] as well as [[network.links]]",
                )
            elif len(nodes) > 1 and _components(known, links) > 1:
                self.problem(
                    "network.links",
                    "the backbone is not connected; every node must be reachable from every other",
                )
        return Network(
            access_delay=self.get(
                t, "access_delay", p, quantity(parse_duration, 0), Network.access_delay
            ),
            access_delays=tuple(delays),
            bandwidth=self.get(
                t, "bandwidth", p, quantity(parse_bandwidth, 0, lo_open=True), Network.bandwidth
            ),
            server_bandwidth=self.get(
                t,
                "server_bandwidth",
                p,
                quantity(parse_bandwidth, 0, lo_open=True),
                Network.server_bandwidth,
            ),
            nodes=nodes,
            links=links,
            connect_timeout=self.get(
                t,
                "connect_timeout",
                p,
                quantity(parse_duration, 0, lo_open=True),
                Network.connect_timeout,
            ),
            tls=self.get(t, "tls", p, boolean, True),
        )


# ----------------------------------------------------------------------------
# Small helpers.

_README = "scenarios/README.md"


def _join(path: str, key: str) -> str:
    if not path or not key:
        return path or key
    return f"{path}{key}" if key.startswith("[") else f"{path}.{key}"


def _message(exc: Exception, value: Any) -> str:
    """The error's message with the value quoted the TOML way, as everywhere else."""
    message = str(exc)
    return message.replace(repr(value), _show(value), 1) if isinstance(value, str) else message


def _unknown_key(key: str, allowed: Iterable[str], schema: str) -> str:
    allowed = tuple(allowed)
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if close:
        hint = f'did you mean "{close[0]}"? '
    else:  # a key written in the wrong section, e.g. ttl at the top level
        homes = [
            s for s, keys in _KEYS.items() if key in keys and s not in (schema, "distribution")
        ]
        hint = f"it belongs in [{homes[0]}]; " if homes and schema == "" else ""
    return f"unknown key; {hint}allowed: {', '.join(allowed)}"


def _names_hint(name: str, known: Iterable[str], what: str = "edges") -> str:
    known = list(known)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f'did you mean "{close[0]}"? ' if close else ""
    return f"{hint}{what}: {', '.join(known) or '(none)'}"


def _int_or_none(x: float | None) -> int | None:
    return None if x is None else int(x)


def _keys(v: Any) -> str:
    """Surrogate keys: "a b" or ["a", "b"] -> "a b" (the header is space-separated)."""
    if isinstance(v, str) and v.strip():
        return " ".join(v.split())
    if isinstance(v, list) and v and all(isinstance(k, str) and k and " " not in k for k in v):
        return " ".join(v)
    raise _Bad(
        f'expected keys such as "product-1 catalog" or ["product-1", "catalog"], got {_show(v)}'
    )


def _domain(v: Any) -> str:
    name = string()(v).rstrip(".").lower()
    if not name or not all(_LABEL.match(label) for label in name.split(".")):
        raise _Bad(
            f"{_show(v)} is not a domain name; use labels of letters, digits and '-' separated by dots"
        )
    return name


def _hosts(v: Any) -> tuple[str, ...]:
    items = [v] if isinstance(v, str) else v
    if not isinstance(items, list) or not items:
        raise _Bad(
            f'expected host names relative to the zone, such as ["www", "static"], got {_show(v)}'
        )
    out = []
    for h in items:
        if not isinstance(h, str) or not all(_LABEL.match(x) for x in h.split(".")):
            raise _Bad(f"{_show(h)} is not a host name; use labels of letters, digits and '-'")
        out.append(h.lower())
    return tuple(out)


def _ttl(v: Any) -> float:
    seconds = quantity(parse_duration, 0, 2**31 - 1)(v)  # RFC 2181: 31 bits
    if seconds != int(seconds):
        raise _Bad(f"{_show(v)} is not a whole number of seconds; DNS TTLs are in seconds")
    return seconds


def _region(v: Any) -> str:
    if not isinstance(v, str) or not re.match(r"^[A-Z]{2}$", v):
        raise _Bad(
            f'{_show(v)} is not a region; allowed: a continent ({", ".join(CONTINENTS)}) or an ISO country code such as "US"'
        )
    return v


def _components(nodes: Iterable[str], links: Iterable[BackboneLink]) -> int:
    parent = {n: n for n in nodes}

    def root(n: str) -> str:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for lk in links:
        if lk.a in parent and lk.b in parent:
            parent[root(lk.a)] = root(lk.b)
    return len({root(n) for n in parent})


_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\- ]+?)\s*\]\]?\s*(#.*)?$")
_KEY_LINE = re.compile(r"^\s*(\"[^\"]*\"|[A-Za-z0-9_\-]+)\s*=")


def _key_lines(text: str) -> dict[str, int]:
    """Key path -> line number, from the plain shapes scenario files use:
    ``[table]``, ``[[array]]`` and ``key = ...`` lines. A best effort to point
    at problems (tomllib keeps no positions); unknown shapes are skipped."""
    where: dict[str, int] = {}
    counts: dict[str, int] = {}
    table = ""
    for n, line in enumerate(text.splitlines(), start=1):
        m = _HEADER.match(line)
        if m:
            name = m.group(2).replace(" ", "")
            if m.group(1) == "[[":
                counts[name] = counts.get(name, -1) + 1
                table = f"{name}[{counts[name]}]"
            else:
                table = name
            where.setdefault(table, n)
            continue
        m = _KEY_LINE.match(line)
        if m:
            where.setdefault(_join(table, m.group(1).strip('"')), n)
    return where


def _line_of(problem: str, where: dict[str, int]) -> int | None:
    """The line of the problem's key path, or of the nearest enclosing table."""
    path = problem.split(": ", 1)[0]
    while path:
        for candidate in (path, f"{path}[0]"):  # an array of tables: its first header
            if candidate in where:
                return where[candidate]
        cut = max(path.rfind("."), path.rfind("["))
        path = path[:cut] if cut > 0 else ""
    return None
