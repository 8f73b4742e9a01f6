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

Two ways through a batch, with identical results (answers, levels, queries,
the order of ``route`` calls and the caches afterwards):

- the general loop, one request at a time, used while some edge is actually
  down (failover re-resolves and rewrites caches mid-batch);
- the fast path otherwise. Whether a cache lookup hits depends only on times,
  never on answers, so each cache is a *renewal* problem per key: a lookup at
  ``t`` misses iff ``t >= expiry``, and a miss that stores sets ``expiry = t +
  ttl``. Requests are grouped by key (a stable radix sort keeps batch order
  within a key) and solved in vectorised rounds, one stored miss per key per
  round (the next one is the key's first later lookup at or past the new
  expiry); lookups that cannot store (TTL 0) just compare with the expiry in
  force. The client cache runs first; its misses go through the resolver
  cache the same way; ``route`` is called for the resolver misses in batch
  order; then every hit takes the answer of its key's last stored miss
  (forward fill), or the one cached before the batch. Answers are interned
  tuples, so all of this is integer arrays.

Everything here is pure: time is the request's ``t``, state lives in arrays,
and the only decision not made here (which edges to answer) is the routing
core's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

NEVER = -1.0  # expiry of an empty cache slot (times are >= 0)
NO_ANSWER = -1  # answer id of an empty cache slot
MAX_ROUNDS = 8  # vectorised renewal rounds before the few keys left go through a plain loop


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
    ``fast=False`` always takes the general per-request loop (the reference the
    fast path is tested against).
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
        fast: bool = True,
    ):
        self.n_places = n_places
        self.G = n_groups
        self.hosts = hosts
        self.route = route
        self.pg_resolver = list(pg_resolver)
        self.pg_location = list(pg_location)
        self.pg_ttl = list(pg_ttl)
        self.pg_dns_ms = list(pg_dns_ms)  # (client->resolver RTT, resolver->authoritative RTT)
        self.client_ttl = float(client_ttl)
        self.connect_timeout_ms = float(connect_timeout) * 1000.0
        self.fast = fast
        self._pg_resolver = np.array(self.pg_resolver, dtype=np.int64)
        self._pg_location = np.array(self.pg_location, dtype=np.int64)
        self._pg_ttl = np.array(self.pg_ttl, dtype=np.float64)
        self.n_clients = n_places * n_groups * hosts
        self.n_resolvers = max(self.pg_resolver, default=-1) + 1
        # Caches: expiry and answer id per client host and per resolver key.
        self.cexp = np.full(self.n_clients, NEVER)
        self.cans = np.full(self.n_clients, NO_ANSWER, dtype=np.int32)
        self.rexp = np.full(self.n_resolvers, NEVER)
        self.rans = np.full(self.n_resolvers, NO_ANSWER, dtype=np.int32)
        self.answers: list[tuple[int, ...]] = []  # answer id -> edge indices
        self._answer_id: dict[tuple[int, ...], int] = {}
        self._first: list[int] = []  # answer id -> its first edge
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

    # state ----------------------------------------------------------------------
    def _intern(self, ans: tuple[int, ...]) -> int:
        i = self._answer_id.get(ans)
        if i is None:
            i = self._answer_id[ans] = len(self.answers)
            self.answers.append(ans)
            self._first.append(ans[0])
        return i

    def _ask(self, p: int, rk: int) -> int:
        """The resolver asks the authoritative (the routing core): an answer id."""
        self.queries += 1
        return self._intern(self.route(self.pg_location[p], rk, self.known_down))

    def state(self) -> tuple[list, dict, int]:
        """The caches as plain values: client (expiry, answer) per host, the
        resolver entries {key: (expiry, answer)}, and the query count."""
        ans = self.answers
        clients = [
            (e, ans[a] if a >= 0 else ())
            for e, a in zip(self.cexp.tolist(), self.cans.tolist(), strict=True)
        ]
        resolvers = {
            k: (e, ans[a])
            for k, (e, a) in enumerate(zip(self.rexp.tolist(), self.rans.tolist(), strict=True))
            if a >= 0
        }
        return clients, resolvers, self.queries

    # a batch ---------------------------------------------------------------------
    def resolve(self, t: np.ndarray, place: np.ndarray, group: np.ndarray,
                host: np.ndarray) -> Resolution:  # fmt: skip
        t = np.asarray(t, dtype=np.float64)
        pg = np.asarray(place, dtype=np.int64) * self.G + group
        ck = pg * self.hosts + host
        if len(ck):
            for name, a, hi in (("place", place, self.n_places), ("group", group, self.G),
                                ("host", host, self.hosts)):  # fmt: skip
                if a.min() < 0 or a.max() >= hi:
                    raise ValueError(f"{name} out of range: allowed 0..{hi - 1}")
        if self.fast and not self.any_down:
            return self._resolve_fast(t, pg, ck)
        return self._resolve_loop(t, pg, ck)

    def _resolve_loop(self, t: np.ndarray, pg: np.ndarray, ck: np.ndarray) -> Resolution:
        """The general path: one request at a time, with failover."""
        cexp, cans = self.cexp.tolist(), self.cans.tolist()
        rexp, rans = self.rexp.tolist(), self.rans.tolist()
        caches = (cexp, cans, rexp, rans)
        pg_resolver, pg_ttl = self.pg_resolver, self.pg_ttl
        client_ttl = self.client_ttl
        down, any_down, first_edge = self.down, self.any_down, self._first
        ask = self._ask
        edges: list[int] = []
        level: list[int] = []
        slow: dict[int, tuple[int, float, int]] = {}
        append_e, append_l = edges.append, level.append
        for i, (tt, p, c) in enumerate(zip(t.tolist(), pg.tolist(), ck.tolist(), strict=True)):
            if cexp[c] > tt:
                a = cans[c]
                lvl = 0
            else:
                rk = pg_resolver[p]
                if rexp[rk] > tt:
                    a = rans[rk]
                    lvl = 1
                else:
                    a = ask(p, rk)
                    if pg_ttl[p] > 0:
                        rexp[rk] = tt + pg_ttl[p]
                        rans[rk] = a
                    lvl = 2
                if client_ttl > 0:
                    cexp[c] = tt + client_ttl
                    cans[c] = a
            e = first_edge[a]
            if any_down and down[e]:
                e, wait, failed = self._failover(tt, p, c, self.answers[a], caches)
                slow[i] = (first_edge[a], wait, failed)
            append_e(e)
            append_l(lvl)
        self.cexp[:] = cexp
        self.cans[:] = cans
        self.rexp[:] = rexp
        self.rans[:] = rans
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

    def _failover(self, t: float, p: int, c: int, ans: tuple[int, ...],
                  caches: tuple[list, list, list, list]) -> tuple[int, float, int]:  # fmt: skip
        """The first edge of ``ans`` is dead: try the others, then re-resolve once."""
        cexp, cans, rexp, rans = caches
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
        if rexp[rk] > now:
            a = rans[rk]
        else:
            a = self._ask(p, rk)
            wait += to_auth
            if self.pg_ttl[p] > 0:
                rexp[rk] = now + self.pg_ttl[p]
                rans[rk] = a
        if self.client_ttl > 0:
            cexp[c] = now + self.client_ttl
            cans[c] = a
        for e in self.answers[a]:
            if not self.down[e]:
                return e, wait, failed
            wait += self.connect_timeout_ms
            failed += 1
        return -1, wait, failed

    def _resolve_fast(self, t: np.ndarray, pg: np.ndarray, ck: np.ndarray) -> Resolution:
        """No edge is down: the two caches as vectorised renewal problems."""
        n = len(t)
        if n > 1 and (t[1:] >= t[:-1]).all():
            # Times only grow: a request before its host's expiry hits the answer
            # cached before the batch; only the others need the renewal rounds.
            sub = np.flatnonzero(t >= self.cexp[ck])
            ids = self.cans[ck]
            level = np.zeros(n, dtype=np.int8)
            ids[sub], level[sub] = self._renew_batch(t[sub], pg[sub], ck[sub], True)
        else:
            ids, level = self._renew_batch(t, pg, ck, n < 2)
        edge = np.array(self._first, dtype=np.int32)[ids]
        return Resolution(edge, edge.copy(), level, np.zeros(n), np.zeros(n, dtype=np.int16))

    def _renew_batch(self, t: np.ndarray, pg: np.ndarray, ck: np.ndarray,
                     in_order: bool) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """(answer id, level) of each request, updating both caches."""
        n = len(t)
        # Client caches: which requests miss (times only). Arrays *_s are grouped by key.
        oc = _group_order(ck, self.n_clients)
        cks, cts = ck[oc], t[oc]
        cmiss_s, cstore_s = _renewal(cks, cts, self.client_ttl, self.cexp, in_order)
        ms = np.flatnonzero(cmiss_s)
        mb = oc[ms]
        cmiss = np.zeros(n, dtype=bool)
        cmiss[mb] = True
        mi = np.flatnonzero(cmiss)  # client misses in batch order
        # Resolver caches, for the client misses only.
        pgm = pg[mi]
        rk = self._pg_resolver[pgm]
        orr = _group_order(rk, self.n_resolvers)
        rks, rts, rttls = rk[orr], t[mi][orr], self._pg_ttl[pgm][orr]
        rmiss_s, rstore_s = _renewal(rks, rts, rttls, self.rexp, in_order)
        rmiss = np.empty(len(mi), dtype=bool)
        rmiss[orr] = rmiss_s
        # The authoritative, in batch order (route may keep state).
        qi = np.flatnonzero(rmiss)
        route, known, intern = self.route, self.known_down, self._intern
        locs = self._pg_location[pgm[qi]].tolist()
        mids = np.full(len(mi), NO_ANSWER, dtype=np.int32)
        mids[qi] = [
            intern(route(loc, k, known)) for loc, k in zip(locs, rk[qi].tolist(), strict=True)
        ]
        self.queries += len(locs)
        # A hit answers what its key's last stored miss (or the entry before the batch) holds.
        rids_s = mids[orr]
        ans = _fill(rstore_s, rids_s[rstore_s], rks, self.rans[rks])
        ans[rmiss_s] = rids_s[rmiss_s]
        _store(self.rexp, self.rans, rks, rts, rttls, rstore_s, ans)
        mids[orr] = ans
        # Client hits the same way, from the client misses' answers.
        ids = np.empty(n, dtype=np.int32)
        ids[mi] = mids
        at_ms = ids[mb]
        ans = _fill(cstore_s, at_ms[cstore_s[ms]], cks, self.cans[cks])
        ans[ms] = at_ms
        _store(self.cexp, self.cans, cks, cts, self.client_ttl, cstore_s, ans)
        ids[oc] = ans
        level = np.zeros(n, dtype=np.int8)
        level[mi] = np.where(rmiss, 2, 1)
        return ids, level


# --- vectorised cache helpers: arrays grouped by key, batch order within a key ---------
def _group_order(keys: np.ndarray, n_keys: int) -> np.ndarray:
    """A stable order grouping equal keys (LSD radix sort on 16-bit digits)."""
    if n_keys <= 1 << 16:
        return np.argsort(keys.astype(np.uint16), kind="stable")
    if n_keys <= 1 << 32:
        o = np.argsort((keys & 0xFFFF).astype(np.uint16), kind="stable")
        return o[np.argsort((keys[o] >> 16).astype(np.uint16), kind="stable")]
    return np.argsort(keys, kind="stable")


def _renewal(ks: np.ndarray, ts: np.ndarray, ttl: float | np.ndarray, exp0: np.ndarray,
             in_time_order: bool) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Lookups of caches keyed ``ks`` at times ``ts``: (missed, stored) masks.

    A lookup misses iff ``t >= expiry``; a miss with ``ttl > 0`` stores, setting
    ``expiry = t + ttl``; ``exp0[key]`` is the expiry before the batch. Each
    round finds every key's next storing miss: its first undecided lookup at or
    past the expiry in force; the lookups before it hit. ``in_time_order``: times
    never decrease within a key, so every lookup after a key's first one at or
    past the expiry is at or past it too.
    """
    n = len(ks)
    stored = np.zeros(n, dtype=bool)
    scalar = np.ndim(ttl) == 0
    can = ttl > 0
    if scalar and can:
        act, kact, tact = np.arange(n), ks, ts
    else:
        act = np.flatnonzero(np.broadcast_to(can, ks.shape))
        kact, tact = ks[act], ts[act]
    exp = exp0[kact]  # expiry in force for each undecided lookup
    miss_at = np.full(len(exp0), n)  # per key: its storing miss this round
    new_exp = np.empty(len(exp0))
    for _ in range(MAX_ROUNDS):
        w = np.flatnonzero(tact >= exp)
        if not w.size:
            break
        kw = kact[w]
        first = np.ones(len(w), dtype=bool)
        np.not_equal(kw[1:], kw[:-1], out=first[1:])
        pos, key = act[w[first]], kw[first]
        stored[pos] = True
        new_exp[key] = ts[pos] + (ttl if scalar else ttl[pos])
        if in_time_order:  # the lookups after each miss are the other candidates
            rest = ~first
            act, kact = act[w[rest]], kw[rest]
        else:
            miss_at[key] = pos
            later = act > miss_at[kact]
            miss_at[key] = n
            act, kact = act[later], kact[later]
        tact, exp = ts[act], new_exp[kact]
    else:  # many misses per key (tiny TTLs): finish the keys left one by one
        cur: dict[int, float] = {}
        ttl_act = np.broadcast_to(ttl, ts.shape)[act]
        for a, k, t, e, d in zip(act.tolist(), kact.tolist(), tact.tolist(), exp.tolist(),
                                 ttl_act.tolist(), strict=True):  # fmt: skip
            if t >= cur.get(k, e):
                stored[a] = True
                cur[k] = t + d
    if np.all(can):
        return stored, stored
    if scalar:
        return ts >= exp0[ks], stored
    # Lookups that cannot store compare with the expiry their key has at that point.
    pos = np.flatnonzero(stored)
    in_force = _fill(stored, ts[pos] + ttl[pos], ks, exp0[ks])
    return stored | (~can & (ts >= in_force)), stored


def _fill(stored: np.ndarray, vals: np.ndarray, ks: np.ndarray, before: np.ndarray) -> np.ndarray:
    """Per lookup: the value (``vals``, one per stored lookup, in order) of its
    key's last stored lookup up to it, else ``before``."""
    pos = np.flatnonzero(stored)
    if not pos.size:
        return before.copy()
    c = np.cumsum(stored)  # 1 + index in pos of the last stored lookup so far (0: none)
    key = np.concatenate(([-1], ks[pos]))  # keys are >= 0: slot 0 matches nothing
    return np.where(key[c] == ks, np.concatenate(([0], vals))[c], before)


def _store(exp: np.ndarray, ans: np.ndarray, ks: np.ndarray, ts: np.ndarray,
           ttl: float | np.ndarray, stored: np.ndarray, ids: np.ndarray) -> None:  # fmt: skip
    """Write each key's last stored lookup back into the cache arrays."""
    pos = np.flatnonzero(stored)
    if not pos.size:
        return
    k = ks[pos]
    last = np.ones(len(pos), dtype=bool)
    np.not_equal(k[1:], k[:-1], out=last[:-1])
    pos, k = pos[last], k[last]
    exp[k] = ts[pos] + (ttl if np.ndim(ttl) == 0 else ttl[pos])
    ans[k] = ids[pos]
