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
  ttl``. It is solved in vectorised rounds, one stored miss per key per round:
  the next one is the key's first undecided lookup at or past the expiry in
  force, and the lookups before it hit. With times in order (the simulator's
  batches) no sorting is needed: a request before its host's expiry hits the
  answer cached before the batch, each key's first remaining lookup comes
  from ``np.minimum.at``, and the lookups after a miss are the only ones left
  for the next round. Out of order, or with TTL-0 lookups mixed in, lookups
  are grouped by key with a stable radix sort first. A few keys with many
  renewals per batch (tiny TTLs) finish in a plain loop after ``MAX_ROUNDS``.
  The client caches run first; their misses go through the resolver caches
  the same way; ``route`` is called for the resolver misses in batch order;
  then every hit takes the answer of the stored miss it hit (its *source*),
  or the one cached before the batch. Answers are interned tuples (ids), so
  all of this is integer arrays.

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
_FAR = np.iinfo(np.int64).max  # "no position" in a per-key table of positions


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
        self._ctables, self._rtables = _Tables(self.n_clients), _Tables(self.n_resolvers)
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
        """No edge is down: both caches as vectorised renewal problems."""
        n = len(t)
        if n > 1 and (t[1:] >= t[:-1]).all():
            # Times only grow: a request before its host's expiry hits the answer
            # cached before the batch; only the others need the renewal rounds.
            sub = np.flatnonzero(t >= self.cexp[ck])
            ids = self.cans[ck]
            level = np.zeros(n, dtype=np.int8)
            ids[sub], level[sub] = self._renew(t[sub], pg[sub], ck[sub], True, True)
        else:
            ids, level = self._renew(t, pg, ck, n < 2, False)
        edge = np.array(self._first, dtype=np.int32)[ids]
        return Resolution(edge, edge.copy(), level, np.zeros(n), np.zeros(n, dtype=np.int16))

    def _renew(self, t: np.ndarray, pg: np.ndarray, ck: np.ndarray, in_order: bool,
               due: bool) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """(answer id, level) of each request, updating both caches; ``due``: every
        request is at or past its host's expiry."""
        n = len(t)
        ctab, rtab = self._ctables, self._rtables
        cmiss, cstored, csrc = _lookups(ck, t, self.client_ttl, self.cexp, ctab, in_order, due)
        mi = np.flatnonzero(cmiss)  # client misses go to the resolver, in batch order
        pgm = pg[mi]
        rk, rt, rttl = self._pg_resolver[pgm], t[mi], self._pg_ttl[pgm]
        rmiss, rstored, rsrc = _lookups(rk, rt, rttl, self.rexp, rtab, in_order, False)
        # The authoritative, in batch order (route may keep state).
        qi = np.flatnonzero(rmiss)
        route, known, intern = self.route, self.known_down, self._intern
        locs = self._pg_location[pgm[qi]].tolist()
        asked = np.full(len(mi), NO_ANSWER, dtype=np.int32)
        asked[qi] = [
            intern(route(loc, k, known)) for loc, k in zip(locs, rk[qi].tolist(), strict=True)
        ]
        self.queries += len(locs)
        mans = np.where(rsrc >= 0, asked[rsrc], self.rans[rk])
        _store(self.rexp, self.rans, rtab, rk, rt, rttl, rstored, mans)
        full = np.empty(n, dtype=np.int32)
        full[mi] = mans
        ids = np.where(csrc >= 0, full[csrc], self.cans[ck])
        _store(self.cexp, self.cans, ctab, ck, t, self.client_ttl, cstored, ids)
        level = np.zeros(n, dtype=np.int8)
        level[mi] = 1
        level[mi[qi]] = 2
        return ids, level


# --- vectorised caches -------------------------------------------------------------------
# A batch of lookups of one kind of cache: ``keys`` (which cache), ``t`` and ``ttl``
# per lookup, ``exp0[key]`` the expiry before the batch. A lookup misses iff
# ``t >= expiry``; a miss with ``ttl > 0`` stores (``expiry = t + ttl``). The
# result is (missed, stored, source): the source of a lookup is the position of
# the stored miss whose answer it gets (itself for a miss; -1: the answer cached
# before the batch).
Lookups = tuple[np.ndarray, np.ndarray, np.ndarray]  # (missed, stored, source)


class _Tables:
    """Per-key scratch tables of one kind of cache, kept across batches so that a
    batch costs time in its own size, not in the number of keys: between uses
    ``first`` holds ``_FAR`` and ``latest`` -1 everywhere."""

    def __init__(self, n_keys: int):
        self.first = np.full(n_keys, _FAR)  # a key's first candidate position this round
        self.latest = np.full(n_keys, -1)  # a key's last miss position so far
        self.new_exp = np.empty(n_keys)  # a key's expiry after its latest miss


def _lookups(keys: np.ndarray, t: np.ndarray, ttl: float | np.ndarray, exp0: np.ndarray,
             tab: _Tables, in_order: bool, due: bool) -> Lookups:  # fmt: skip
    """``in_order``: times never decrease; ``due``: every lookup is at or past its
    key's expiry (so each key's first lookup misses)."""
    can = np.asarray(ttl > 0)
    if not can.any():  # nothing is stored: the expiries stay as they are
        miss = np.ones(len(t), dtype=bool) if due else t >= exp0[keys]
        return miss, np.zeros(len(t), dtype=bool), np.where(miss, np.arange(len(t)), -1)
    if in_order and can.all():
        return _lookups_in_order(keys, t, ttl, exp0, tab, due)
    return _lookups_grouped(keys, t, ttl, exp0, tab, in_order)


def _lookups_in_order(keys: np.ndarray, t: np.ndarray, ttl: float | np.ndarray,
                      exp0: np.ndarray, tab: _Tables, due: bool) -> Lookups:  # fmt: skip
    """Times in order, every lookup stores on a miss. Each round, the lookups still
    undecided are those after their key's last miss; the ones before the expiry
    hit that miss's answer, and among the rest each key's first misses."""
    n = len(t)
    scalar = np.ndim(ttl) == 0
    miss = np.zeros(n, dtype=bool)
    src = np.full(n, -1)
    first, latest, new_exp = tab.first, tab.latest, tab.new_exp
    act, kact, tact = np.arange(n), keys, t
    exp = None if due else exp0[keys]
    for _ in range(MAX_ROUNDS):
        if exp is None:
            cand, kc = act, kact
        else:
            c = tact >= exp
            ci = np.flatnonzero(c)
            if not len(ci):  # the rest all hit
                src[act] = latest[kact]
                break
            if len(ci) < len(c):
                h = np.flatnonzero(~c)
                src[act[h]] = latest[kact[h]]
            cand, kc = act[ci], kact[ci]
        np.minimum.at(first, kc, cand)
        is_first = first[kc] == cand
        fi = np.flatnonzero(is_first)
        pos, key = cand[fi], kc[fi]
        first[key] = _FAR
        miss[pos] = True
        src[pos] = pos
        latest[key] = pos
        new_exp[key] = t[pos] + (ttl if scalar else ttl[pos])
        rest = np.flatnonzero(~is_first)
        act, kact = cand[rest], kc[rest]
        tact, exp = t[act], new_exp[kact]
    else:  # many misses per key (tiny TTLs): finish the lookups left one by one
        cur: dict[int, tuple[float, int]] = {}
        ttl_act = np.broadcast_to(ttl, t.shape)[act]
        for a, k, tt, e, d in zip(act.tolist(), kact.tolist(), tact.tolist(), exp.tolist(),
                                  ttl_act.tolist(), strict=True):  # fmt: skip
            e, last = cur.get(k, (e, int(latest[k])))
            if tt >= e:
                miss[a] = True
                src[a] = a
                cur[k] = (tt + d, a)
            else:
                src[a] = last
    latest[keys[miss]] = -1  # the tables back at rest
    return miss, miss, src


def _lookups_grouped(keys: np.ndarray, t: np.ndarray, ttl: float | np.ndarray,
                     exp0: np.ndarray, tab: _Tables, in_order: bool) -> Lookups:  # fmt: skip
    """Any order, any TTLs: lookups grouped by key (batch order kept within)."""
    n = len(t)
    o = _group_order(keys, len(exp0))
    ks, ts = keys[o], t[o]
    ttl_s = ttl if np.ndim(ttl) == 0 else ttl[o]
    miss_s, stored_s = _renewal(ks, ts, ttl_s, exp0, tab, in_order)
    last = _last_stored(stored_s, ks)
    src_s = np.where(last >= 0, o[last], -1)
    src_s[miss_s] = o[miss_s]
    miss, stored, src = np.empty(n, dtype=bool), np.empty(n, dtype=bool), np.empty(n, np.int64)
    miss[o], stored[o], src[o] = miss_s, stored_s, src_s
    return miss, stored, src


def _group_order(keys: np.ndarray, n_keys: int) -> np.ndarray:
    """A stable order grouping equal keys (LSD radix sort on 16-bit digits)."""
    if n_keys <= 1 << 16:
        return np.argsort(keys.astype(np.uint16), kind="stable")
    if n_keys <= 1 << 32:
        o = np.argsort((keys & 0xFFFF).astype(np.uint16), kind="stable")
        return o[np.argsort((keys[o] >> 16).astype(np.uint16), kind="stable")]
    return np.argsort(keys, kind="stable")


def _renewal(ks: np.ndarray, ts: np.ndarray, ttl: float | np.ndarray, exp0: np.ndarray,
             tab: _Tables, in_order: bool) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(missed, stored) for lookups grouped by key. Each round finds every key's
    next storing miss: its first undecided lookup at or past the expiry in force;
    the lookups before it hit. ``in_order``: times never decrease within a key,
    so every lookup after a key's first one at or past the expiry is too."""
    n = len(ks)
    stored = np.zeros(n, dtype=bool)
    scalar = np.ndim(ttl) == 0
    can = ttl > 0
    if scalar and can:
        act, kact, tact = np.arange(n), ks, ts
    else:
        act = np.flatnonzero(np.broadcast_to(can, ks.shape))
        kact, tact = ks[act], ts[act]
    exp = exp0[kact]  # expiry in force for each undecided lookup that can store
    miss_at, new_exp = tab.first, tab.new_exp  # per key: its storing miss this round
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
        if in_order:  # the lookups after each miss are the other candidates
            rest = ~first
            act, kact = act[w[rest]], kw[rest]
        else:
            miss_at[key] = pos
            later = act > miss_at[kact]
            miss_at[key] = _FAR
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
    # Lookups that cannot store compare with the expiry their key has at that point.
    last = _last_stored(stored, ks)
    in_force = np.where(last >= 0, ts[last] + ttl[last], exp0[ks])
    return stored | (~can & (ts >= in_force)), stored


def _last_stored(stored: np.ndarray, ks: np.ndarray) -> np.ndarray:
    """Per lookup (grouped by key): its key's last stored lookup up to it, or -1."""
    pos = np.flatnonzero(stored)
    c = np.cumsum(stored)  # 1 + index in pos of the last stored lookup so far (0: none)
    key = np.concatenate(([-1], ks[pos]))  # keys are >= 0: slot 0 matches nothing
    return np.where(key[c] == ks, np.concatenate(([-1], pos))[c], -1)


def _store(exp: np.ndarray, ans: np.ndarray, tab: _Tables, keys: np.ndarray, t: np.ndarray,
           ttl: float | np.ndarray, stored: np.ndarray, ids: np.ndarray) -> None:  # fmt: skip
    """Write each key's last stored lookup back into the cache arrays."""
    pos = np.flatnonzero(stored)
    if not pos.size:
        return
    k = keys[pos]
    np.maximum.at(tab.latest, k, pos)
    last = tab.latest[k] == pos
    tab.latest[k] = -1
    pos, k = pos[last], k[last]
    exp[k] = t[pos] + (ttl if np.ndim(ttl) == 0 else ttl[pos])
    ans[k] = ids[pos]
