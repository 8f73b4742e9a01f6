"""A byte-capacity object store with eviction policies chosen by name.

Theory of operation
-------------------
A store holds objects under keys; each object has a size in bytes that is fixed
when it is inserted. ``used`` is the sum of those sizes and never exceeds
``capacity``. When an object does not fit, the policy evicts objects one at a
time until it does. The four policies follow the reference simulator
libCacheSim exactly (``shared/EVICTION.md``), so that a trace replayed here gives
the same hit counts as libCacheSim does:

- **lru**: a recency list; a hit moves the object to the newest end, eviction
  takes the oldest.
- **fifo**: an insertion queue; hits change nothing.
- **sieve**: an insertion queue whose objects never move, a one-bit ``visited``
  flag set by hits, and a hand that sweeps from old to new, clearing flags and
  evicting the first unvisited object. Here the queue is two ordered dicts, the
  objects the hand has already passed and the objects from the hand to the
  newest; wrapping round swaps them. That keeps every step O(1) in C code.
- **s3fifo**: a small FIFO (10 % of the bytes), a main FIFO and a ghost FIFO of
  recently evicted keys (90 % of the bytes, sizes only). New objects enter
  small; objects hit twice there move to main when they reach its end, the
  others leave a ghost entry; a miss that finds a ghost entry goes straight to
  main. Main reinserts objects that were hit, with a frequency capped at 3.
  Objects larger than the small queue are never admitted.

The store is pure: no I/O and no clock. Expiry is the caller's business (the
HTTP policy decides freshness; the store only decides what stays in memory).

``request(key, size)`` is the simulator's hot path: one call does the lookup,
the hit update, and on a miss the admission test, evictions and insertion. The
edge server uses the split form, ``lookup`` then ``insert`` once the origin has
answered; a miss through ``lookup`` followed by ``insert`` leaves the store in
exactly the state one ``request`` would.

Values: a key may carry a value (the edge stores responses). Values live in a
side dict that is only touched when there are any, so the simulator, which
stores none, pays nothing for them. ``lookup`` returns :data:`PRESENT` for a
stored key whose value is None, so a hit is never mistaken for a miss.

>>> s = make_store("lru", 100)
>>> s.request("a", 60), s.request("b", 50), s.request("a", 60)
(False, False, False)
>>> s.used, s.hits, s.misses, s.evictions
(60, 0, 3, 2)
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Any, Final


class _Present:
    """The value ``lookup`` returns for a stored key that carries no value."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "PRESENT"


PRESENT: Final = _Present()

EvictCallback = Callable[[Hashable, Any], None]


class Store:
    """Base class: the public API and the shared checks; each policy a subclass.

    Subclasses provide the counters (``used``, ``hits``, ``misses``,
    ``evictions``, ``evicted_bytes``), ``request``, and the hooks ``_hit``
    (hit update; whether the key is resident), ``_has``, ``_insert_new``
    (admission, evictions and insertion of a key known to be absent),
    ``_remove``, ``__len__``, ``keys`` and ``size_of``.
    """

    __slots__ = ("capacity", "max_object_size", "on_evict", "_limit", "_values", "_victims")
    name: str = "store"
    used: int
    hits: int
    misses: int
    evictions: int
    evicted_bytes: int

    def __init__(self, capacity: int, max_object_size: int | None = None) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 0:
            raise ValueError(
                f"store capacity must be a non-negative integer of bytes, got {capacity!r}"
            )
        if max_object_size is not None and (
            isinstance(max_object_size, bool)
            or not isinstance(max_object_size, int)
            or max_object_size < 0
        ):
            raise ValueError(
                "max_object_size must be None or a non-negative integer of bytes, "
                f"got {max_object_size!r}"
            )
        self.capacity = capacity
        self.max_object_size = max_object_size
        self.on_evict: EvictCallback | None = None
        # The largest admissible size, so the hot path makes one comparison.
        self._limit = capacity if max_object_size is None else min(capacity, max_object_size)
        # Never rebound: the LRU and FIFO hot paths hold on to this dict.
        self._values: dict[Hashable, Any] = {}
        # Evictions whose callbacks are due once the store is consistent again.
        self._victims: list[tuple[Hashable, Any]] = []

    # -- the public API, shared by every policy ---------------------------------

    def request(self, key: Hashable, size: int) -> bool:  # pragma: no cover - overridden
        """Look up ``key``; on a miss admit, evict and insert. True on a hit."""
        raise NotImplementedError

    def lookup(self, key: Hashable) -> Any:
        """The stored value (or :data:`PRESENT`) after the policy's hit update; None on a miss."""
        if self._hit(key):
            self.hits += 1
            return self._values.get(key, PRESENT) if self._values else PRESENT
        self._lookup_miss()
        return None

    def peek(self, key: Hashable) -> Any:
        """Like ``lookup`` but with no policy update and no counting."""
        if self._has(key):
            return self._values.get(key, PRESENT) if self._values else PRESENT
        return None

    def insert(self, key: Hashable, size: int, value: Any = None) -> bool:
        """Store ``key`` (replacing any entry for it); False if it was not admitted."""
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError(f"object size must be a non-negative integer of bytes, got {size!r}")
        if self._has(key):
            self.remove(key)
        if not self._insert_new(key, size):
            return False
        if value is not None:
            self._values[key] = value
        return True

    def remove(self, key: Hashable) -> bool:
        """Drop ``key`` without counting an eviction; False if it was not stored."""
        size = self._remove(key)
        if size is None:
            return False
        self.used -= size
        if self._values:
            self._values.pop(key, None)
        return True

    def __contains__(self, key: object) -> bool:
        return self._has(key)

    def __len__(self) -> int:  # pragma: no cover - overridden
        raise NotImplementedError

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self.keys())

    def keys(self) -> list[Hashable]:  # pragma: no cover - overridden
        """Resident keys, in the order the policy would consider them for eviction."""
        raise NotImplementedError

    def size_of(self, key: Hashable) -> int | None:  # pragma: no cover - overridden
        """The stored size of ``key``, or None."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.name} {len(self)} objects "
            f"{self.used}/{self.capacity} bytes hits={self.hits} misses={self.misses}>"
        )

    # -- helpers for subclasses --------------------------------------------------

    def _evicted(self, key: Hashable) -> None:
        """Drop an evicted key's value and queue its callback (slow path; no counting)."""
        value = self._values.pop(key, None) if self._values else None
        if self.on_evict is not None:
            self._victims.append((key, value))

    def _flush(self) -> None:
        """Run the pending ``on_evict`` callbacks.

        They run after the operation that evicted has finished, so a callback
        may itself call ``remove`` (the edge drops Vary variants that way).
        """
        victims = self._victims
        self._victims = []
        callback = self.on_evict
        if callback is not None:
            for key, value in victims:
                callback(key, value)

    def _lookup_miss(self) -> None:
        self.misses += 1

    # Subclass hooks.
    def _hit(self, key: Hashable) -> bool:  # pragma: no cover - overridden
        raise NotImplementedError

    def _has(self, key: object) -> bool:  # pragma: no cover - overridden
        raise NotImplementedError

    def _insert_new(self, key: Hashable, size: int) -> bool:  # pragma: no cover - overridden
        raise NotImplementedError

    def _remove(self, key: Hashable) -> int | None:  # pragma: no cover - overridden
        raise NotImplementedError


class _CountedStore(Store):
    """Counters as plain slots (SIEVE, S3-FIFO)."""

    __slots__ = ("used", "hits", "misses", "evictions", "evicted_bytes")

    def __init__(self, capacity: int, max_object_size: int | None = None) -> None:
        super().__init__(capacity, max_object_size)
        self.used = 0
        self.hits = 0
        self.misses = 0
        self.evictions = 0
        self.evicted_bytes = 0


def _cell(name: str, doc: str) -> property:
    """A property backed by the closure cell ``name`` of the store's ``request``."""

    def get(self: _QueueStore) -> int:
        return self._cells[name].cell_contents

    def put(self: _QueueStore, value: int) -> None:
        self._cells[name].cell_contents = value

    return property(get, put, doc=doc)


class _QueueStore(Store):
    """LRU and FIFO: one OrderedDict from key to size, oldest first.

    Speed: ``request`` is a closure made per store, whose state (``used`` and
    the counters) lives in closure cells, read by the properties below. Cell
    access is cheaper than attribute access, and the closure holds the
    OrderedDict's bound methods, which brings LRU within reach of a bare
    inline OrderedDict loop. ``misses`` is derived (objects inserted, minus
    those inserted by ``insert``, plus the rejected ones and lookup misses) so
    that a miss updates as few counters as possible.
    """

    __slots__ = ("_q", "request", "_cells", "_lookup_misses", "_rejected", "_removed", "_inserted")
    _moves_on_hit: bool = False

    used = _cell("used", "bytes stored")
    hits = _cell("hits", "hits counted by request and lookup")
    evictions = _cell("evictions", "objects evicted")
    evicted_bytes = _cell("evicted_bytes", "bytes evicted")

    def __init__(self, capacity: int, max_object_size: int | None = None) -> None:
        super().__init__(capacity, max_object_size)
        self._q: OrderedDict[Hashable, int] = OrderedDict()
        self._lookup_misses = 0
        self._rejected = 0
        self._removed = 0
        self._inserted = 0
        self.request = self._make_request()
        self._cells = dict(
            zip(self.request.__code__.co_freevars, self.request.__closure__, strict=True)
        )

    def _make_request(self) -> Callable[[Hashable, int], bool]:  # pragma: no cover
        raise NotImplementedError

    @property
    def misses(self) -> int:
        """Misses counted by request and lookup."""
        # Every object ever inserted was inserted by request (a miss), by
        # insert, or is counted here through the ones that left.
        objects_in = len(self._q) + self.evictions + self._removed
        return objects_in - self._inserted + self._rejected + self._lookup_misses

    def _lookup_miss(self) -> None:
        self._lookup_misses += 1

    def _hit(self, key: Hashable) -> bool:
        q = self._q
        if key in q:
            if self._moves_on_hit:
                q.move_to_end(key)
            return True
        return False

    def _has(self, key: object) -> bool:
        return key in self._q

    def __len__(self) -> int:
        return len(self._q)

    def keys(self) -> list[Hashable]:
        return list(self._q)

    def size_of(self, key: Hashable) -> int | None:
        return self._q.get(key)

    def _remove(self, key: Hashable) -> int | None:
        size = self._q.pop(key, None)
        if size is not None:
            self._removed += 1
        return size

    def _insert_new(self, key: Hashable, size: int) -> bool:
        if size > self._limit:
            return False
        used = self.used + size
        if used > self.capacity:
            used = self._make_room(used)
        self._q[key] = size
        self.used = used
        self._inserted += 1
        if self._victims:
            self._flush()
        return True

    def _make_room(self, used: int) -> int:
        """Pop the oldest entries until ``used`` (which counts the newcomer) fits."""
        popitem = self._q.popitem
        cap = self.capacity
        n = 0
        freed = used
        while used > cap:
            k, s = popitem(False)
            used -= s
            n += 1
            self._evicted(k)
        self.evictions += n
        self.evicted_bytes += freed - used
        return used


class LRUStore(_QueueStore):
    """Least recently used: hits move the object to the newest end."""

    __slots__ = ()
    name = "lru"
    _moves_on_hit = True

    def _make_request(self) -> Callable[[Hashable, int], bool]:
        # LRU and FIFO differ in one line; each has its own copy of the hot
        # path so that neither pays a test for the other.
        store = self
        q = self._q
        values = self._values
        cap = self.capacity
        limit = self._limit
        popitem = q.popitem
        move_to_end = q.move_to_end
        used = hits = evictions = evicted_bytes = 0

        def request(key: Hashable, size: int) -> bool:
            nonlocal used, hits, evictions, evicted_bytes
            if key in q:
                move_to_end(key)
                hits += 1
                return True
            if 0 <= size <= limit:
                u = used + size
                if u > cap:
                    if values or store.on_evict is not None:
                        u = store._make_room(u)
                    else:
                        freed = u
                        n = 0
                        while u > cap:
                            u -= popitem(False)[1]
                            n += 1
                        evictions += n
                        evicted_bytes += freed - u
                    q[key] = size
                    used = u
                    if store._victims:
                        store._flush()
                    return False
                q[key] = size
                used = u
                return False
            if size < 0:
                raise ValueError(f"object size must be non-negative, got {size!r}")
            store._rejected += 1
            return False

        return request


class FIFOStore(_QueueStore):
    """First in, first out: hits change nothing."""

    __slots__ = ()
    name = "fifo"
    _moves_on_hit = False

    def _make_request(self) -> Callable[[Hashable, int], bool]:
        # LRU and FIFO differ in one line; each has its own copy of the hot
        # path so that neither pays a test for the other.
        store = self
        q = self._q
        values = self._values
        cap = self.capacity
        limit = self._limit
        popitem = q.popitem
        used = hits = evictions = evicted_bytes = 0

        def request(key: Hashable, size: int) -> bool:
            nonlocal used, hits, evictions, evicted_bytes
            if key in q:
                hits += 1
                return True
            if 0 <= size <= limit:
                u = used + size
                if u > cap:
                    if values or store.on_evict is not None:
                        u = store._make_room(u)
                    else:
                        freed = u
                        n = 0
                        while u > cap:
                            u -= popitem(False)[1]
                            n += 1
                        evictions += n
                        evicted_bytes += freed - u
                    q[key] = size
                    used = u
                    if store._victims:
                        store._flush()
                    return False
                q[key] = size
                used = u
                return False
            if size < 0:
                raise ValueError(f"object size must be non-negative, got {size!r}")
            store._rejected += 1
            return False

        return request


class SieveStore(_CountedStore):
    """SIEVE: a visited bit per object and a hand sweeping from old to new.

    The insertion-ordered list is split at the hand: ``_passed`` holds the
    objects older than the hand (already swept, in order), ``_ahead`` the hand
    itself (its first entry) and everything newer. New objects join the end of
    ``_ahead``. An eviction step takes the first of ``_ahead``: visited ones
    lose the bit and move to the end of ``_passed``; the first unvisited one is
    the victim, and the hand is then the next entry of ``_ahead``. When
    ``_ahead`` runs out the hand wraps to the oldest object: the two swap, at
    once, so that objects inserted before the next step queue behind the
    oldest as they do in libCacheSim, where the hand is then empty.
    """

    __slots__ = ("_sizes", "_visited", "_ahead", "_passed")
    name = "sieve"

    def __init__(self, capacity: int, max_object_size: int | None = None) -> None:
        super().__init__(capacity, max_object_size)
        self._sizes: dict[Hashable, int] = {}
        self._visited: set[Hashable] = set()
        self._ahead: OrderedDict[Hashable, None] = OrderedDict()
        self._passed: OrderedDict[Hashable, None] = OrderedDict()

    def _has(self, key: object) -> bool:
        return key in self._sizes

    def __len__(self) -> int:
        return len(self._sizes)

    def keys(self) -> list[Hashable]:
        # Eviction order: from the hand to the newest, then the wrapped part.
        return [*self._ahead, *self._passed]

    def size_of(self, key: Hashable) -> int | None:
        return self._sizes.get(key)

    def _hit(self, key: Hashable) -> bool:
        if key in self._sizes:
            self._visited.add(key)
            return True
        return False

    def _remove(self, key: Hashable) -> int | None:
        size = self._sizes.pop(key, None)
        if size is not None:
            self._visited.discard(key)
            # Removing the hand's object leaves the hand on its newer neighbour,
            # which is what libCacheSim does.
            if self._ahead.pop(key, 0) == 0:
                del self._passed[key]
            elif not self._ahead:  # removed the newest at the hand: restart at the oldest
                self._ahead, self._passed = self._passed, self._ahead
        return size

    def request(self, key: Hashable, size: int) -> bool:
        if key in self._sizes:
            self._visited.add(key)
            self.hits += 1
            return True
        self.misses += 1
        if not 0 <= size <= self._limit:
            if size < 0:
                raise ValueError(f"object size must be non-negative, got {size!r}")
            return False
        self._insert_new(key, size)
        return False

    def _insert_new(self, key: Hashable, size: int) -> bool:
        if size > self._limit:
            return False
        sizes = self._sizes
        used = self.used + size
        cap = self.capacity
        if used > cap:
            visited = self._visited
            ahead = self._ahead
            passed = self._passed
            slow = bool(self._values) or self.on_evict is not None
            n = 0
            freed = used
            while used > cap:
                while True:  # one eviction step
                    if not ahead:  # the hand wraps round to the oldest object
                        ahead, passed = passed, ahead
                    k = ahead.popitem(False)[0]
                    if k in visited:
                        visited.discard(k)
                        passed[k] = None
                    else:
                        break
                if not ahead:  # the victim was the newest: the hand restarts at the oldest
                    ahead, passed = passed, ahead
                s = sizes.pop(k)
                used -= s
                n += 1
                if slow:
                    self._evicted(k)
            self._ahead = ahead
            self._passed = passed
            if n:
                self.evictions += n
                self.evicted_bytes += freed - used
        sizes[key] = size
        self._ahead[key] = None
        self.used = used
        if self._victims:
            self._flush()
        return True


class S3FIFOStore(_CountedStore):
    """S3-FIFO with libCacheSim's defaults (small 10 %, ghost 90 %, threshold 2).

    ``_small`` and ``_main`` map key to stored size, oldest first; ``_freq``
    maps every resident key to its access count, so it doubles as the index
    of resident keys. ``_ghost`` maps recently evicted keys to their sizes.
    """

    __slots__ = (
        "_small",
        "_main",
        "_ghost",
        "_freq",
        "_small_cap",
        "_main_cap",
        "_ghost_cap",
        "_sb",
        "_mb",
        "_gb",
        "_warmed",
    )
    name = "s3fifo"
    SMALL_SIZE_RATIO: Final = 0.1
    GHOST_SIZE_RATIO: Final = 0.9
    MOVE_TO_MAIN_THRESHOLD: Final = 2

    def __init__(self, capacity: int, max_object_size: int | None = None) -> None:
        super().__init__(capacity, max_object_size)
        small_cap = int(capacity * self.SMALL_SIZE_RATIO)
        if small_cap <= 0:
            raise ValueError(
                f"s3fifo needs a capacity of at least 10 bytes (its small queue is 10 %), "
                f"got {capacity}"
            )
        self._small_cap = small_cap
        self._main_cap = capacity - small_cap
        self._ghost_cap = int(capacity * self.GHOST_SIZE_RATIO)
        # The admission test: nothing larger than the small queue.
        self._limit = min(self._limit, small_cap)
        self._small: OrderedDict[Hashable, int] = OrderedDict()
        self._main: OrderedDict[Hashable, int] = OrderedDict()
        self._ghost: OrderedDict[Hashable, int] = OrderedDict()
        self._freq: dict[Hashable, int] = {}
        self._sb = 0
        self._mb = 0
        self._gb = 0
        self._warmed = False

    def _has(self, key: object) -> bool:
        return key in self._freq

    def __len__(self) -> int:
        return len(self._freq)

    def keys(self) -> list[Hashable]:
        return [*self._small, *self._main]

    def size_of(self, key: Hashable) -> int | None:
        size = self._small.get(key)
        return size if size is not None else self._main.get(key)

    @property
    def small_bytes(self) -> int:
        return self._sb

    @property
    def main_bytes(self) -> int:
        return self._mb

    @property
    def ghost_bytes(self) -> int:
        return self._gb

    def in_ghost(self, key: Hashable) -> bool:
        """Whether ``key`` is remembered by the ghost queue (for tests and metrics)."""
        return key in self._ghost

    def queue_of(self, key: Hashable) -> str | None:
        """Which queue holds ``key``: "small", "main", "ghost" or None."""
        if key in self._small:
            return "small"
        if key in self._main:
            return "main"
        if key in self._ghost:
            return "ghost"
        return None

    def _hit(self, key: Hashable) -> bool:
        freq = self._freq
        if key in freq:
            freq[key] += 1
            return True
        return False

    def _remove(self, key: Hashable) -> int | None:
        if self._freq.pop(key, None) is None:
            return None
        size = self._small.pop(key, None)
        if size is not None:
            self._sb -= size
        else:
            size = self._main.pop(key)
            self._mb -= size
        return size

    def request(self, key: Hashable, size: int) -> bool:
        freq = self._freq
        if key in freq:
            freq[key] += 1
            self.hits += 1
            return True
        self.misses += 1
        if size < 0:
            raise ValueError(f"object size must be non-negative, got {size!r}")
        self._insert_new(key, size)
        return False

    def _insert_new(self, key: Hashable, size: int) -> bool:
        # The ghost entry is consumed even when the object is then not admitted.
        ghost_hit = False
        if key in self._ghost:
            self._gb -= self._ghost.pop(key)
            ghost_hit = True
        if size > self._limit:
            return False
        if self._sb + self._mb + size > self.capacity:
            self._make_room(size)
        small_cap = self._small_cap
        if ghost_hit:
            self._main[key] = size
            self._mb += size
        elif size >= small_cap:
            # Only size == small capacity gets here: libCacheSim evicts for it
            # and then does not insert it.
            self.used = self._sb + self._mb
            if self._victims:
                self._flush()
            return False
        elif not self._warmed and self._sb >= small_cap:
            self._main[key] = size
            self._mb += size
        else:
            self._small[key] = size
            self._sb += size
        self._freq[key] = 0
        self.used = self._sb + self._mb
        if self._victims:
            self._flush()
        return True

    def _make_room(self, size: int) -> None:
        """Eviction steps until ``size`` more bytes fit."""
        self._warmed = True
        cap = self.capacity
        main_cap = self._main_cap
        small = self._small
        main = self._main
        freq = self._freq
        sb = self._sb
        mb = self._mb
        slow = bool(self._values) or self.on_evict is not None
        n = 0
        freed = 0
        while sb + mb + size > cap:
            if mb > main_cap or sb == 0:
                # Main step: reinsert objects that were hit, drop the first that was not.
                while True:
                    k, s = main.popitem(False)
                    f = freq[k]
                    if f >= 1:
                        main[k] = s
                        freq[k] = (f if f < 3 else 3) - 1
                    else:
                        break
                del freq[k]
                mb -= s
            else:
                # Small step: promote objects hit twice, ghost the first that was not.
                while small:
                    k, s = small.popitem(False)
                    if freq[k] >= 2:
                        main[k] = s
                        freq[k] = 0
                        sb -= s
                        mb += s
                    else:
                        break
                else:
                    continue  # everything was promoted; no bytes freed yet
                del freq[k]
                sb -= s
                self._ghost_add(k, s)
            n += 1
            freed += s
            if slow:
                self._evicted(k)
        self._sb = sb
        self._mb = mb
        if n:
            self.evictions += n
            self.evicted_bytes += freed

    def _ghost_add(self, key: Hashable, size: int) -> None:
        cap = self._ghost_cap
        if size > cap:
            return
        ghost = self._ghost
        gb = self._gb + size
        while gb > cap:
            gb -= ghost.popitem(False)[1]
        ghost[key] = size
        self._gb = gb


POLICIES: dict[str, type[Store]] = {
    "lru": LRUStore,
    "fifo": FIFOStore,
    "s3fifo": S3FIFOStore,
    "sieve": SieveStore,
}

ALIASES: dict[str, str] = {"s3-fifo": "s3fifo", "s3_fifo": "s3fifo"}


def policy_name(policy: str) -> str:
    """The registry name for ``policy`` (case-insensitive, aliases resolved)."""
    name = str(policy).strip().lower()
    name = ALIASES.get(name, name)
    if name not in POLICIES:
        raise ValueError(
            f"unknown eviction policy {policy!r}; allowed: {', '.join(sorted(POLICIES))} "
            f"(aliases: {', '.join(sorted(ALIASES))})"
        )
    return name


def make_store(policy: str, capacity: int, max_object_size: int | None = None) -> Store:
    """A new empty store of the named policy.

    Raises ValueError for an unknown policy (listing the allowed names), a bad
    capacity, or an S3-FIFO capacity below 10 bytes (libCacheSim rejects it).
    """
    return POLICIES[policy_name(policy)](capacity, max_object_size)
