"""Scenario files: TOML in, frozen model objects out.

CONTRACT: the dataclasses below are what every other part (simulator, DNS
server, serve, reports) consumes. ``load_scenario(path)`` reads and validates a
file and returns a :class:`Scenario`; all problems are collected and raised at
once as one :class:`ScenarioError` (exit status 2, no traceback), each naming
the file, the key path (``edges[3].capacity``), the bad value and what is
allowed. Times are seconds, sizes bytes, bandwidths bits per second, rates
requests per second (floats or ints), already converted from their units.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cdn.errors import UserError
from cdn.places import Place


class ScenarioError(UserError):
    """One or more problems in a scenario file; ``problems`` lists them all."""

    def __init__(self, path: str, problems: list[str]):
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{path}: {len(problems)} problem(s):\n{lines}")


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
