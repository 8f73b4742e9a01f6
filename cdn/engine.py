"""The simulation engine: a clock, a heap of timed events, and the edge caches' loop.

Theory of operation
-------------------
Virtual time advances with the request stream. Scenario events (an edge going
down, the health checks noticing, a purge...) sit in a heap as
``(time, seq, action)``. ``Engine.run`` takes batches of requests in time
order, cuts each batch at the next event's time, hands the part before it to
the ``process`` callback, fires every event due, and carries on: between two
events the world is constant, so a whole slice can be processed in one go
(vectorised where requests are independent, a tight loop where they are not).

``EdgeCaches.serve`` is that tight loop for the caches. Each edge has a store
from ``edge.store`` (the same store the live edge uses: ``request(key, size)``
does the hit update, admission, eviction and insert) and dicts of the time
each copy became (or becomes) available: its fetch completion. A hit on a copy
whose fetch has not completed yet waits for it: that is request collapsing,
one origin fetch for concurrent misses. The freshness of a hit is decided by
``edge.policy.classify(age, freshness)`` of its content type: ``hit``,
``stale`` (served, revalidated in the background) or ``revalidate`` (a
conditional request to the origin before answering). Misses go to the parent
tier (shield) when the edge has one, else to the origin. While the origin is
down, a miss is an error unless stale-if-error lets a stored copy be served
(``edge.policy.can_serve_stale_on_error``).

Outcome codes (per request): see ``HIT`` ... ``ERROR`` below.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

PRUNE_AT = 1 << 15  # entries in a node's table of fetch completion times before pruning
HIT, MISS, REVALIDATED, STALE, COLLAPSED, ERROR, PASS = range(7)
OUTCOMES = ("hit", "miss", "revalidated", "stale", "collapsed", "error", "pass")
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
        # key -> time a fetch in flight completes (pruned once past: kept small, so
        # the check on every hit stays cheap)
        self.inflight: list[dict] = [{} for _ in stores]
        # key -> time the stored copy arrived, for content that expires (its age)
        self.stored: list[dict] = [{} for _ in stores]
        self.origin_up = True
        self._latest = -np.inf  # every fetch begun so far completes by then
        self.batched = True  # False: always the request-by-request loop (same results)
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
        # Leaves: nodes no other node fetches through (their stores run batched).
        self._leaf = np.array([x not in self.parents for x in range(n)], dtype=bool)

    def depth(self) -> int:
        """Hops on the longest path from an edge to the origin."""
        best = 0
        for e in range(len(self.stores)):
            d, p = 1, self.parents[e]
            while p >= 0:
                d, p = d + 1, self.parents[p]
            best = max(best, d)
        return best

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

    def _arrives(self, x: int, k, when: float, ct: int) -> None:
        """Node ``x`` holds a copy of ``k`` from ``when`` on."""
        self.inflight[x][k] = when
        if not self.never[ct]:
            self.stored[x][k] = when

    def serve(self, t, edge, key, size, ctype, up_ms, cond_ms) -> Served:
        """Serve a batch. ``up_ms[d]`` / ``cond_ms[d]``: full / conditional fetch
        time of the hop from depth ``d`` of the request's tier chain to the next
        one up (depth 0 is the edge itself; the last hop ends at the origin).

        While the origin is up nothing upstream can make an edge drop a copy, so
        each edge's store sees the same calls whatever happens above it: the
        leaf edges' stores run first, one batch per edge (``request_many``);
        the loop then visits only the requests that need more than a store
        answer (misses, expiring content, anything at a shield), and fresh hits
        on content that never expires are settled afterwards with numpy: they
        wait only when an earlier fetch of the same key at that edge is still in
        flight. The outcome is exactly the one request-by-request loop's, which
        runs instead while the origin is down.
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
        if not self.origin_up or not self.batched:
            out, waits, fetches = self._loop(t, edge, key, size, cls, ctype, up_ms, cond_ms,
                                             np.full(n, 2, dtype=np.int8))  # fmt: skip
            served = Served(np.array(out, dtype=np.int8), np.array(waits),
                            np.array(fetches, dtype=np.int8))  # fmt: skip
            self._latest = max(self._latest, float((t + served.upstream_ms * 0.001).max()))
            return served
        leaf = (cls <= self.EXPIRING) & self._leaf[np.where(edge < 0, 0, edge)]
        hit = self._leaf_pass(edge, key, size, leaf)
        forever = leaf & (cls == self.FOREVER)
        settled = forever & hit  # fresh for the whole run: no state beyond the store's
        sel = np.flatnonzero(~settled)
        # Hits early in the batch may wait for a fetch begun before it (every fetch
        # so far completed by ``_latest``): note those, before the loop overwrites them.
        early = np.flatnonzero(settled & (t < self._latest))
        inflight = self.inflight
        carried = {
            i: r
            for i, e, k in zip(
                early.tolist(), edge[early].tolist(), key[early].tolist(), strict=True
            )
            if (r := inflight[e].get(k)) is not None
        }
        state = np.where(leaf, hit.view(np.int8), np.int8(2))
        out_s, waits_s, fetch_s = self._loop(
            t[sel], edge[sel], key[sel], size[sel], cls[sel], ctype[sel],
            [a[sel] for a in up_ms], [a[sel] for a in cond_ms], state[sel],
        )  # fmt: skip
        out = np.zeros(n, dtype=np.int8)  # HIT
        waits = np.zeros(n)
        fetch = np.zeros(n, dtype=np.int8)  # NO_FETCH
        out[sel] = out_s
        waits[sel] = waits_s
        fetch[sel] = fetch_s
        if settled.any():
            self._collapse_settled(t, edge, key, forever, hit, out, waits, carried)
        # Every fetch of this batch completes by then (a parent's before its child's).
        self._latest = max(self._latest, float((t + waits * 0.001).max()))
        return Served(out, waits, fetch)

    def _leaf_pass(self, edge, key, size, leaf) -> np.ndarray:
        """Each leaf edge's store over its requests, in time order: hit flags."""
        hit = np.zeros(len(edge), dtype=bool)
        li = np.flatnonzero(leaf)
        if not len(li):
            return hit
        le = edge[li]
        si = li[np.argsort(le.astype(np.int16), kind="stable")]  # by edge, time order kept
        counts = np.bincount(le, minlength=len(self.stores)).tolist()
        ks, ss = key[si].tolist(), size[si].tolist()
        flags = bytearray()
        pos = 0
        for e, c in enumerate(counts):
            if c:
                st = self.stores[e]
                rm = getattr(st, "request_many", None)
                flags += (
                    rm(ks[pos : pos + c], ss[pos : pos + c])
                    if rm
                    else bytearray(map(st.request, ks[pos : pos + c], ss[pos : pos + c]))
                )
                pos += c
        hit[si] = np.frombuffer(bytes(flags), dtype=np.bool_)
        return hit

    @staticmethod
    def _collapse_settled(t, edge, key, forever, hit, out, waits, carried) -> None:
        """Fresh hits on never-expiring content at leaf edges wait for the fetch
        of the same key at the same edge still in flight, if any: the latest miss
        before them in this batch, else what was in flight when it began."""
        fl = np.flatnonzero(forever)
        code = edge[fl].astype(np.int64) * (int(key[fl].max()) + 1) + key[fl]
        order = _group_order(code)
        g, cs = fl[order], code[order]  # grouped by (edge, key), time order within
        pos = np.arange(len(g))
        last = np.maximum.accumulate(np.where(hit[g], -1, pos))  # latest miss so far
        lc = np.maximum(last, 0)
        after_miss = (last >= 0) & (cs[lc] == cs)  # ... of the same key at that edge
        tg = t[g]
        r = t[g[lc]] + waits[g[lc]] * 0.001  # when that miss's fetch completed
        wait = hit[g] & after_miss & (r > tg)
        idx = g[wait]
        out[idx] = COLLAPSED
        waits[idx] = (r[wait] - tg[wait]) * 1000.0
        if not carried:
            return
        at = np.empty(len(t), dtype=np.int64)
        at[g] = pos
        for i, rc in carried.items():  # a fetch from before the batch, if no miss since
            if rc > t[i] and not after_miss[at[i]]:
                out[i] = COLLAPSED
                waits[i] = (rc - float(t[i])) * 1000.0

    def _loop(self, t, edge, key, size, cls, ctype, up_ms, cond_ms, state):
        """The request-by-request loop over parallel arrays. ``state`` per request:
        0 / 1 the leaf store already answered miss / hit, 2 ask the store here."""
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
        for tt, e, k, s, c, ct, h in zip(
            t.tolist(), edge.tolist(), key.tolist(), size.tolist(), cls, ctype.tolist(),
            state.tolist(), strict=True,
        ):  # fmt: skip
            i += 1
            if c <= 1:  # FOREVER or EXPIRING: the store decides hit or miss
                if h == 2:
                    h = requests[e](k, s)
                if h:
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
                        stored[e][k] = r
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
                            stored[p][k] = r
                        w += w1
                        fetches[i] = FULL_FETCH
                    r = tt + w * 0.001
                    inflight[e][k] = r
                    if c == 1:
                        stored[e][k] = r
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
                                stored[p][k] = r
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
                            stored[e][k] = r
                        out[i] = MISS
                    else:
                        self.stores[e].remove(k)
                        out[i] = ERROR
                else:
                    ok, w, fetches[i] = self._upstream(e, 0, k, s, ct, tt, i, False)
                    waits[i] = w
                    if ok:
                        self._arrives(e, k, tt + w * 0.001, ct)
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
                self.stored[p][k] = r
        return True, hop + w, f

    def _parent_expired(self, p, d, k, s, ct, t, i, hop, age, verdict) -> tuple[bool, float, int]:
        """Parent ``p`` of a depth-``d`` node holds an expired copy of ``k`` (``verdict``
        from classify, not "hit"): it revalidates upstream. Returns what ``_upstream``
        does; ``hop`` is the time of the hop to the parent."""
        ok, w, f = self._upstream(p, d + 1, k, s, ct, t, i, True)
        if not ok:
            return self.stale_on_error(ct, age), hop, NO_FETCH
        if verdict == "stale":  # the parent answers stale and refreshes behind
            self._arrives(p, k, t, ct)
            return True, hop, f
        self._arrives(p, k, t + w / 1000.0, ct)
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
            self._arrives(e, k, t, ct)  # the stale copy stays servable meanwhile
            return STALE, 0.0, fetch
        self._arrives(e, k, t + wait / 1000.0, ct)
        return REVALIDATED, wait, fetch
