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
does the hit update, admission, eviction and insert) and a dict of the time
each stored copy became available (its fetch completion). A hit on a copy
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

HIT, MISS, REVALIDATED, STALE, COLLAPSED, ERROR, PASS = range(7)
OUTCOMES = ("hit", "miss", "revalidated", "stale", "collapsed", "error", "pass")
# Origin traffic per request: none, a full fetch, or a conditional request (304).
NO_FETCH, FULL_FETCH, CONDITIONAL = 0, 1, 2


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
    """The edge (and shield) caches of a scenario, driven by the requests' edge choice."""

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
        self.parents = list(parents)  # index of the parent store, -1 for none
        self.freshness = list(freshness)  # per content type
        self.classify = classify
        self.never = list(never_expires)  # per content type: classify is "hit" all run long
        self.cacheable = list(cacheable)
        self.stale_on_error = stale_on_error  # (content type, age) -> may serve stale
        self.ready: list[dict] = [{} for _ in stores]  # key -> time the copy is available
        self.origin_up = True

    def purge(self, keys: Iterable[int]) -> int:
        """Drop ``keys`` from every store; returns the number of copies removed."""
        removed = 0
        for store, ready in zip(self.stores, self.ready, strict=True):
            for k in keys:
                if store.remove(k):
                    removed += 1
                ready.pop(k, None)
        return removed

    def serve(self, t, edge, key, size, ctype, up_ms, cond_ms, parent_ms, parent_cond_ms) -> Served:
        """The per-request loop. ``up_ms``/``cond_ms``: full / conditional fetch time
        from the edge's upstream (parent or origin); ``parent_*``: the parent's from
        the origin (0 without a parent)."""
        requests = [s.request for s in self.stores]
        ready = self.ready
        never, classify, fresh, cacheable = (
            self.never,
            self.classify,
            self.freshness,
            self.cacheable,
        )
        out: list[int] = []
        slow: dict[int, tuple[float, int]] = {}
        put = out.append
        for i, (tt, e, k, s, ct) in enumerate(
            zip(t.tolist(), edge.tolist(), key.tolist(), size.tolist(), ctype.tolist(), strict=True)
        ):
            if e < 0:
                put(ERROR)
            elif not cacheable[ct]:
                code, wait, fetch = self._fetch(e, k, s, ct, tt, i, up_ms, cond_ms, parent_ms,
                                                parent_cond_ms, store=False)  # fmt: skip
                put(code)
                slow[i] = (wait, fetch)
            elif requests[e](k, s):
                age = tt - ready[e][k]
                if age < 0:  # stored by a fetch still in flight: wait for it
                    put(COLLAPSED)
                    slow[i] = (-age * 1000.0, NO_FETCH)
                elif never[ct] or classify(age, fresh[ct]) == "hit":
                    put(HIT)
                else:
                    code, wait, fetch = self._expired(e, k, s, ct, tt, age, i, up_ms, cond_ms,
                                                      parent_ms, parent_cond_ms)  # fmt: skip
                    put(code)
                    slow[i] = (wait, fetch)
            else:
                code, wait, fetch = self._fetch(e, k, s, ct, tt, i, up_ms, cond_ms, parent_ms,
                                                parent_cond_ms, store=True)  # fmt: skip
                put(code)
                slow[i] = (wait, fetch)
        n = len(out)
        upstream = np.zeros(n)
        fetch_arr = np.zeros(n, dtype=np.int8)
        for i, (w, f) in slow.items():
            upstream[i] = w
            fetch_arr[i] = f
        return Served(np.array(out, dtype=np.int8), upstream, fetch_arr)

    # the slow paths: misses, expiry, the parent tier -------------------------------
    def _fetch(self, e, k, s, ct, t, i, up_ms, cond_ms, parent_ms, parent_cond_ms, store):
        """A miss at edge ``e`` (already inserted by ``request`` when ``store``)."""
        p = self.parents[e]
        if p >= 0:
            got, wait, fetch = self._from_parent(p, k, s, ct, t, i, parent_ms, parent_cond_ms)
            if not got:
                if store:
                    self.stores[e].remove(k)
                return ERROR, 0.0, NO_FETCH
            wait += float(up_ms[i])
        elif not self.origin_up:
            if store:
                self.stores[e].remove(k)
            return ERROR, 0.0, NO_FETCH
        else:
            wait, fetch = float(up_ms[i]), FULL_FETCH
        if store:
            self.ready[e][k] = t + wait / 1000.0
        return (MISS if store else PASS), wait, fetch

    def _from_parent(self, p, k, s, ct, t, i, parent_ms, parent_cond_ms):
        """Fetch through the shield ``p``: (available, wait ms beyond edge->parent, fetch)."""
        ready = self.ready[p]
        if self.cacheable[ct] and self.stores[p].request(k, s):
            age = t - ready[k]
            if age < 0:
                return True, -age * 1000.0, NO_FETCH
            if self.never[ct] or self.classify(age, self.freshness[ct]) == "hit":
                return True, 0.0, NO_FETCH
            if not self.origin_up:
                return self.stale_on_error(ct, age), 0.0, NO_FETCH
            wait = float(parent_cond_ms[i])
            ready[k] = t + wait / 1000.0
            return True, wait, CONDITIONAL
        if not self.origin_up:
            if self.cacheable[ct]:
                self.stores[p].remove(k)
            return False, 0.0, NO_FETCH
        wait = float(parent_ms[i])
        if self.cacheable[ct]:
            ready[k] = t + wait / 1000.0
        return True, wait, FULL_FETCH

    def _expired(self, e, k, s, ct, t, age, i, up_ms, cond_ms, parent_ms, parent_cond_ms):
        """A stored copy that classify() did not call a plain hit."""
        verdict = self.classify(age, self.freshness[ct])
        p = self.parents[e]
        if p < 0 and not self.origin_up:
            if self.stale_on_error(ct, age):
                return STALE, 0.0, NO_FETCH
            self.stores[e].remove(k)
            self.ready[e].pop(k, None)
            return ERROR, 0.0, NO_FETCH
        if p >= 0:
            got, wait, fetch = self._from_parent(p, k, s, ct, t, i, parent_ms, parent_cond_ms)
            if not got:
                if self.stale_on_error(ct, age):
                    return STALE, 0.0, NO_FETCH
                return ERROR, 0.0, NO_FETCH
            wait += float(cond_ms[i])
        else:
            wait, fetch = float(cond_ms[i]), CONDITIONAL
        if verdict == "stale":  # stale-while-revalidate: answer now, refresh behind
            self.ready[e][k] = t  # the stale copy stays servable meanwhile
            return STALE, 0.0, fetch
        self.ready[e][k] = t + wait / 1000.0
        return REVALIDATED, wait, fetch
