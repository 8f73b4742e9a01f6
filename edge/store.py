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

Speed: each store's ``request`` is a closure made when the store is built.
Its scalar state (``used`` and the counters) lives in closure cells, which
are cheaper than attributes, and it holds the dicts' bound methods; the
public counters are properties that read those cells. A hit counts one
thing, a miss two (objects and bytes admitted); ``misses``, ``evictions``
and ``evicted_bytes`` are derived, since every object that came in is still
here, was evicted or was removed. ``insert`` reuses ``request`` for its
admission and evictions, so the split form cannot drift from the one-call
form.

Values and callbacks: a key may carry a value (the edge stores responses),
and ``on_evict(key, value)`` may be set (the edge drops Vary variants and
counts metrics). Evictions take a slower path that drops values and queues
callbacks only once a value was stored or a callback set, so the simulator,
which uses neither, pays nothing for them. Callbacks run when the operation
that evicted has finished, so they may call ``remove``. ``lookup`` returns
:data:`PRESENT` for a stored key whose value is None, so a hit is never
mistaken for a miss.

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
RequestFn = Callable[[Hashable, int], bool]


def _cell(name: str, doc: str) -> property:
    """A property backed by the closure cell ``name`` of the store's ``request``."""

    def get(self: Store) -> Any:
        return self._cells[name].cell_contents

    def put(self: Store, value: Any) -> None:
        self._cells[name].cell_contents = value

    return property(get, put, doc=doc)


def _size_error(size: object) -> ValueError:
    return ValueError(f"object size must be a non-negative integer of bytes, got {size!r}")


class Store:
    """A byte-capacity store; each eviction policy is a subclass.

    Public: ``name``, ``capacity``, ``max_object_size``, ``on_evict``, the
    counters ``used``, ``hits``, ``misses``, ``evictions``, ``evicted_bytes``
    (only ``request`` and ``lookup`` count hits and misses), and the methods
    below, and ``request``:

    ``request(key, size) -> bool`` is the whole libCacheSim step in one call,
    the simulator's hot path. A hit applies the policy's hit update and
    returns True. A miss runs the admission test (``size`` at most the
    capacity, the maximum object size and, for S3-FIFO, the small queue),
    evicts until the object fits, inserts it and returns False. It is an
    instance attribute (a closure), so ``r = store.request`` is the fastest
    way to call it in a loop.

    Subclasses implement ``_make_request`` (the whole one-call
    algorithm), ``_hit`` (the hit update for ``lookup``), ``_has``,
    ``_remove``, ``__len__``, ``keys`` and ``size_of``.
    """

    __slots__ = (
        "capacity",
        "max_object_size",
        "request",
        "_on_evict",
        "_had_values",
        "_limit",
        "_values",
        "_victims",
        "_cells",
        "_lookup_misses",
        "_rejected",
        "_removed",
        "_removed_bytes",
        "_inserted",
    )
    name: str = "store"
    request: RequestFn  # built per store by _make_request; see the class docstring

    used = _cell("used", "Bytes stored: the sum of the stored sizes.")
    hits = _cell("hits", "Hits counted by request and lookup.")
    _admitted = _cell("admitted", "Objects ever inserted.")
    _admitted_bytes = _cell("admitted_bytes", "Bytes ever inserted.")

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
        self._on_evict: EvictCallback | None = None
        self._had_values = False
        # The largest admissible size, so the hot path makes one comparison.
        self._limit = capacity if max_object_size is None else min(capacity, max_object_size)
        # Values of the keys that have one; popped with their keys.
        self._values: dict[Hashable, Any] = {}
        # Evictions whose callbacks are due once the store is consistent again.
        self._victims: list[tuple[Hashable, Any]] = []
        # Cold counters, from which the other counters are derived.
        self._lookup_misses = 0
        self._rejected = 0  # misses of request() that inserted nothing
        self._removed = 0
        self._removed_bytes = 0
        self._inserted = 0  # objects inserted by insert()
        self._setup()
        self.request = self._make_request()
        self._cells = dict(
            zip(self.request.__code__.co_freevars, self.request.__closure__ or (), strict=True)
        )

    # -- the public API, shared by every policy ---------------------------------

    # The hot path counts only hits and what it admits; the rest follows,
    # since every object that came in is still here, was evicted or removed.

    @property
    def misses(self) -> int:
        """Misses counted by request and lookup."""
        return self._admitted - self._inserted + self._rejected + self._lookup_misses

    @property
    def evictions(self) -> int:
        """Objects evicted (removals are not evictions)."""
        return self._admitted - len(self) - self._removed

    @property
    def evicted_bytes(self) -> int:
        """Bytes evicted."""
        return self._admitted_bytes - self.used - self._removed_bytes

    @property
    def on_evict(self) -> EvictCallback | None:
        """Called as ``on_evict(key, value)`` for each eviction, after the
        operation that evicted has finished (so it may call ``remove``)."""
        return self._on_evict

    @on_evict.setter
    def on_evict(self, callback: EvictCallback | None) -> None:
        self._on_evict = callback
        self._update_slow()

    def _update_slow(self) -> None:
        """Evictions take the slow path once values were stored or a callback is set."""
        self._cells["slow"].cell_contents = self._had_values or self._on_evict is not None

    def lookup(self, key: Hashable) -> Any:
        """The stored value (or :data:`PRESENT`) after the policy's hit update; None on a miss."""
        if self._hit(key):
            self.hits += 1
            return self._values.get(key, PRESENT) if self._values else PRESENT
        self._lookup_misses += 1
        return None

    def peek(self, key: Hashable) -> Any:
        """Like ``lookup`` but with no policy update and no counting."""
        if self._has(key):
            return self._values.get(key, PRESENT) if self._values else PRESENT
        return None

    def insert(self, key: Hashable, size: int, value: Any = None) -> bool:
        """Store ``key`` (replacing any entry for it); False if it was not admitted.

        After a miss of ``lookup``, this leaves the store exactly as one
        ``request`` would have: it runs the same code.
        """
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise _size_error(size)
        if self._has(key):
            self.remove(key)
        if value is not None:
            # Stored first, and the slow path switched on, so that evictions
            # drop values.
            self._values[key] = value
            if not self._had_values:
                self._had_values = True
                self._update_slow()
        self.request(key, size)  # absent, so a miss: admission, evictions, insertion
        if self._has(key):
            self._inserted += 1
            return True
        self._rejected -= 1  # it was not a miss of request()
        if value is not None:
            self._values.pop(key, None)
        return False

    def remove(self, key: Hashable) -> bool:
        """Drop ``key`` without counting an eviction; False if it was not stored."""
        size = self._remove(key)
        if size is None:
            return False
        self._removed += 1
        self._removed_bytes += size
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
        if self._on_evict is not None:
            self._victims.append((key, value))

    def _flush(self) -> None:
        """Run the pending ``on_evict`` callbacks.

        They run after the operation that evicted has finished, so a callback
        may itself call ``remove`` (the edge drops Vary variants that way).
        """
        victims = self._victims
        self._victims = []
        callback = self._on_evict
        if callback is not None:
            for key, value in victims:
                callback(key, value)

    # Subclass hooks.
    def _setup(self) -> None:
        """Create the policy's containers (before ``_make_request``)."""

    def _make_request(self) -> RequestFn:  # pragma: no cover - overridden
        raise NotImplementedError

    def _hit(self, key: Hashable) -> bool:  # pragma: no cover - overridden
        """The hit update for ``lookup``; whether ``key`` is resident."""
        raise NotImplementedError

    def _has(self, key: object) -> bool:  # pragma: no cover - overridden
        raise NotImplementedError

    def _remove(self, key: Hashable) -> int | None:  # pragma: no cover - overridden
        """Unlink ``key`` and subtract its size from ``used``; its size, or None."""
        raise NotImplementedError


class _QueueStore(Store):
    """LRU and FIFO: one OrderedDict from key to size, oldest first."""

    __slots__ = ("_q",)

    def _setup(self) -> None:
        self._q: OrderedDict[Hashable, int] = OrderedDict()

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
            self.used -= size
        return size

    def _update_slow(self) -> None:
        # The hot path has no test for the slow path: its admission limit
        # becomes -1, so that every miss goes to _cold_miss.
        slow = self._had_values or self._on_evict is not None
        self._cells["limit"].cell_contents = -1 if slow else self._limit

    def _cold_miss(self, key: Hashable, size: int) -> bool:
        """The misses the hot path leaves: not admitted, or values or a callback in play."""
        if size < 0:
            raise _size_error(size)
        if size > self._limit:
            self._rejected += 1
            return False
        popitem = self._q.popitem
        cap = self.capacity
        used = self.used + size
        while used > cap:
            k, s = popitem(False)
            used -= s
            self._evicted(k)
        self._q[key] = size
        self.used = used
        self._admitted += 1
        self._admitted_bytes += size
        if self._victims:
            self._flush()
        return False


class LRUStore(_QueueStore):
    """Least recently used: hits move the object to the newest end."""

    __slots__ = ()
    name = "lru"

    def _hit(self, key: Hashable) -> bool:
        q = self._q
        if key in q:
            q.move_to_end(key)
            return True
        return False

    def _make_request(self) -> RequestFn:
        # LRU and FIFO differ in one line; each has its own copy of the hot
        # path so that neither pays a test for the other.
        store = self
        q = self._q
        cap = self.capacity
        limit = self._limit  # the admission limit of the fast path
        popitem = q.popitem
        move_to_end = q.move_to_end
        used = hits = admitted = admitted_bytes = 0

        def request(key: Hashable, size: int) -> bool:
            nonlocal used, hits, admitted, admitted_bytes
            if key in q:
                move_to_end(key)
                hits += 1
                return True
            if size <= limit:  # -1 on the slow path: see _update_slow
                u = used + size
                if u > cap:  # so size > 0: a negative size cannot get here
                    while u > cap:
                        u -= popitem(False)[1]
                elif size < 0:
                    raise _size_error(size)
                admitted += 1
                admitted_bytes += size
                q[key] = size
                used = u
                return False
            return store._cold_miss(key, size)

        return request


class FIFOStore(_QueueStore):
    """First in, first out: hits change nothing."""

    __slots__ = ()
    name = "fifo"

    def _hit(self, key: Hashable) -> bool:
        return key in self._q

    def _make_request(self) -> RequestFn:
        store = self
        q = self._q
        cap = self.capacity
        limit = self._limit  # the admission limit of the fast path
        popitem = q.popitem
        used = hits = admitted = admitted_bytes = 0

        def request(key: Hashable, size: int) -> bool:
            nonlocal used, hits, admitted, admitted_bytes
            if key in q:
                hits += 1
                return True
            if size <= limit:  # -1 on the slow path: see _update_slow
                u = used + size
                if u > cap:  # so size > 0: a negative size cannot get here
                    while u > cap:
                        u -= popitem(False)[1]
                elif size < 0:
                    raise _size_error(size)
                admitted += 1
                admitted_bytes += size
                q[key] = size
                used = u
                return False
            return store._cold_miss(key, size)

        return request


class SieveStore(Store):
    """SIEVE: a visited bit per object and a hand sweeping from old to new.

    The insertion-ordered list is split at the hand: ``passed`` holds the
    objects older than the hand (already swept, in order), ``ahead`` the hand
    itself (its first entry) and everything newer. New objects join the end of
    ``ahead``. An eviction step takes the first of ``ahead``: visited ones
    lose the bit and move to the end of ``passed``; the first unvisited one is
    the victim, and the hand is then the next entry of ``ahead``. When
    ``ahead`` runs out the hand wraps to the oldest object: the two swap, at
    once, so that objects inserted before the next step queue behind the
    oldest as they do in libCacheSim, where the hand is then empty. The two
    are closure cells of ``request`` (they are rebound when they swap).
    """

    __slots__ = ("_sizes", "_visited")
    name = "sieve"

    _ahead = _cell("ahead", "From the hand to the newest object.")
    _passed = _cell("passed", "From the oldest object to just before the hand.")

    def _setup(self) -> None:
        self._sizes: dict[Hashable, int] = {}
        self._visited: set[Hashable] = set()

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
        if size is None:
            return None
        self._visited.discard(key)
        ahead = self._ahead
        # Removing the hand's object leaves the hand on its newer neighbour,
        # as in libCacheSim; past the newest, it restarts from the oldest.
        if ahead.pop(key, 0) == 0:
            del self._passed[key]
        elif not ahead:
            self._ahead, self._passed = self._passed, ahead
        self.used -= size
        return size

    def _make_request(self) -> RequestFn:
        store = self
        sizes = self._sizes
        visited = self._visited
        visit = visited.add
        unvisit = visited.discard
        cap = self.capacity
        limit = self._limit
        ahead: OrderedDict[Hashable, None] = OrderedDict()
        passed: OrderedDict[Hashable, None] = OrderedDict()
        used = hits = admitted = admitted_bytes = 0
        slow = False  # values were stored or on_evict is set

        def request(key: Hashable, size: int) -> bool:
            nonlocal used, hits, admitted, admitted_bytes, ahead, passed
            if key in sizes:
                visit(key)
                hits += 1
                return True
            if not 0 <= size <= limit:
                if size < 0:
                    raise _size_error(size)
                store._rejected += 1
                return False
            admitted += 1
            admitted_bytes += size
            u = used + size
            if u > cap:
                while u > cap:
                    while True:  # one eviction step
                        if not ahead:  # the hand wraps round to the oldest object
                            ahead, passed = passed, ahead
                        k = ahead.popitem(False)[0]
                        if k in visited:
                            unvisit(k)
                            passed[k] = None
                        else:
                            break
                    if not ahead:  # the victim was the newest: restart at the oldest
                        ahead, passed = passed, ahead
                    u -= sizes.pop(k)
                    if slow:
                        store._evicted(k)
                sizes[key] = size
                ahead[key] = None
                used = u
                if store._victims:
                    store._flush()
                return False
            sizes[key] = size
            ahead[key] = None
            used = u
            return False

        return request


class S3FIFOStore(Store):
    """S3-FIFO with libCacheSim's defaults (small 10 %, ghost 90 %, threshold 2).

    ``_small`` and ``_main`` map key to stored size, oldest first; ``_freq``
    maps every resident key to its access count, so it doubles as the index
    of resident keys. ``_ghost`` maps recently evicted keys to their sizes.
    The byte counts of the three queues and the warm-up flag are closure
    cells of ``request``.
    """

    __slots__ = ("_small", "_main", "_ghost", "_freq", "_small_cap", "_main_cap", "_ghost_cap")
    name = "s3fifo"
    SMALL_SIZE_RATIO: Final = 0.1
    GHOST_SIZE_RATIO: Final = 0.9
    MOVE_TO_MAIN_THRESHOLD: Final = 2

    small_bytes = _cell("sb", "Bytes in the small queue.")
    main_bytes = _cell("mb", "Bytes in the main queue.")
    ghost_bytes = _cell("gb", "Bytes the ghost queue remembers (not stored).")
    _warmed = _cell("warmed", "Whether the first eviction has happened (ends warm-up).")

    @property
    def used(self) -> int:  # type: ignore[override]
        """Bytes stored: small plus main."""
        return self.small_bytes + self.main_bytes

    def _setup(self) -> None:
        capacity = self.capacity
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

    def _has(self, key: object) -> bool:
        return key in self._freq

    def __len__(self) -> int:
        return len(self._freq)

    def keys(self) -> list[Hashable]:
        return [*self._small, *self._main]

    def size_of(self, key: Hashable) -> int | None:
        size = self._small.get(key)
        return size if size is not None else self._main.get(key)

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
            self.small_bytes -= size
        else:
            size = self._main.pop(key)
            self.main_bytes -= size
        return size

    def _make_request(self) -> RequestFn:
        store = self
        small = self._small
        main = self._main
        ghost = self._ghost
        freq = self._freq
        cap = self.capacity
        limit = self._limit
        small_cap = self._small_cap
        main_cap = self._main_cap
        ghost_cap = self._ghost_cap
        sb = mb = gb = 0
        warmed = False
        hits = admitted = admitted_bytes = 0
        slow = False  # values were stored or on_evict is set

        def request(key: Hashable, size: int) -> bool:
            nonlocal sb, mb, gb, warmed, hits, admitted, admitted_bytes
            if key in freq:
                freq[key] += 1
                hits += 1
                return True
            # The ghost entry is consumed even if the object is then not admitted.
            ghost_hit = False
            if key in ghost:
                gb -= ghost.pop(key)
                ghost_hit = True
            if not 0 <= size <= limit:
                if size < 0:
                    raise _size_error(size)
                store._rejected += 1
                return False
            if sb + mb + size > cap:
                warmed = True
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
                        if s <= ghost_cap:  # the ghost is bounded by bytes
                            gb += s
                            while gb > ghost_cap:
                                gb -= ghost.popitem(False)[1]
                            ghost[k] = s
                    if slow:
                        store._evicted(k)
            if ghost_hit:
                main[key] = size
                mb += size
            elif size >= small_cap:
                # Only size == small capacity gets here: libCacheSim evicts for
                # it and then does not insert it.
                store._rejected += 1
                if store._victims:
                    store._flush()
                return False
            elif not warmed and sb >= small_cap:
                main[key] = size  # warm-up: small is full before the first eviction
                mb += size
            else:
                small[key] = size
                sb += size
            freq[key] = 0
            admitted += 1
            admitted_bytes += size
            if store._victims:
                store._flush()
            return False

        return request


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
