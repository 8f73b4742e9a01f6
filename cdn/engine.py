"""The simulation engine: a clock, a heap of timed events, and the caches.

Theory of operation
-------------------
Virtual time advances with the request stream. Scenario events (an edge going
down, the health checks noticing, a purge...) sit in a heap as
``(time, seq, action)``. ``Engine.run`` takes batches of requests in time
order, cuts each batch at the next event's time, hands the part before it to
the ``process`` callback, fires every event due, and carries on: between two
events the world is constant, so a whole slice can be processed in one go
(vectorised where requests are independent, a tight loop where they are not).

``EdgeCaches.serve`` runs the caches over a slice. Each node (edge or shield)
has a store from ``edge.store`` (the same store the live edge uses:
``request(key, size)`` does the hit update, admission, eviction and insert)
and, per key, when the latest fetch of it completes (or completed) and, for
content that expires, when that copy was asked for: its age counts from then
(RFC 9111 4.2.3: the response delay is part of the age). A hit while the
fetch is still in flight waits for it: that is request collapsing, one
upstream fetch for concurrent misses. The freshness of a hit is decided by
``edge.policy.classify(age, freshness)`` of its content type: ``hit``,
``stale`` (served, revalidated in the background) or ``revalidate`` (a
conditional request upstream before answering); the fast way below asks it
once per content type instead, for the two ages where its answer changes
(``_age_bounds``: classify is monotone in age). Misses go to the parent tier
(shield) when the node has one, else to the origin. While the origin is down,
a miss is an error unless stale-if-error lets a stored copy be served
(``edge.policy.can_serve_stale_on_error``).

Two ways to run a slice, with identical results (a test compares them):

- tier by tier (``EdgeCaches._tiers``), the fast way: bottom up, each node's
  store runs over every request that reaches it in one ``request_many`` call,
  the ages of hits on expiring content are judged per key in vectorised
  rounds (``_renewals``), and what misses or needs revalidating becomes the
  request's call on the parent; top down, numpy turns hop times into waits
  (worked out for the requests that make each hop only). This is exact because
  what a node asks upstream does not depend on how long fetches take: ages
  count from the asking, and it runs only while no fetch can outlast a
  freshness lifetime (so a hit that waits for a fetch in flight is fresh
  either way) and the origin is up (so no upstream failure makes a node drop
  a copy);
- request by request (``EdgeCaches._loop``), otherwise.

Outcome codes (per request): see ``HIT`` ... ``ERROR`` below.
"""

from __future__ import annotations

import heapq
import math
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

PRUNE_AT = 1 << 15  # entries in a node's table of fetch completion times before pruning
HIT, MISS, REVALIDATED, STALE, COLLAPSED, ERROR, PASS = range(7)
OUTCOMES = ("hit", "miss", "revalidated", "stale", "collapsed", "error", "pass")
# What a node does with a request in the tier-by-tier pass, and the outcome it means.
_K_HIT, _K_MISS, _K_REVALIDATE, _K_STALE = range(4)
_K_OUTCOME = np.array([HIT, MISS, REVALIDATED, STALE], dtype=np.int8)
# Origin traffic per request: none, a full fetch, or a conditional request (304).
NO_FETCH, FULL_FETCH, CONDITIONAL = 0, 1, 2


def _group_order(code: np.ndarray) -> np.ndarray:
    """A stable order grouping equal non-negative ``code`` values: an LSD radix
    sort on 16-bit digits (numpy sorts those stably in linear time)."""
    order = np.argsort((code & 0xFFFF).astype(np.uint16), kind="stable")
    high = code >> 16
    while len(high) and high.max() > 0:
        order = order[np.argsort((high[order] & 0xFFFF).astype(np.uint16), kind="stable")]
        high = high >> 16
    return order


def _age_bounds(classify: Callable[[float, object], str], f: object) -> tuple[float, float]:
    """The ages at which ``classify(age, f)`` stops answering "hit" and starts
    answering "revalidate" (stale in between), asked of classify itself: a
    bisection over the float64 values, which the policy core's monotone answer
    in age (hit, then stale, then revalidate; RFC 9111 4.2, RFC 5861) allows.
    ``inf`` if it never does."""

    def first(pred: Callable[[float], bool]) -> float:
        lo, hi = 0, 0x7FF0000000000000  # the bits of 0.0 and of inf, ordered as the floats
        if pred(0.0):
            return 0.0
        if not pred(math.inf):
            return math.inf
        while hi - lo > 1:  # pred(lo) false, pred(hi) true
            mid = (lo + hi) // 2
            if pred(_float(mid)):
                hi = mid
            else:
                lo = mid
        return _float(hi)

    fresh = first(lambda a: classify(a, f) != "hit")
    stale = first(lambda a: a >= fresh and classify(a, f) == "revalidate")
    return fresh, stale


def _take(hops, d: int, idx: np.ndarray) -> np.ndarray:
    """``hops[d][idx]``, from the requests ``idx`` alone when ``hops`` can."""
    take = getattr(hops, "take", None)
    return hops[d][idx] if take is None else take(d, idx)


def _float(bits: int) -> float:
    return struct.unpack("<d", struct.pack("<q", bits))[0]


class Engine:
    """A virtual clock with a heap of timed actions, SimPy style."""

    def __init__(self) -> None:
        self.now = 0.0
        self._heap: list[tuple[float, int, Callable[[float], None]]] = []
        self._seq = 0

    def at(self, when: float, action: Callable[[float], None]) -> None:
        """Run ``action(when)`` before any request at or after ``when``."""
        heapq.heappush(self._heap, (when, self._seq, action))
        self._seq += 1

    def _fire_until(self, t: float) -> None:
        while self._heap and self._heap[0][0] <= t:
            when, _, action = heapq.heappop(self._heap)
            self.now = max(self.now, when)
            action(when)

    def run(self, batches: Iterable, process: Callable, until: float | None = None) -> None:
        """Feed time-ordered batches (objects with ``.t`` and ``.slice(a, b)``) to
        ``process``, cut at event times so each slice sees a constant world."""
        for batch in batches:
            t = batch.t
            n = len(t)
            start = 0
            while start < n:
                self._fire_until(float(t[start]))
                nxt = self._heap[0][0] if self._heap else np.inf
                end = n if nxt == np.inf else int(np.searchsorted(t, nxt, side="left"))
                end = max(end, start + 1)
                process(batch.slice(start, end))
                self.now = float(t[end - 1])
                start = end
        if until is not None:
            self._fire_until(until)


@dataclass(frozen=True)
class Served:
    """What the caches did for a batch (parallel arrays)."""

    outcome: np.ndarray  # int8 outcome code
    upstream_ms: np.ndarray  # float64 time spent waiting on the parent or origin
    fetch: np.ndarray  # int8 origin traffic caused (NO_FETCH / FULL_FETCH / CONDITIONAL)


class EdgeCaches:
    """The edge (and shield) caches of a scenario, driven by the requests' edge choice.

    Request classes (per content type, decided once from the policy core):
    ``FOREVER`` cacheable and fresh for the whole run, ``EXPIRING`` cacheable
    with a finite freshness, ``UNCACHEABLE`` never stored (passed through).
    """

    FOREVER, EXPIRING, UNCACHEABLE, FAILED = range(4)
    RENEWAL_ROUNDS = 8  # vectorised rounds of _renewals before a loop takes the rest

    def __init__(
        self,
        stores: Sequence,
        parents: Sequence[int],
        freshness: Sequence,
        classify: Callable[[float, object], str],
        never_expires: Sequence[bool],
        cacheable: Sequence[bool],
        stale_on_error: Callable[[int, float], bool],
    ):
        self.stores = list(stores)
        self.parents = list(parents)  # index of the parent store, -1 for the origin
        self.freshness = list(freshness)  # per content type
        self.classify = classify
        self.never = list(never_expires)  # per content type: classify is "hit" all run long
        self.cacheable = list(cacheable)
        self.stale_on_error = stale_on_error  # (content type, age) -> may serve stale
        # key -> when the latest fetch of it completes, for fetches that may still be
        # in flight (a key missing here is not: hits on it wait for nothing)
        self.inflight: list[dict] = [{} for _ in stores]
        # key -> time the stored copy was asked for, for content that expires: its age
        # counts from then (RFC 9111 4.2.3: the response delay is part of the age)
        self.stored: list[dict] = [{} for _ in stores]
        self.origin_up = True
        self._latest = -np.inf  # every fetch begun so far completes by then
        self.batched = True  # False: always the request-by-request loop (same results)
        self.tier_batches = 0  # batches served tier by tier (the others by the loop)
        n = len(self.stores)
        # Requests that reached each store from a child tier (shields), and their hits.
        self.tier_requests = [0] * n
        self.tier_hits = [0] * n
        self.tier_bytes = [0] * n
        self.tier_hit_bytes = [0] * n
        self.ctype_class = np.array(
            [
                self.UNCACHEABLE if not c else self.FOREVER if nv else self.EXPIRING
                for c, nv in zip(self.cacheable, self.never, strict=True)
            ],
            dtype=np.int8,
        )
        self._up_arrays: Sequence[np.ndarray] = ()
        self._cond_arrays: Sequence[np.ndarray] = ()
        self._up: list[list[float] | None] = []
        self._cond: list[list[float] | None] = []
        # Each node's ancestors, nearest first (shields between it and the origin).
        self._chains: list[list[int]] = []
        for x in range(n):
            chain, p = [], self.parents[x]
            while p >= 0:
                chain.append(p)
                p = self.parents[p]
            self._chains.append(chain)
        # Nodes children first, and hops from each to the origin at most.
        self._bottom_up = sorted(range(n), key=lambda x: -len(self._chains[x]))
        # Per content type, the ages (s) at which classify stops answering "hit"
        # (how long a copy stays a plain hit) and starts answering "revalidate".
        bounds = [_age_bounds(classify, f) for f in self.freshness]
        self._fresh_for = np.array([b[0] for b in bounds], dtype=np.float64)
        self._stale_for = np.array([b[1] for b in bounds], dtype=np.float64)
        self._hop_max = [0.0] * n  # the longest hop (ms) from each node to its parent so far
        self._has_children = {p for p in self.parents if p >= 0}

    def purge(self, keys: Iterable[int]) -> int:
        """Drop ``keys`` from every store; returns the number of copies removed."""
        removed = 0
        for store, inflight, stored in zip(self.stores, self.inflight, self.stored, strict=True):
            for k in keys:
                if store.remove(k):
                    removed += 1
                inflight.pop(k, None)
                stored.pop(k, None)
        return removed

    def _arrives(self, x: int, k, when: float, asked: float, ct: int) -> None:
        """Node ``x`` holds a copy of ``k`` from ``when`` on, asked for at ``asked``."""
        self.inflight[x][k] = when
        if not self.never[ct]:
            self.stored[x][k] = asked

    def serve(self, t, edge, key, size, ctype, up_ms, cond_ms) -> Served:
        """Serve a batch. ``up_ms[d]`` / ``cond_ms[d]``: full / conditional fetch
        time of the hop from depth ``d`` of the request's tier chain to the next
        one up (depth 0 is the edge itself; the last hop ends at the origin).
        Arrays, or objects that also answer ``take(d, idx)`` (``up_ms[d][idx]``,
        worked out for those requests only) and ``up_ms.group_max(d, ci, starts,
        groups)`` (no fetch of either kind per group of requests ``ci`` is longer).

        Two ways, with the same results: tier by tier (``_tiers``) while the
        origin is up and no fetch can outlast a freshness lifetime, else the
        request-by-request loop (``_loop``).
        """
        n = len(t)
        if not n:
            return Served(np.zeros(0, np.int8), np.zeros(0), np.zeros(0, np.int8))
        t0 = float(t[0])
        # Fetches completed before this batch can no longer hold anyone up: drop them
        # once a table grows (the lookups compare times, so this is only about memory).
        self.inflight = [{k: r for k, r in d.items() if r > t0} if len(d) > PRUNE_AT else d
                         for d in self.inflight]  # fmt: skip
        cls = np.where(edge < 0, self.FAILED, self.ctype_class[ctype]).astype(np.int8)
        # Cacheable requests by edge, time order kept within each.
        ci = np.flatnonzero(cls <= self.EXPIRING)
        ce = edge[ci]
        ci = ci[np.argsort(ce.astype(np.int16), kind="stable")]
        ends = np.cumsum(np.bincount(ce, minlength=len(self.stores)))
        self._note_hops(ci, ends, up_ms, cond_ms)
        if self.batched and self.origin_up and self._no_fetch_outlasts_freshness(cls, ctype):
            served = self._tiers(t, edge, key, size, cls, ctype, up_ms, cond_ms, ci, ends)
            self.tier_batches += 1
        else:
            out, waits, fetches = self._loop(t, edge, key, size, cls, ctype, up_ms, cond_ms)
            served = Served(np.array(out, dtype=np.int8), np.array(waits),
                            np.array(fetches, dtype=np.int8))  # fmt: skip
        # Every fetch of this batch completes by then (a parent's before its child's).
        self._latest = max(self._latest, float((t + served.upstream_ms * 0.001).max()))
        return served

    def _note_hops(self, ci, ends, up_ms, cond_ms) -> None:
        """Keep each node's longest hop to its parent (ms) up to date, from the
        cacheable requests ``ci`` grouped by edge (group x ends at ``ends[x]``)."""
        full = np.flatnonzero(np.diff(ends, prepend=0))  # edges with requests
        if not len(full):
            return
        starts = (ends[full] - np.diff(ends, prepend=0)[full]).tolist()
        group_max = getattr(up_ms, "group_max", None)
        for d in range(len(up_ms)):
            if group_max is not None:
                longest = group_max(d, ci, starts, full)
            else:
                longest = np.maximum.reduceat(np.maximum(up_ms[d], cond_ms[d])[ci], starts)
            for x, m in zip(full.tolist(), longest.tolist(), strict=True):
                chain = self._chains[x]
                if d <= len(chain):
                    node = x if d == 0 else chain[d - 1]
                    if m > self._hop_max[node]:
                        self._hop_max[node] = m

    def _no_fetch_outlasts_freshness(self, cls, ctype) -> bool:
        """Whether every copy of expiring content is still fresh for as long as any
        fetch can take: then whether a hit waits for a fetch in flight never
        changes what the cache asks upstream, and the tiers can run one by one."""
        expiring = cls == self.EXPIRING
        if not expiring.any():
            return True
        window = self._fresh_for[ctype[expiring]].min()
        # A fetch from a node takes its hop plus at most its parent's longest fetch
        # (a parent answers at once, after its own fetch, or when one already in
        # flight completes, which began earlier and took no longer than that).
        longest = max(self._hop_max[x] + sum(self._hop_max[p] for p in self._chains[x])
                      for x in range(len(self.stores)))  # fmt: skip
        return bool(longest * 0.001 < window)

    def _tiers(self, t, edge, key, size, cls, ctype, up_ms, cond_ms, ci, ends) -> Served:
        """The batch one tier at a time.

        Bottom up, each node's store runs over the requests that reach it, in
        time order, in one ``request_many`` call, and ``_renewals`` judges the
        age of each hit on expiring content. What
        misses, or needs revalidating, becomes that request's call on the
        parent. None of this depends on how long fetches take, because a copy's
        age counts from when it was asked for and no fetch outlasts a freshness
        lifetime (``_no_fetch_outlasts_freshness``). Top down, numpy then turns
        hop times into waits: a node answers at once, after its parent's
        answer plus the hop, or, when a fetch of the same key is still in
        flight there, when that fetch completes.
        """
        n = len(t)
        out = np.zeros(n, dtype=np.int8)  # HIT
        waits = np.zeros(n)
        fetch = np.zeros(n, dtype=np.int8)  # NO_FETCH
        out[cls == self.FAILED] = ERROR
        self._pass_through(np.flatnonzero(cls == self.UNCACHEABLE), edge, size, up_ms, out,
                           waits, fetch)  # fmt: skip
        # What reaches each node: (requests in time order, the depth of the node in
        # their tier chain: one int for all, or an array). Its own clients first.
        incoming: list[list[tuple[np.ndarray, int | np.ndarray]]] = []
        start = 0
        for end in ends.tolist():
            own = ci[start:end]
            incoming.append([(own, 0)] if len(own) else [])
            start = end
        nodes: dict[int, tuple] = {}
        for x in self._bottom_up:
            parts = incoming[x]
            if not parts:
                continue
            oi, od = parts[0] if len(parts) == 1 else self._merge(parts, n)
            keys = key[oi]
            g = _group_order(keys)  # by key, time order within
            kind = self._node_pass(x, oi, g, keys, t, key, size, cls, ctype)
            p = self.parents[x]
            if p >= 0:
                onward = np.flatnonzero(kind != _K_HIT)
                if len(onward):
                    incoming[p].append((oi[onward], od + 1 if isinstance(od, int)
                                        else od[onward] + 1))  # fmt: skip
            nodes[x] = (oi, od, kind, g, keys)
        answer: dict[int, np.ndarray] = {}
        for x in reversed(self._bottom_up):
            if x in nodes:
                answer[x] = self._node_waits(x, nodes, answer, t, key, size, up_ms, cond_ms,
                                             out, waits, fetch)  # fmt: skip
        return Served(out, waits, fetch)

    @staticmethod
    def _merge(parts, n: int) -> tuple[np.ndarray, int | np.ndarray]:
        """The requests of several parts (disjoint, each in time order) in time order,
        and their depths."""
        mark = np.zeros(n, dtype=bool)
        for pi, _ in parts:
            mark[pi] = True
        oi = np.flatnonzero(mark)
        depths = {pd for _, pd in parts if isinstance(pd, int)}
        if len(depths) == 1 and all(isinstance(pd, int) for _, pd in parts):
            return oi, depths.pop()
        d = np.zeros(n, dtype=np.int8)
        for pi, pd in parts:
            d[pi] = pd
        return oi, d[oi]

    def _node_pass(self, x, oi, g, keys, t, key, size, cls, ctype) -> np.ndarray:
        """Node ``x``'s store over requests ``oi`` (``keys`` their keys, ``g`` their
        order by key, time order within); what each needs: hit, a fetch, a revalidation, or a stale
        answer with a revalidation behind it."""
        flags = self.stores[x].request_many(keys, size[oi])
        hit = np.frombuffer(flags, dtype=np.bool_)
        kind = np.logical_not(hit).view(np.int8)  # _K_HIT or _K_MISS
        expiring = cls[oi] == self.EXPIRING
        if expiring.any():
            ex = g[expiring[g]]  # expiring content, by key, in time order within
            self._renewals(x, ex, oi, keys, kind, t, ctype)
        return kind

    def _renewals(self, x, ex, oi, keys, kind, t, ctype) -> None:
        """Which hits on expiring content ``ex`` (positions in ``oi``, by key, time
        order within) find their copy too old: ``kind`` stale or revalidate.

        A copy's age counts from the latest request that stored it or renewed it
        (a miss, a revalidation, a stale answer). classify says "hit" below the
        age ``_fresh_for`` of the content type, so within each run of a key's
        requests from one such request to the next, the first hit at or past that
        age is the next renewal, and the hits before it are plain hits. One round
        finds that first renewal in every run at once and splits the runs there;
        a key needs as many rounds as it has renewals in the batch (a batch spans
        a few lifetimes at most), and a long tail of rounds goes to a loop.
        A renewal is stale below the age ``_stale_for``, else a revalidation.
        """
        sel = oi[ex]
        k, tt, ct = keys[ex], t[sel], ctype[sel]
        life = self._fresh_for[ct]
        miss = kind[ex] == _K_MISS
        n = len(ex)
        first = np.empty(n, dtype=bool)  # a key's first request in the batch
        first[0] = True
        np.not_equal(k[1:], k[:-1], out=first[1:])
        # Runs start at misses (stored now) and at a key's first request (its copy
        # stored or renewed before the batch, at the time kept in self.stored).
        base = tt.copy()
        fh = np.flatnonzero(first & ~miss)
        stored = self.stored[x]
        if len(fh):
            base[fh] = [stored[c] for c in k[fh].tolist()]
        run = np.maximum.accumulate(np.where(first | miss, np.arange(n), 0))
        act = np.flatnonzero(~miss)  # hits not known to be plain hits yet, in order
        arun = run[act]  # where each one's run starts
        abase = base[arun]  # and when its copy was stored or renewed
        renewed = []
        ages = []
        for _ in range(self.RENEWAL_ROUNDS):
            age = tt[act] - abase
            c = np.flatnonzero(~(age < life[act]))
            if not len(c):
                act = act[:0]
                break
            cr = arun[c]
            f = c[np.append(True, cr[1:] != cr[:-1])]  # the first renewal in each run
            renewed.append(act[f])
            ages.append(age[f])
            # The hits after a renewal in its run form a new run from it.
            pos = np.arange(len(act))
            last = np.full(len(act), -1)
            last[f] = f
            np.maximum.accumulate(last, out=last)
            lc = np.maximum(last, 0)
            keep = (last >= 0) & (pos > last) & (arun[lc] == arun)
            arun = act[lc[keep]]
            act = act[keep]
            abase = tt[arun]
        if len(act):  # keys with many renewals in this batch: the rest one by one
            renewed_rest, ages_rest = [], []
            cur, b = -1, 0.0
            tl, ll = tt.tolist(), life.tolist()
            for j, r, b0 in zip(act.tolist(), arun.tolist(), abase.tolist(), strict=True):
                if r != cur:
                    cur, b = r, b0
                a = tl[j] - b
                if not a < ll[j]:
                    renewed_rest.append(j)
                    ages_rest.append(a)
                    b = tl[j]
            renewed.append(np.array(renewed_rest, dtype=np.int64))
            ages.append(np.array(ages_rest, dtype=np.float64))
        rj = np.concatenate(renewed) if renewed else np.zeros(0, dtype=np.int64)
        if len(rj):
            stale = np.concatenate(ages) < self._stale_for[ct[rj]]
            kind[ex[rj]] = np.where(stale, _K_STALE, _K_REVALIDATE)
        # Each key's copy now counts its age from its last miss or renewal.
        mark = miss.copy()
        mark[rj] = True
        m = np.flatnonzero(mark)
        if len(m):
            m = m[np.append(k[m][1:] != k[m][:-1], True)]
            stored.update(zip(k[m].tolist(), tt[m].tolist(), strict=True))

    def _node_waits(self, x, nodes, answer, t, key, size, up_ms, cond_ms, out, waits, fetch):
        """How long node ``x`` takes to answer each request that reached it (ms),
        its parent's answers known; fills in the results of its own clients."""
        oi, od, kind, g, keys = nodes[x]
        n = len(oi)
        tx = t[oi]
        onward = kind != _K_HIT
        on = np.flatnonzero(onward)
        ou = oi[on]
        ku = kind[on]
        cond = np.flatnonzero(ku != _K_MISS)  # revalidations (and stale answers)
        hop = self._hops(ou, od if isinstance(od, int) else od[on], cond, up_ms, cond_ms)
        p = self.parents[x]
        if p >= 0:
            # (a parent no request reached this batch has no answers to look up)
            u = hop + answer[p][ou] if len(ou) else hop
        else:
            u = hop
            f = np.full(len(ou), FULL_FETCH, dtype=np.int8)
            f[cond] = CONDITIONAL
            fetch[ou] = f
        ans = np.zeros(n)
        ans_on = np.where(ku == _K_STALE, 0.0, u)
        ans[on] = ans_on
        ready = np.full(n, -np.inf)  # when a copy fetched by this request arrives
        ready[on] = tx[on] + ans_on * 0.001  # (a stale answer's: at once)
        kg = keys[g]
        og = onward[g]
        last = np.full(n, -1)
        last[og] = np.flatnonzero(og)
        np.maximum.accumulate(last, out=last)
        lc = np.maximum(last, 0)
        after = (last >= 0) & (kg[lc] == kg)  # a fetch of the same key came before
        r = ready[g[lc]]
        collapsed = self._collapse(x, g, after, r, keys, tx, onward, ans)
        self._still_in_flight(x, kg, after, r, float(t[-1]))
        if isinstance(od, int):  # every request here came from the same depth
            own = kids = slice(None)
            if od:
                own = None
            else:
                kids = None
        else:
            own, kids = np.flatnonzero(od == 0), np.flatnonzero(od > 0)
            collapsed = collapsed[od[collapsed] == 0]
        if kids is not None:  # requests from child tiers
            ik = oi[kids]
            hits = ik[~onward[kids]]
            self.tier_requests[x] += len(ik)
            self.tier_bytes[x] += int(size[ik].sum())
            self.tier_hits[x] += len(hits)
            self.tier_hit_bytes[x] += int(size[hits].sum())
        if own is not None:
            i0 = oi[own]
            out[i0] = _K_OUTCOME[kind[own]]
            out[oi[collapsed]] = COLLAPSED
            waits[i0] = ans[own]
        if x in self._has_children:  # answers by request index, for the children
            by_index = np.empty(len(t))
            by_index[oi] = ans
            return by_index
        return ans

    @staticmethod
    def _hops(ou, du, cond, up_ms, cond_ms) -> np.ndarray:
        """The hop times (ms) of requests ``ou`` going up from depth ``du`` (one
        depth for all, or one each): full fetches, ``cond`` (positions) conditional."""
        if isinstance(du, int):
            if not len(cond):
                return _take(up_ms, du, ou)
            hop = np.empty(len(ou))
            is_cond = np.zeros(len(ou), dtype=bool)
            is_cond[cond] = True
            full = np.flatnonzero(~is_cond)
            hop[full] = _take(up_ms, du, ou[full])
            hop[cond] = _take(cond_ms, du, ou[cond])
            return hop
        hop = np.empty(len(ou))
        is_cond = np.zeros(len(ou), dtype=bool)
        is_cond[cond] = True
        for d in np.unique(du).tolist():
            m = du == d
            f, c = np.flatnonzero(m & ~is_cond), np.flatnonzero(m & is_cond)
            hop[f] = _take(up_ms, d, ou[f])
            hop[c] = _take(cond_ms, d, ou[c])
        return hop

    def _collapse(self, x, g, after, r, keys, tx, onward, ans) -> np.ndarray:
        """Hits at ``x`` that wait for a fetch of their key still in flight (their
        positions): the latest fetch before them in this batch (completing at
        ``r``, both in the key order ``g``), else one from before the batch."""
        hits = ~onward
        wait = np.flatnonzero(hits[g] & after & (r > tx[g]))
        j = g[wait]
        ans[j] = (r[wait] - tx[j]) * 1000.0
        early = np.flatnonzero(hits & (tx < self._latest))  # maybe a fetch from before
        if len(early):
            first = np.empty(len(g), dtype=bool)
            first[g] = ~after
            early = early[first[early]]
            get = self.inflight[x].get
            rc = np.array([get(k, -np.inf) for k in keys[early].tolist()], dtype=np.float64)
            more = np.flatnonzero(rc > tx[early])
            if len(more):
                e = early[more]
                ans[e] = (rc[more] - tx[e]) * 1000.0
                j = np.concatenate([j, e])
        return j

    def _still_in_flight(self, x, kg, after, r, t_end: float) -> None:
        """Node ``x``'s table after the batch: the latest fetch of every key that
        may still be in flight when the batch ends (``kg`` keys in key order, ``r``
        the completion of the latest fetch so far at each position). Keys left out
        completed by ``t_end``: nothing later can wait for them."""
        n = len(kg)
        late = np.flatnonzero(r > t_end)
        # ... of a fetch before it of the same key, at the key's last row
        late = late[after[late] & ((late == n - 1) | (kg[np.minimum(late + 1, n - 1)] != kg[late]))]
        table = {}
        old = [(k, rc) for k, rc in self.inflight[x].items() if rc > t_end]
        if old:  # from before: kept unless fetched again
            ok = np.array([k for k, _ in old])
            j = np.searchsorted(kg, ok, side="right") - 1  # the key's last row, if any
            jc = np.maximum(j, 0)
            again = (j >= 0) & (kg[jc] == ok) & after[jc]
            table.update(kr for kr, a in zip(old, again.tolist(), strict=True) if not a)
        table.update(zip(kg[late].tolist(), r[late].tolist(), strict=True))
        self.inflight[x] = table

    def _pass_through(self, idx, edge, size, up_ms, out, waits, fetch) -> None:
        """Uncacheable requests: up the whole chain to the origin and back."""
        if not len(idx):
            return
        out[idx] = PASS
        fetch[idx] = FULL_FETCH
        e = edge[idx]
        for x in np.unique(e).tolist():
            sel = idx[e == x]
            chain = self._chains[x]
            w = _take(up_ms, len(chain), sel)
            for d in range(len(chain) - 1, -1, -1):  # summed from the origin end
                w = _take(up_ms, d, sel) + w
            waits[sel] = w
            b = int(size[sel].sum())
            for p in chain:
                self.tier_requests[p] += len(sel)
                self.tier_bytes[p] += b

    def _loop(self, t, edge, key, size, cls, ctype, up_ms, cond_ms):
        """The request-by-request loop over parallel arrays."""
        up0 = up_ms[0].tolist()
        # The other hops are only read on slow paths: lists made on first use.
        self._up_arrays, self._cond_arrays = up_ms, cond_ms
        self._up = [up0] + [None] * (len(up_ms) - 1)
        self._cond = [None] * len(cond_ms)
        requests = [s.request for s in self.stores]
        inflight, stored = self.inflight, self.stored
        parents = self.parents
        direct = [p < 0 for p in parents]
        via_shield = [p >= 0 and parents[p] < 0 for p in parents]  # parent -> origin
        up1 = None
        chains = self._chains

        def hop_list(d: int) -> list[float]:
            h = self._up[d]
            if h is None:
                h = self._up[d] = self._up_arrays[d].tolist()
            return h

        tier_req, tier_hits = self.tier_requests, self.tier_hits
        tier_bytes, tier_hit_bytes = self.tier_bytes, self.tier_hit_bytes
        origin_up = self.origin_up
        classify, fresh = self.classify, self.freshness
        cls = cls.tolist()
        n = len(cls)
        out = [HIT] * n  # outcome per request; most are hits
        waits = [0.0] * n  # ms spent waiting on the upstream
        fetches = [NO_FETCH] * n  # origin traffic caused
        i = -1
        for tt, e, k, s, c, ct in zip(
            t.tolist(), edge.tolist(), key.tolist(), size.tolist(), cls, ctype.tolist(),
            strict=True,
        ):  # fmt: skip
            i += 1
            if c <= 1:  # FOREVER or EXPIRING: the store decides hit or miss
                if requests[e](k, s):
                    r = inflight[e].get(k)
                    if r is not None and r > tt:  # stored by a fetch still in flight: wait
                        out[i] = COLLAPSED
                        waits[i] = (r - tt) * 1000.0
                    elif c == 1:
                        age = tt - stored[e][k]
                        if classify(age, fresh[ct]) != "hit":
                            out[i], waits[i], fetches[i] = self._expired(e, k, s, ct, tt, age, i)
                elif origin_up and direct[e]:  # the common miss, inline
                    w = up0[i]
                    r = tt + w * 0.001
                    inflight[e][k] = r
                    if c == 1:
                        stored[e][k] = tt
                    out[i] = MISS
                    waits[i] = w
                    fetches[i] = FULL_FETCH
                elif origin_up and via_shield[e]:  # the common shield miss, inline
                    # (what _upstream does at depth 0 when the shield's parent is the origin)
                    p = parents[e]
                    tier_req[p] += 1
                    tier_bytes[p] += s
                    w = up0[i]
                    if requests[p](k, s):
                        r = inflight[p].get(k)
                        if r is not None and r > tt:  # collapsed onto the shield's fetch
                            tier_hits[p] += 1
                            tier_hit_bytes[p] += s
                            w += (r - tt) * 1000.0
                        elif (
                            c == 1 and (v := classify(age := tt - stored[p][k], fresh[ct])) != "hit"
                        ):  # the shield's copy expired: the slow path
                            ok, w, fetches[i] = self._parent_expired(
                                p, 0, k, s, ct, tt, i, w, age, v
                            )
                            if not ok:
                                waits[i] = w
                                self.stores[e].remove(k)
                                out[i] = ERROR
                                continue
                        else:
                            tier_hits[p] += 1
                            tier_hit_bytes[p] += s
                    else:
                        if up1 is None:
                            up1 = self._up[1]
                            if up1 is None:
                                up1 = self._up[1] = self._up_arrays[1].tolist()
                        w1 = up1[i]
                        r = tt + w1 * 0.001
                        inflight[p][k] = r
                        if c == 1:
                            stored[p][k] = tt
                        w += w1
                        fetches[i] = FULL_FETCH
                    r = tt + w * 0.001
                    inflight[e][k] = r
                    if c == 1:
                        stored[e][k] = tt
                    out[i] = MISS
                    waits[i] = w
                elif origin_up:  # a miss up a longer tier chain: _upstream's recursion, unrolled
                    chain = chains[e]
                    ok, f, missed = True, FULL_FETCH, len(chain)
                    for d, p in enumerate(chain):  # climb until a tier has the object
                        tier_req[p] += 1
                        tier_bytes[p] += s
                        if requests[p](k, s):
                            missed = d
                            w = hop_list(d)[i]
                            r = inflight[p].get(k)
                            if r is not None and r > tt:  # collapsed onto that tier's fetch
                                tier_hits[p] += 1
                                tier_hit_bytes[p] += s
                                w += (r - tt) * 1000.0
                                f = NO_FETCH
                            elif (
                                c == 1
                                and (v := classify(age := tt - stored[p][k], fresh[ct])) != "hit"
                            ):
                                ok, w, f = self._parent_expired(p, d, k, s, ct, tt, i, w, age, v)
                            else:
                                tier_hits[p] += 1
                                tier_hit_bytes[p] += s
                                f = NO_FETCH
                            break
                    else:  # no tier had it: the top one fetches from the origin
                        w = hop_list(missed)[i]
                    for d in range(missed - 1, -1, -1):  # back down the tiers that missed
                        p = chain[d]
                        if ok:
                            r = tt + w * 0.001
                            inflight[p][k] = r
                            if c == 1:
                                stored[p][k] = tt
                            w = hop_list(d)[i] + w
                        else:
                            self.stores[p].remove(k)
                            w, f = 0.0, NO_FETCH
                    fetches[i] = f
                    waits[i] = w
                    if ok:
                        r = tt + w * 0.001
                        inflight[e][k] = r
                        if c == 1:
                            stored[e][k] = tt
                        out[i] = MISS
                    else:
                        self.stores[e].remove(k)
                        out[i] = ERROR
                else:
                    ok, w, fetches[i] = self._upstream(e, 0, k, s, ct, tt, i, False)
                    waits[i] = w
                    if ok:
                        self._arrives(e, k, tt + w * 0.001, tt, ct)
                        out[i] = MISS
                    else:
                        self.stores[e].remove(k)
                        out[i] = ERROR
            elif c == 2 and origin_up:  # UNCACHEABLE, passed up the chain: inline
                # (what _upstream does for content no tier stores; summed from the
                # origin end, as its recursion does, so the floats are the same)
                chain = chains[e]
                w = hop_list(len(chain))[i]
                for d in range(len(chain) - 1, -1, -1):
                    p = chain[d]
                    tier_req[p] += 1
                    tier_bytes[p] += s
                    w = (up0 if d == 0 else hop_list(d))[i] + w
                out[i] = PASS
                waits[i] = w
                fetches[i] = FULL_FETCH
            elif c == self.UNCACHEABLE:
                ok, waits[i], fetches[i] = self._upstream(e, 0, k, s, ct, tt, i, False)
                out[i] = PASS if ok else ERROR
            else:
                out[i] = ERROR
        return out, waits, fetches

    # the slow paths: the tier chain and expired copies -------------------------------
    def _upstream(self, e, d, k, s, ct, t, i, cond) -> tuple[bool, float, int]:
        """Node ``e`` (depth ``d``) needs ``k`` from upstream (a revalidation when
        ``cond``): (available, ms until it is, origin traffic caused)."""
        hops = self._cond if cond else self._up
        h = hops[d]
        if h is None:  # made on first use: most batches never need the upper hops
            h = hops[d] = (self._cond_arrays if cond else self._up_arrays)[d].tolist()
        hop = h[i]
        p = self.parents[e]
        if p < 0:
            if not self.origin_up:
                return False, 0.0, NO_FETCH
            return True, hop, CONDITIONAL if cond else FULL_FETCH
        cacheable = self.cacheable[ct]
        direct = self.parents[p] < 0
        self.tier_requests[p] += 1
        self.tier_bytes[p] += s
        if cacheable and self.stores[p].request(k, s):
            r = self.inflight[p].get(k)
            if r is not None and r > t:  # collapsed onto the parent's fetch
                self.tier_hits[p] += 1
                self.tier_hit_bytes[p] += s
                return True, hop + (r - t) * 1000.0, NO_FETCH
            age = 0.0 if self.never[ct] else t - self.stored[p][k]
            verdict = "hit" if self.never[ct] else self.classify(age, self.freshness[ct])
            if verdict == "hit":
                self.tier_hits[p] += 1
                self.tier_hit_bytes[p] += s
                return True, hop, NO_FETCH
            return self._parent_expired(p, d, k, s, ct, t, i, hop, age, verdict)
        if direct and self.origin_up:  # the parent fetches from the origin (no recursion)
            h = self._up[d + 1]
            if h is None:
                h = self._up[d + 1] = self._up_arrays[d + 1].tolist()
            w, f = h[i], FULL_FETCH
        else:
            ok, w, f = self._upstream(p, d + 1, k, s, ct, t, i, False)
            if not ok:
                if cacheable:
                    self.stores[p].remove(k)
                return False, 0.0, NO_FETCH
        if cacheable:
            r = t + w * 0.001
            self.inflight[p][k] = r
            if not self.never[ct]:
                self.stored[p][k] = t
        return True, hop + w, f

    def _parent_expired(self, p, d, k, s, ct, t, i, hop, age, verdict) -> tuple[bool, float, int]:
        """Parent ``p`` of a depth-``d`` node holds an expired copy of ``k`` (``verdict``
        from classify, not "hit"): it revalidates upstream. Returns what ``_upstream``
        does; ``hop`` is the time of the hop to the parent."""
        ok, w, f = self._upstream(p, d + 1, k, s, ct, t, i, True)
        if not ok:
            return self.stale_on_error(ct, age), hop, NO_FETCH
        if verdict == "stale":  # the parent answers stale and refreshes behind
            self._arrives(p, k, t, t, ct)
            return True, hop, f
        self._arrives(p, k, t + w * 0.001, t, ct)
        return True, hop + w, f

    def _expired(self, e, k, s, ct, t, age, i) -> tuple[int, float, int]:
        """A stored copy that classify() did not call a plain hit."""
        verdict = self.classify(age, self.freshness[ct])
        ok, wait, fetch = self._upstream(e, 0, k, s, ct, t, i, True)
        if not ok:
            if self.stale_on_error(ct, age):
                return STALE, 0.0, NO_FETCH
            self.stores[e].remove(k)
            self.stored[e].pop(k, None)
            return ERROR, 0.0, NO_FETCH
        if verdict == "stale":  # stale-while-revalidate: answer now, refresh behind
            self._arrives(e, k, t, t, ct)  # the stale copy stays servable meanwhile
            return STALE, 0.0, fetch
        self._arrives(e, k, t + wait * 0.001, t, ct)
        return REVALIDATED, wait, fetch
