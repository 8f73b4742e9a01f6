"""DNS on the virtual clock: client caches, resolver caches and failed connects.

Theory of operation
-------------------
Every client host has a DNS cache of one answer (a tuple of edge indices) with
an expiry time; every resolver has a cache keyed by the *scope* of the answer:
its own site when it does not send EDNS Client Subnet (one answer for all its
clients), or the client's place when it does (and the authoritative honours
ECS). A miss at the resolver calls the routing core (``route``, the same core
the DNS server answers with) with the location the authoritative would see:
the resolver's site, or the client's place under ECS.

Approximation: a client "host" is one of ``hosts`` DNS caches per (place,
resolver group); each request picks one at random. Real populations have far
more hosts, each with a lower rate; a few dozen hosts per place reproduces the
share of requests that reach the resolver for the usual 30-300 s cache times
without tracking millions of caches. A client keeps an answer for
``client_ttl`` seconds (browser and OS caches often pin answers for a minute
whatever the record's TTL), the resolver for the record's TTL.

Failures: a request whose answer's first edge is *actually* down (not merely
known down to the DNS health checks) waits ``connect_timeout`` and tries the
answer's next edge; when every edge in the answer is dead it re-resolves
(skipping its own cache; the resolver may still hold the stale answer) and
tries again; if that fails too it is an error. Every failed attempt is counted.

Everything here is pure: time is the request's ``t``, state lives in lists and
dicts, and the only decision not made here (which edges to answer) is the
routing core's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

NEVER = -1.0  # expiry of an empty cache slot (times are >= 0)


@dataclass(frozen=True)
class Resolution:
    """What DNS and connection set-up did for a batch of requests (parallel arrays)."""

    edge: np.ndarray  # int32 edge that served (-1: the request failed)
    first: np.ndarray  # int32 edge the client tried first
    level: np.ndarray  # int8 0 client cache, 1 resolver cache, 2 resolver asked the authoritative
    wait_ms: np.ndarray  # float64 time lost to failed connects and re-resolving
    failed: np.ndarray  # int16 failed connection attempts (retries, or the final error)


class DnsModel:
    """Client and resolver caches in front of a routing function.

    ``route(location_index, resolver_key, down) -> tuple[int, ...]`` returns the
    answer as edge indices; ``pg_*`` lists are indexed by ``place * G + group``.
    """

    def __init__(
        self,
        *,
        n_places: int,
        n_groups: int,
        hosts: int,
        route: Callable[[int, int, frozenset], tuple[int, ...]],
        pg_resolver: Sequence[int],
        pg_location: Sequence[int],
        pg_ttl: Sequence[float],
        pg_dns_ms: Sequence[tuple[float, float]],
        client_ttl: float,
        connect_timeout: float,
        n_edges: int,
    ):
        self.G = n_groups
        self.hosts = hosts
        self.route = route
        self.pg_resolver = list(pg_resolver)
        self.pg_location = list(pg_location)
        self.pg_ttl = list(pg_ttl)
        self.pg_dns_ms = list(pg_dns_ms)  # (client->resolver RTT, resolver->authoritative RTT)
        self.client_ttl = float(client_ttl)
        self.connect_timeout_ms = float(connect_timeout) * 1000.0
        n = n_places * n_groups * hosts
        self.cexp = [NEVER] * n  # client cache expiry per host
        self.cans: list[tuple[int, ...]] = [()] * n
        self.rcache: dict[int, tuple[float, tuple[int, ...]]] = {}
        self.down = [False] * n_edges  # actually down (connects fail)
        self.any_down = False
        self.known_down: frozenset = frozenset()  # what the health checks know
        self.queries = 0  # resolver -> authoritative queries

    # events ---------------------------------------------------------------------
    def set_down(self, edge: int, down: bool) -> None:
        self.down[edge] = down
        self.any_down = any(self.down)

    def set_known_down(self, known: frozenset) -> None:
        self.known_down = known

    # the per-request loop ------------------------------------------------------
    def resolve(self, t: np.ndarray, place: np.ndarray, group: np.ndarray,
                host: np.ndarray) -> Resolution:  # fmt: skip
        G, H = self.G, self.hosts
        pg = place.astype(np.int64) * G + group
        ck = (pg * H + host).tolist()
        pgl = pg.tolist()
        cexp, cans, rcache = self.cexp, self.cans, self.rcache
        pg_resolver, pg_location, pg_ttl = self.pg_resolver, self.pg_location, self.pg_ttl
        client_ttl = self.client_ttl
        down = self.down
        any_down = self.any_down
        route = self.route
        edges: list[int] = []
        level: list[int] = []
        slow: dict[int, tuple[int, float, int]] = {}
        append_e, append_l = edges.append, level.append
        for i, (tt, p, c) in enumerate(zip(t.tolist(), pgl, ck, strict=True)):
            if cexp[c] > tt:
                ans = cans[c]
                lvl = 0
            else:
                rk = pg_resolver[p]
                ent = rcache.get(rk)
                if ent is not None and ent[0] > tt:
                    ans = ent[1]
                    lvl = 1
                else:
                    ans = route(pg_location[p], rk, self.known_down)
                    self.queries += 1
                    if pg_ttl[p] > 0:
                        rcache[rk] = (tt + pg_ttl[p], ans)
                    lvl = 2
                if client_ttl > 0:
                    cexp[c] = tt + client_ttl
                    cans[c] = ans
            e = ans[0]
            if any_down and down[e]:
                e, wait, failed = self._failover(tt, p, c, ans)
                slow[i] = (ans[0], wait, failed)
            append_e(e)
            append_l(lvl)
        n = len(edges)
        edge = np.array(edges, dtype=np.int32)
        first = edge.copy()
        wait_ms = np.zeros(n)
        failed = np.zeros(n, dtype=np.int16)
        for i, (f, w, k) in slow.items():
            first[i] = f
            wait_ms[i] = w
            failed[i] = k
        return Resolution(edge, first, np.array(level, dtype=np.int8), wait_ms, failed)

    def _failover(self, t: float, p: int, c: int, ans: tuple[int, ...]) -> tuple[int, float, int]:
        """The first edge of ``ans`` is dead: try the others, then re-resolve once."""
        wait = 0.0
        failed = 0
        for e in ans:
            if not self.down[e]:
                return e, wait, failed
            wait += self.connect_timeout_ms
            failed += 1
        # Every answer failed: ask the resolver again, bypassing the client cache.
        now = t + wait / 1000.0
        rk = self.pg_resolver[p]
        to_resolver, to_auth = self.pg_dns_ms[p]
        wait += to_resolver
        ent = self.rcache.get(rk)
        if ent is not None and ent[0] > now:
            fresh = ent[1]
        else:
            fresh = self.route(self.pg_location[p], rk, self.known_down)
            self.queries += 1
            wait += to_auth
            if self.pg_ttl[p] > 0:
                self.rcache[rk] = (now + self.pg_ttl[p], fresh)
        if self.client_ttl > 0:
            self.cexp[c] = now + self.client_ttl
            self.cans[c] = fresh
        for e in fresh:
            if not self.down[e]:
                return e, wait, failed
            wait += self.connect_timeout_ms
            failed += 1
        return -1, wait, failed
