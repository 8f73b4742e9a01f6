"""Request routing: which edges a client is told about.

Theory of operation
-------------------
A DNS-based CDN routes by answering the question "where is www?" differently
for different askers. This module is that decision and nothing else: no
sockets, no clock, no files. The DNS server calls it on every answer-cache
miss with the place GeoIP found for the client (or its resolver); the
simulator calls it for every resolver cache miss with the place it modelled.
Both get the same answer for the same inputs, which is what lets a simulation
predict the live system.

Inputs: the client's place (``None`` when it could not be located), a client
key (the client subnet, for the policies that spread clients), the set of
edges currently down and optionally each edge's load (utilisation, 0..1+).

The decision has three steps:

1. Candidates: the edges that are up. If none is up, all edges are candidates
   again ("all down = all up", as gdnsd does): a possibly-dead answer lets a
   client try, and retry after the TTL, where SERVFAIL would fail it for sure.
   A down edge is never returned while any edge is up, even when that means an
   answer with fewer than ``answers`` edges.
2. Ranking by the policy, chosen by name from :data:`POLICIES`:
   ``nearest`` (great-circle distance), ``latency`` (the network model's RTT),
   ``weighted`` (spread by weight times headroom among the *near set*, the
   candidates within ``slack_ms`` of the best RTT), ``consistent`` (weighted
   rendezvous hashing of the client key over the near set, so a client subnet
   keeps its edge, and its warm cache, unless that edge goes away).
   Edges outside the near set follow in RTT order.
3. The first ``answers`` edges of the ranking.

An unlocated client gets the scenario's ``dns.fallback`` edge first, then the
edges by RTT from the origin (the edge nearest the origin by default).

The scope of an answer (how much of the client's address it depends on) is
reported as the prefix length of the client key the policy used: 0 for the
policies that only look at the place, /24 and /48 for the hashing ones. The DNS
server combines it with the GeoIP network's prefix to form the ECS scope.

Everything is deterministic: ties break by scenario order, hashes are BLAKE2b.

>>> from cdn.places import Place
>>> fra, nyc = Place("FRA", 50.03, 8.56), Place("JFK", 40.64, -73.78)
>>> r = Router([RouteEdge("fra", fra), RouteEdge("nyc", nyc)], policy="nearest")
>>> r.route(Place("Paris", 48.86, 2.35)).edges
('fra',)
>>> r.route(Place("Paris", 48.86, 2.35), down=frozenset({"fra"})).edges
('nyc',)
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from cdn.geo import fiber_rtt_ms, great_circle_km
from cdn.places import Place

KEY_PREFIX_V4 = 24  # client key granularity of the hashing policies
KEY_PREFIX_V6 = 48
FALLBACK_STRETCH = 1.5  # only used when no network model is available
_CACHE_LIMIT = 200_000

RttFunction = Callable[[Place, Place], float]


@dataclass(frozen=True)
class RouteEdge:
    """An edge as routing sees it (a scenario ``Edge`` works too: same fields)."""

    name: str
    place: Place
    weight: float = 1.0


@dataclass(frozen=True)
class Answer:
    edges: tuple[str, ...]
    scope_v4: int = 0  # prefix of the client key the answer depends on (0: the place only)
    scope_v6: int = 0
    located: bool = True  # False: the fallback order for an unlocated client
    all_down: bool = False  # True: no edge was up, so all were candidates


class Candidate(NamedTuple):
    """An edge that is up, as one client sees it (a tuple: built per decision)."""

    index: int  # scenario order, the final tie-breaker
    name: str
    weight: float
    rtt_ms: float
    km: float
    load: float = 0.0


def _unit_hash(*parts: bytes) -> float:
    """A deterministic number in (0, 1) from the parts."""
    h = hashlib.blake2b(b"\x00".join(parts), digest_size=8).digest()
    return (int.from_bytes(h, "big") + 0.5) / 2.0**64


def near_set(cands: Sequence[Candidate], slack_ms: float) -> list[Candidate]:
    """Candidates within ``slack_ms`` of the best RTT, in RTT order."""
    best = min(c.rtt_ms for c in cands)
    return sorted(
        (c for c in cands if c.rtt_ms <= best + slack_ms), key=lambda c: (c.rtt_ms, c.index)
    )


def _by_rtt(cands: Iterable[Candidate]) -> list[Candidate]:
    return sorted(cands, key=lambda c: (c.rtt_ms, c.index))


def _beyond(cands: Sequence[Candidate], near: Sequence[Candidate]) -> list[Candidate]:
    """The candidates outside the near set, in RTT order."""
    inside = {c.index for c in near}
    return _by_rtt(c for c in cands if c.index not in inside)


class Policy:
    """Ranks the candidates for one client; subclasses set ``name`` and ``keyed``."""

    name = ""
    keyed = False  # does the ranking depend on the client key (not only the place)

    def rank(self, cands: Sequence[Candidate], key: bytes, slack_ms: float) -> list[Candidate]:
        raise NotImplementedError


class Nearest(Policy):
    name = "nearest"

    def rank(self, cands, key, slack_ms):
        return sorted(cands, key=lambda c: (c.km, c.index))


class Latency(Policy):
    name = "latency"

    def rank(self, cands, key, slack_ms):
        return _by_rtt(cands)


class Weighted(Policy):
    """One hash of the client picks a point on the near set's cumulative
    weight line (weight x headroom, so loaded edges take fewer new clients);
    the point within the chosen interval picks the next edge, and so on."""

    name = "weighted"
    keyed = True

    def rank(self, cands, key, slack_ms):
        near = near_set(cands, slack_ms)
        rest = _beyond(cands, near)
        u = _unit_hash(b"weighted", key)
        order: list[Candidate] = []
        pool = list(near)
        while pool:
            weights = [max(c.weight, 0.0) * max(0.05, 1.0 - c.load) for c in pool]
            total = sum(weights)
            if total <= 0:
                order.extend(pool)
                break
            x, acc = u * total, 0.0
            for i, w in enumerate(weights):
                if x < acc + w or i == len(pool) - 1:
                    u = min(max((x - acc) / w, 0.0), 1.0 - 1e-12) if w > 0 else u
                    order.append(pool.pop(i))
                    break
                acc += w
        return order + rest


class Consistent(Policy):
    """Weighted rendezvous hashing (highest random weight): each (client,
    edge) pair gets a score and the client takes the best. Removing an edge
    moves only the clients that had it; adding one takes a fair share."""

    name = "consistent"
    keyed = True

    def rank(self, cands, key, slack_ms):
        near = near_set(cands, slack_ms)
        rest = _beyond(cands, near)

        def score(c: Candidate) -> float:
            u = _unit_hash(b"hrw", key, c.name.encode())
            return max(c.weight, 1e-9) / -math.log(u)

        return sorted(near, key=lambda c: (-score(c), c.index)) + rest


POLICIES: dict[str, type[Policy]] = {p.name: p for p in (Nearest, Latency, Weighted, Consistent)}


def get_policy(name: str) -> Policy:
    try:
        return POLICIES[name]()
    except KeyError:
        raise ValueError(
            f"unknown routing policy {name!r}; allowed: {', '.join(POLICIES)}"
        ) from None


def great_circle_rtt_ms(a: Place, b: Place) -> float:
    """Fiber RTT along the great circle times a typical route stretch."""
    return fiber_rtt_ms(great_circle_km(a.lat, a.lon, b.lat, b.lon)) * FALLBACK_STRETCH


def rtt_function(network: object | None) -> RttFunction:
    """The ``rtt_ms(a, b)`` of a network model; without one, the model's default
    if it can be built, else great-circle fiber RTT x 1.5."""
    if network is not None:
        return network.rtt_ms  # type: ignore[attr-defined]
    try:
        from cdn.network import NetworkModel

        return NetworkModel.default().rtt_ms
    except (ImportError, AttributeError):
        return great_circle_rtt_ms


def client_key(address: bytes | int | str) -> bytes:
    """Normalise a client key (subnet bytes, an int, or text) to bytes."""
    if isinstance(address, bytes):
        return address
    if isinstance(address, int):
        return address.to_bytes(16, "big", signed=address < 0)
    return str(address).encode()


class Router:
    """The routing decision for one scenario, with its tables precomputed.

    ``Router(scenario)`` takes edges (tier "edge"), policy, answers, slack and
    fallback from the scenario; ``Router(edges, policy=...)`` takes a list of
    :class:`RouteEdge` (or scenario ``Edge``) for tests and tools.
    """

    def __init__(
        self,
        scenario_or_edges: object,
        policy: str | None = None,
        network: object | None = None,
        answers: int | None = None,
        slack_ms: float | None = None,
        fallback: str | None = None,
        origin: Place | None = None,
        places: Iterable[Place] = (),
    ):
        dns = getattr(scenario_or_edges, "dns", None)
        if dns is not None:  # a Scenario
            sc = scenario_or_edges
            edges = [e for e in sc.edges if e.tier == "edge"]  # type: ignore[attr-defined]
            policy = policy or dns.policy
            answers = answers if answers is not None else dns.answers
            slack_ms = slack_ms if slack_ms is not None else dns.slack_ms
            fallback = fallback if fallback is not None else dns.fallback
            origin = origin or sc.origin.place  # type: ignore[attr-defined]
            if network is None:
                network = _network_from_scenario(sc)
            places = [*places, *(c.place for c in sc.clients)]  # type: ignore[attr-defined]
            places += [p for r in sc.resolvers for p in r.places]  # type: ignore[attr-defined]
        else:
            edges = list(scenario_or_edges)  # type: ignore[call-overload]
        if not edges:
            raise ValueError("routing needs at least one edge of tier 'edge'")
        self.edges: tuple[RouteEdge, ...] = tuple(
            RouteEdge(e.name, e.place, float(getattr(e, "weight", 1.0))) for e in edges
        )
        self.names = tuple(e.name for e in self.edges)
        if len(set(self.names)) != len(self.names):
            raise ValueError("edge names must be unique")
        if fallback is not None and fallback not in self.names:
            raise ValueError(f"fallback edge {fallback!r} is not one of: {', '.join(self.names)}")
        self.policy = get_policy(policy or "latency")
        self.answers = max(1, int(answers or 1))
        self.slack_ms = float(slack_ms if slack_ms is not None else 10.0)
        self._rtt = rtt_function(network)
        self._table: dict[Place, tuple[Candidate, ...]] = {}
        self._cache: dict[tuple, Answer] = {}
        for p in places:
            self._row(p)
        self._fallback_order = self._unlocated_order(fallback, origin)

    # -- tables ------------------------------------------------------------
    def _row(self, place: Place) -> tuple[Candidate, ...]:
        """Every edge as a candidate for ``place`` (RTT and distance), computed once."""
        row = self._table.get(place)
        if row is None:
            row = tuple(
                Candidate(
                    i,
                    e.name,
                    e.weight,
                    float(self._rtt(place, e.place)),
                    great_circle_km(place.lat, place.lon, e.place.lat, e.place.lon),
                )
                for i, e in enumerate(self.edges)
            )
            if len(self._table) >= _CACHE_LIMIT:
                self._table.clear()
            self._table[place] = row
        return row

    def _unlocated_order(self, fallback: str | None, origin: Place | None) -> tuple[int, ...]:
        order = list(range(len(self.edges)))
        if origin is not None:
            row = self._row(origin)
            order.sort(key=lambda i: (row[i].rtt_ms, i))
        if fallback is not None:
            i = self.names.index(fallback)
            order.remove(i)
            order.insert(0, i)
        return tuple(order)

    def rtt_ms(self, place: Place, edge: str) -> float:
        return self._row(place)[self.names.index(edge)].rtt_ms

    # -- the decision ------------------------------------------------------
    def route(
        self,
        place: Place | None,
        client_key: int | bytes = 0,
        down: frozenset[str] = frozenset(),
        load: Mapping[str, float] | None = None,
    ) -> Answer:
        """The edges for a client at ``place`` (None: unlocated)."""
        keyed = self.policy.keyed and place is not None
        key = _key_bytes(client_key) if keyed else b""
        ck = (place, down, key)
        if load is None:
            hit = self._cache.get(ck)
            if hit is not None:
                return hit
        up = [i for i, n in enumerate(self.names) if n not in down]
        all_down = not up
        if all_down:
            up = list(range(len(self.edges)))
        if place is None:
            allowed = set(up)
            ranked = [self.names[i] for i in self._fallback_order if i in allowed]
            ans = Answer(tuple(ranked[: self.answers]), located=False, all_down=all_down)
        else:
            row = self._row(place)
            cands = [row[i] for i in up]
            if load:
                cands = [c._replace(load=float(load.get(c.name, 0.0))) for c in cands]
            ranked_c = self.policy.rank(cands, key, self.slack_ms)
            edges = tuple(c.name for c in ranked_c[: self.answers])
            if keyed:
                ans = Answer(edges, KEY_PREFIX_V4, KEY_PREFIX_V6, all_down=all_down)
            else:
                ans = Answer(edges, all_down=all_down)
        if load is None:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[ck] = ans
        return ans


def _key_bytes(k: int | bytes) -> bytes:
    return client_key(k)


def _network_from_scenario(scenario: object) -> object | None:
    try:
        from cdn.network import NetworkModel
    except ImportError:
        return None
    try:
        return NetworkModel.from_config(scenario.network)  # type: ignore[attr-defined]
    except AttributeError:
        return None
