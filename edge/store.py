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
  evicting the first unvisited object. Here the queue is two deques, the
  objects the hand has already passed and the objects from the hand to the
  newest; wrapping round swaps them. That keeps every step O(1) in C code.
- **s3fifo**: a small FIFO (10 % of the bytes), a main FIFO and a ghost FIFO of
  recently evicted keys (90 % of the bytes, sizes only). New objects enter
  small; objects hit twice there move to main when they reach its end, the
  others leave a ghost entry; a miss that finds a ghost entry goes straight to
  main. Main reinserts objects that were hit, with a frequency capped at 3.
  Objects larger than the small queue are never admitted.

SIEVE and S3-FIFO keep one dict from key to a small list, the entry
(``[size, bit or frequency, key, where]``), and deques of entries for their
queues: a hit updates the entry in place, and moving an entry from one queue
to another never touches a dict. A deque cannot drop an entry from its
middle, so ``remove`` marks the entry dead and the queue skips it when it
reaches the head (lazy deletion); the policies' decisions are those of a
queue without it, which the tests check against plain list versions.

The store is pure: no I/O and no clock. Expiry is the caller's business (the
HTTP policy decides freshness; the store only decides what stays in memory).

``request(key, size)`` is the whole libCacheSim step in one call: the lookup,
the hit update, and on a miss the admission test, evictions and insertion.
``request_many(keys, sizes)`` does the same for a batch and returns a
bytearray of hit flags (1 = hit; ``np.frombuffer(flags, np.bool_)`` views
it); it leaves the store exactly as the calls one by one would, stopping at
an item that raises. The simulator sends each edge its requests that way.
The edge server uses the split form, ``lookup`` then ``insert`` once the
origin has answered; a miss through ``lookup`` followed by ``insert`` leaves
the store in exactly the state one ``request`` would.

Speed: each store's ``request`` and ``request_many`` are closures made when
the store is built. Their scalar state (``used``, queue bytes, counters)
lives in closure cells, which are cheaper than attributes, and they hold the
containers' bound methods; the public counters are properties that read
those cells. A hit counts one thing and so does a miss (the objects
admitted), in floats (see ``_counter``); ``misses`` and ``evictions`` are
derived, since every object that came in is still here, was evicted or was
removed. (Counting evicted bytes too cost LRU 5 % of its speed; nothing
needed them.) ``request_many`` repeats ``request``'s code inline (the tests
hold the two equal), so a batch makes no call per request, and counts
nothing per hit: its hits are the flags it set, and a miss finds its index
from the previous miss or the iterator's length hint. ``insert`` reuses
``request`` for its admission and evictions, so the split form cannot drift
from the one-call form.

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
>>> s.request_many(["a", "b", "a"], [60, 50, 60])
bytearray(b'\\x01\\x00\\x00')
>>> s.keys(), s.hits
(['a'], 1)
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Any, Final


class _Present:
    """The value ``lookup`` returns for a stored key that carries no value."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "PRESENT"


PRESENT: Final = _Present()

EvictCallback = Callable[[Hashable, Any], None]
RequestFn = Callable[[Hashable, int], bool]
RequestManyFn = Callable[[Sequence[Hashable], Sequence[int]], bytearray]


def _cell(name: str, doc: str) -> property:
    """A property backed by the closure cell ``name`` of the store's ``request``."""

    def get(self: Store) -> Any:
        return self._cells[name].cell_contents

    def put(self: Store, value: Any) -> None:
        self._cells[name].cell_contents = value

    return property(get, put, doc=doc)


def _counter(name: str, doc: str) -> property:
    """An int property for the counter cell ``name``, which holds a float.

    Floats, because CPython keeps freed floats for reuse: ``hits += 1.0``
    allocates nothing, where an int above 256 is a new object each time.
    They count exactly up to 2**53.
    """

    def get(self: Store) -> int:
        return int(self._cells[name].cell_contents)

    def put(self: Store, value: int) -> None:
        self._cells[name].cell_contents = float(value)

    return property(get, put, doc=doc)


def _size_error(size: object) -> ValueError:
    return ValueError(f"object size must be a non-negative integer of bytes, got {size!r}")


def _as_lists(keys: Sequence[Hashable], sizes: Sequence[int]) -> tuple[list, list]:
    """``request_many``'s arguments as lists of Python objects (numpy arrays via tolist)."""
    if type(keys) is not list:
        keys = keys.tolist() if hasattr(keys, "tolist") else list(keys)
    if type(sizes) is not list:
        sizes = sizes.tolist() if hasattr(sizes, "tolist") else list(sizes)
    if len(keys) != len(sizes):
        raise ValueError(
            f"request_many needs one size per key, got {len(keys)} keys and {len(sizes)} sizes"
        )
    return keys, sizes


class Store:
    """A byte-capacity store; each eviction policy is a subclass.

    Public: ``name``, ``capacity``, ``max_object_size``, ``on_evict``, the
    counters ``used``, ``hits``, ``misses``, ``evictions`` (only ``request``,
    ``request_many`` and ``lookup`` count hits and misses), and the methods
    below, and ``request`` and ``request_many``:

    ``request(key, size) -> bool`` is the whole libCacheSim step in one call.
    A hit applies the policy's hit update and returns True. A miss runs the
    admission test (``size`` at most the capacity, the maximum object size
    and, for S3-FIFO, the small queue), evicts until the object fits,
    inserts it and returns False. It is an instance attribute (a closure),
    so ``r = store.request`` is the fastest way to call it in a loop.

    ``request_many(keys, sizes) -> bytearray`` is ``request`` over parallel
    sequences (lists, or numpy arrays, which it converts), one flag byte per
    request, 1 for a hit: the simulator's hot path. The store ends exactly
    as after the calls one by one; an item that raises (a negative size)
    stops the batch with the items before it done. Unequal lengths raise
    ValueError before anything is done.

    Subclasses implement ``_make_request`` (``request`` and
    ``request_many``), ``_hit`` (the hit update for ``lookup``), ``_has``,
    ``_remove``, ``__len__``, ``keys`` and ``size_of``.
    """

    __slots__ = (
        "capacity",
        "max_object_size",
        "request",
        "request_many",
        "_on_evict",
        "_had_values",
        "_limit",
        "_values",
        "_victims",
        "_cells",
        "_lookup_misses",
        "_rejected",
        "_removed",
        "_inserted",
    )
    name: str = "store"
    request: RequestFn  # built per store by _make_request; see the class docstring
    request_many: RequestManyFn

    used = _cell("used", "Bytes stored: the sum of the stored sizes.")
    hits = _counter("hits", "Hits counted by request, request_many and lookup.")
    _admitted = _counter("admitted", "Objects ever inserted.")

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
        self._inserted = 0  # objects inserted by insert()
        self._setup()
        self.request, self.request_many = self._make_request()
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

    def _make_request(self) -> tuple[RequestFn, RequestManyFn]:  # pragma: no cover
        raise NotImplementedError

    def _policy_state(self) -> tuple:
        """Policy state beyond ``keys()`` and sizes (for tests comparing two stores)."""
        return ()

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

    def _make_request(self) -> tuple[RequestFn, RequestManyFn]:
        # LRU and FIFO differ in one line; each has its own copy of the hot
        # path so that neither pays a test for the other.
        store = self
        q = self._q
        cap = self.capacity
        limit = self._limit  # the admission limit of the fast path
        popitem = q.popitem
        move_to_end = q.move_to_end
        used = 0
        hits = admitted = 0.0  # see _counter

        def request(key: Hashable, size: int) -> bool:
            nonlocal used, hits, admitted
            if key in q:
                move_to_end(key)
                hits += 1.0
                return True
            if size <= limit:  # -1 on the slow path: see _update_slow
                used += size
                if used > cap:  # so size > 0: a negative size cannot get here
                    while used > cap:
                        used -= popitem(False)[1]
                elif size < 0:
                    used -= size
                    raise _size_error(size)
                q[key] = size
                admitted += 1.0
                return False
            return store._cold_miss(key, size)

        def request_many(keys: Sequence[Hashable], sizes: Sequence[int]) -> bytearray:
            # request() inlined, its counters in locals, hits counted at the end.
            nonlocal used, hits, admitted
            keys, sizes = _as_lists(keys, sizes)
            n = len(keys)
            out = bytearray(b"\x01") * n
            it = iter(keys)
            # A miss's index: the previous one's plus one after a miss, else
            # from the iterator's length hint, so that hits count nothing.
            left = it.__length_hint__
            last = n - 1
            i = -1
            u = used
            c = 0
            done = False
            _q, _cap, _move, _pop = q, cap, move_to_end, popitem
            try:
                for key in it:
                    if key in _q:
                        _move(key)
                        i = -1
                        continue
                    i = i + 1 if i >= 0 else last - left()
                    out[i] = 0
                    size = sizes[i]
                    if size <= limit:
                        u += size
                        if u > _cap:
                            while u > _cap:
                                u -= _pop(False)[1]
                        elif size < 0:
                            u -= size
                            raise _size_error(size)
                        _q[key] = size
                        c += 1
                    else:  # not admitted, or the slow path
                        used = u
                        store._cold_miss(key, size)
                        u = used
                done = True
            finally:
                used = u
                admitted += c
                hits += out.count(1) if done else out.count(1, 0, n - left() - 1)  # not the bad one
            return out

        return request, request_many


class FIFOStore(_QueueStore):
    """First in, first out: hits change nothing."""

    __slots__ = ()
    name = "fifo"

    def _hit(self, key: Hashable) -> bool:
        return key in self._q

    def _make_request(self) -> tuple[RequestFn, RequestManyFn]:
        store = self
        q = self._q
        cap = self.capacity
        limit = self._limit  # the admission limit of the fast path
        popitem = q.popitem
        used = 0
        hits = admitted = 0.0  # see _counter

        def request(key: Hashable, size: int) -> bool:
            nonlocal used, hits, admitted
            if key in q:
                hits += 1.0
                return True
            if size <= limit:  # -1 on the slow path: see _update_slow
                used += size
                if used > cap:  # so size > 0: a negative size cannot get here
                    while used > cap:
                        used -= popitem(False)[1]
                elif size < 0:
                    used -= size
                    raise _size_error(size)
                q[key] = size
                admitted += 1.0
                return False
            return store._cold_miss(key, size)

        def request_many(keys: Sequence[Hashable], sizes: Sequence[int]) -> bytearray:
            nonlocal used, hits, admitted
            keys, sizes = _as_lists(keys, sizes)
            n = len(keys)
            out = bytearray(b"\x01") * n
            it = iter(keys)
            # A miss's index: the previous one's plus one after a miss, else
            # from the iterator's length hint, so that hits count nothing.
            left = it.__length_hint__
            last = n - 1
            i = -1
            u = used
            c = 0
            done = False
            # LRU's loop without the move on a hit: written out twice on purpose, since
            # a per-hit test of the policy would cost the hot loop more than the move.
            _q, _cap, _pop = q, cap, popitem
            try:
                for key in it:
                    if key in _q:
                        i = -1
                        continue
                    i = i + 1 if i >= 0 else last - left()
                    out[i] = 0
                    size = sizes[i]
                    if size <= limit:
                        u += size
                        if u > _cap:
                            while u > _cap:
                                u -= _pop(False)[1]
                        elif size < 0:
                            u -= size
                            raise _size_error(size)
                        _q[key] = size
                        c += 1
                    else:  # not admitted, or the slow path
                        used = u
                        store._cold_miss(key, size)
                        u = used
                done = True
            finally:
                used = u
                admitted += c
                hits += out.count(1) if done else out.count(1, 0, n - left() - 1)  # not the bad one
            return out

        return request, request_many


class SieveStore(Store):
    """SIEVE: a visited bit per object and a hand sweeping from old to new.

    ``_d`` maps each resident key to its entry ``[size, visited, key, side]``.
    The insertion-ordered list is two deques of entries split at the hand:
    ``passed`` holds the objects older than the hand (already swept, in
    order), ``ahead`` the hand itself (its first live entry) and everything
    newer. New objects join the end of ``ahead``. An eviction step takes the
    first of ``ahead``: visited ones lose the bit and move to the end of
    ``passed``; the first unvisited one is the victim. When ``ahead`` has no
    live entry left the hand wraps to the oldest object: the two swap, at
    once, so that objects inserted before the next step queue behind the
    oldest as they do in libCacheSim, where the hand is then empty.

    ``remove`` is lazy: it marks the entry dead (``visited`` -1) and the
    sweep skips it. ``side`` is the deque an entry is in, and ``dead_ahead``
    and ``dead_passed`` count the dead entries in each, so that a removal
    that leaves ``ahead`` without a live entry wraps the hand as
    libCacheSim does. The deques and counts are closure cells of
    ``request`` (the deques swap).
    """

    __slots__ = ("_d",)
    name = "sieve"

    _ahead = _cell("ahead", "From the hand to the newest object (entries).")
    _passed = _cell("passed", "From the oldest object to just before the hand (entries).")
    _dead_ahead = _cell("dead_ahead", "Removed entries still in ahead.")
    _dead_passed = _cell("dead_passed", "Removed entries still in passed.")

    def _setup(self) -> None:
        self._d: dict[Hashable, list] = {}

    def _has(self, key: object) -> bool:
        return key in self._d

    def __len__(self) -> int:
        return len(self._d)

    def keys(self) -> list[Hashable]:
        # Eviction order: from the hand to the newest, then the wrapped part.
        return [e[2] for q in (self._ahead, self._passed) for e in q if e[1] >= 0]

    def size_of(self, key: Hashable) -> int | None:
        e = self._d.get(key)
        return None if e is None else e[0]

    def _policy_state(self) -> tuple:
        """The visited keys (for tests comparing two stores)."""
        return (frozenset(k for k, e in self._d.items() if e[1]),)

    def _hit(self, key: Hashable) -> bool:
        e = self._d.get(key)
        if e is None:
            return False
        e[1] = 1
        return True

    def _remove(self, key: Hashable) -> int | None:
        e = self._d.pop(key, None)
        if e is None:
            return None
        e[1] = -1  # dead: the sweep skips it
        ahead = self._ahead
        if e[3] is ahead:
            dead = self._dead_ahead + 1
            if dead == len(ahead):
                # No live entry from the hand on: as in libCacheSim, the
                # hand moves past the newest and restarts from the oldest.
                ahead.clear()
                self._ahead, self._passed = self._passed, ahead
                self._dead_ahead, self._dead_passed = self._dead_passed, 0
            else:
                self._dead_ahead = dead
        else:
            self._dead_passed += 1
        self.used -= e[0]
        return e[0]

    def _make_request(self) -> tuple[RequestFn, RequestManyFn]:
        store = self
        d = self._d
        cap = self.capacity
        limit = self._limit
        ahead: deque[list] = deque()
        passed: deque[list] = deque()
        dead_ahead = dead_passed = 0
        used = 0
        hits = admitted = 0.0  # see _counter
        slow = False  # values were stored or on_evict is set

        # request_many repeats this miss path inline: keep the two the same.
        def request(key: Hashable, size: int) -> bool:
            nonlocal used, hits, admitted
            nonlocal ahead, passed, dead_ahead, dead_passed
            if key in d:
                d[key][1] = 1
                hits += 1.0
                return True
            if not 0 <= size <= limit:
                if size < 0:
                    raise _size_error(size)
                store._rejected += 1
                return False
            admitted += 1.0
            u = used + size
            if u > cap:
                while u > cap:
                    while True:  # one eviction step
                        if not ahead:  # the hand wraps round to the oldest object
                            ahead, passed = passed, ahead
                            dead_ahead, dead_passed = dead_passed, 0
                        e = ahead.popleft()
                        v = e[1]
                        if v > 0:  # visited: clear the bit, the hand moves on
                            e[1] = 0
                            e[3] = passed
                            passed.append(e)
                        elif v:  # removed earlier: not there any more
                            dead_ahead -= 1
                        else:
                            break
                    if not ahead or dead_ahead and dead_ahead == len(ahead):
                        # The victim was the newest: restart at the oldest.
                        ahead.clear()
                        ahead, passed = passed, ahead
                        dead_ahead, dead_passed = dead_passed, 0
                    del d[e[2]]
                    u -= e[0]
                    if slow:
                        store._evicted(e[2])
                e = [size, 0, key, ahead]
                d[key] = e
                ahead.append(e)
                used = u
                if slow and store._victims:
                    store._flush()
                return False
            e = [size, 0, key, ahead]
            d[key] = e
            ahead.append(e)
            used = u
            return False

        def request_many(keys: Sequence[Hashable], sizes: Sequence[int]) -> bytearray:
            # request() inlined, hits counted at the end.
            nonlocal used, hits, admitted
            nonlocal ahead, passed, dead_ahead, dead_passed
            keys, sizes = _as_lists(keys, sizes)
            n = len(keys)
            out = bytearray(b"\x01") * n
            it = iter(keys)
            # A miss's index: the previous one's plus one after a miss, else
            # from the iterator's length hint, so that hits count nothing.
            left = it.__length_hint__
            last = n - 1
            i = -1
            get = d.get
            done = False
            try:
                for key in it:
                    e = get(key)
                    if e is not None:
                        e[1] = 1
                        i = -1
                        continue
                    i = i + 1 if i >= 0 else last - left()
                    out[i] = 0
                    size = sizes[i]
                    # From here on, request() as it is.
                    if not 0 <= size <= limit:
                        if size < 0:
                            raise _size_error(size)
                        store._rejected += 1
                        continue
                    admitted += 1.0
                    u = used + size
                    if u > cap:
                        while u > cap:
                            while True:
                                if not ahead:
                                    ahead, passed = passed, ahead
                                    dead_ahead, dead_passed = dead_passed, 0
                                e = ahead.popleft()
                                v = e[1]
                                if v > 0:
                                    e[1] = 0
                                    e[3] = passed
                                    passed.append(e)
                                elif v:
                                    dead_ahead -= 1
                                else:
                                    break
                            if not ahead or dead_ahead and dead_ahead == len(ahead):
                                ahead.clear()
                                ahead, passed = passed, ahead
                                dead_ahead, dead_passed = dead_passed, 0
                            del d[e[2]]
                            u -= e[0]
                            if slow:
                                store._evicted(e[2])
                        e = [size, 0, key, ahead]
                        d[key] = e
                        ahead.append(e)
                        used = u
                        if slow and store._victims:
                            store._flush()
                        continue
                    e = [size, 0, key, ahead]
                    d[key] = e
                    ahead.append(e)
                    used = u
                done = True
            finally:
                hits += out.count(1) if done else out.count(1, 0, n - left() - 1)  # not the bad one
            return out

        return request, request_many


class S3FIFOStore(Store):
    """S3-FIFO with libCacheSim's defaults (small 10 %, ghost 90 %, threshold 2).

    One dict, ``_d``, maps each key the policy knows to its entry ``[size,
    freq, key, in_main]``: the resident objects (``freq`` >= 0) and the ghost
    entries (``freq`` -2), so that a miss looks the key up once and an
    object evicted from small becomes a ghost without leaving the dict.
    ``small``, ``main`` and ``ghost`` are deques of entries, oldest first,
    so moving an entry (reinsertion, promotion, ghosting) is O(1) in C.

    Deletion from the middle of a deque is lazy: ``remove`` marks the entry
    dead (``freq`` -1) and a ghost hit marks the ghost entry used (``freq``
    -3); each queue drops such entries when they reach its head. The byte
    counts of the three queues, the number of ghost entries and the warm-up
    flag are closure cells of ``request``.
    """

    __slots__ = ("_d", "_small", "_main", "_ghost", "_small_cap", "_main_cap", "_ghost_cap")
    name = "s3fifo"
    SMALL_SIZE_RATIO: Final = 0.1
    GHOST_SIZE_RATIO: Final = 0.9
    MOVE_TO_MAIN_THRESHOLD: Final = 2

    small_bytes = _cell("sb", "Bytes in the small queue.")
    main_bytes = _cell("mb", "Bytes in the main queue.")
    ghost_bytes = _cell("gb", "Bytes the ghost queue remembers (not stored).")
    _ghosts = _counter("ng", "Ghost entries in _d.")
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
        self._d: dict[Hashable, list] = {}
        # Entries, oldest first, dead and used ones included.
        self._small: deque[list] = deque()
        self._main: deque[list] = deque()
        self._ghost: deque[list] = deque()

    def _entry(self, key: object) -> list | None:
        """The resident entry of ``key``, or None."""
        e = self._d.get(key)
        return e if e is not None and e[1] >= 0 else None

    def _has(self, key: object) -> bool:
        return self._entry(key) is not None

    def __len__(self) -> int:
        return len(self._d) - self._ghosts

    def keys(self) -> list[Hashable]:
        return [e[2] for q in (self._small, self._main) for e in q if e[1] >= 0]

    def size_of(self, key: Hashable) -> int | None:
        e = self._entry(key)
        return None if e is None else e[0]

    def in_ghost(self, key: Hashable) -> bool:
        """Whether ``key`` is remembered by the ghost queue (for tests and metrics)."""
        e = self._d.get(key)
        return e is not None and e[1] == -2

    def queue_of(self, key: Hashable) -> str | None:
        """Which queue holds ``key``: "small", "main", "ghost" or None."""
        e = self._d.get(key)
        if e is None:
            return None
        if e[1] < 0:
            return "ghost"
        return "main" if e[3] else "small"

    def _policy_state(self) -> tuple:
        """Frequencies, queues, ghost and warm-up (for tests comparing two stores)."""
        return (
            {k: (e[1], e[3]) for k, e in self._d.items() if e[1] >= 0},
            [(g[2], g[0]) for g in self._ghost if g[1] == -2],
            self._warmed,
        )

    def _hit(self, key: Hashable) -> bool:
        e = self._entry(key)
        if e is None:
            return False
        e[1] += 1
        return True

    def _remove(self, key: Hashable) -> int | None:
        e = self._entry(key)
        if e is None:
            return None
        del self._d[key]
        e[1] = -1  # dead: its queue drops it when it reaches the head
        if e[3]:
            self.main_bytes -= e[0]
        else:
            self.small_bytes -= e[0]
        return e[0]

    def _make_request(self) -> tuple[RequestFn, RequestManyFn]:
        store = self
        d = self._d
        get = d.get
        small = self._small
        small_pop, small_add = small.popleft, small.append
        main_pop, main_add = self._main.popleft, self._main.append
        ghost_pop, ghost_add = self._ghost.popleft, self._ghost.append
        cap = self.capacity
        limit = self._limit
        small_cap = self._small_cap
        main_cap = self._main_cap
        ghost_cap = self._ghost_cap
        sb = mb = gb = 0
        ng = 0.0  # see _counter
        warmed = False
        hits = admitted = 0.0  # see _counter
        slow = False  # values were stored or on_evict is set

        # request_many repeats this miss path inline: keep the two the same.
        def request(key: Hashable, size: int) -> bool:
            nonlocal sb, mb, gb, ng, warmed, hits, admitted
            e = get(key)
            if e is not None:
                f = e[1]
                if f >= 0:
                    e[1] = f + 1
                    hits += 1.0
                    return True
            if not 0 <= size <= limit:
                if size < 0:
                    raise _size_error(size)
                if e is not None:  # the ghost entry is used up all the same
                    e[1] = -3
                    gb -= e[0]
                    ng -= 1.0
                    del d[key]
                store._rejected += 1
                return False
            ghost_hit = e is not None
            if ghost_hit:  # used up; d[key] gets the new entry below
                e[1] = -3
                gb -= e[0]
                ng -= 1.0
            room = cap - size
            if sb + mb > room:
                warmed = True
                while True:  # one eviction step per round, until the object fits
                    if mb > main_cap or sb == 0:
                        # Main step: reinsert objects that were hit, drop the first that was not.
                        while True:
                            e = main_pop()
                            f = e[1]
                            if f > 0:
                                e[1] = (f if f < 3 else 3) - 1
                                main_add(e)
                            elif not f:
                                break
                            # else removed earlier: dropped
                        del d[e[2]]
                        mb -= e[0]
                    else:
                        # Small step: promote objects hit twice, ghost the first that was not.
                        while small:
                            e = small_pop()
                            f = e[1]
                            if f >= 2:
                                e[1] = 0
                                e[3] = True
                                main_add(e)
                                s = e[0]
                                sb -= s
                                mb += s
                            elif f >= 0:
                                break
                            # else removed earlier: dropped
                        else:
                            continue  # everything was promoted; no bytes freed yet
                        s = e[0]
                        sb -= s
                        if s <= ghost_cap:  # the ghost is bounded by bytes
                            gb += s
                            while gb > ghost_cap:
                                g = ghost_pop()
                                if g[1] == -2:  # else used up by a ghost hit
                                    gb -= g[0]
                                    ng -= 1.0
                                    del d[g[2]]
                            e[1] = -2
                            ng += 1.0
                            ghost_add(e)
                        else:
                            del d[e[2]]
                    if slow:
                        store._evicted(e[2])
                    if sb + mb <= room:
                        break
            if ghost_hit:
                e = [size, 0, key, True]
                main_add(e)
                mb += size
            elif size >= small_cap:
                # Only size == small capacity gets here: libCacheSim evicts for
                # it and then does not insert it.
                store._rejected += 1
                if slow and store._victims:
                    store._flush()
                return False
            elif not warmed and sb >= small_cap:
                e = [size, 0, key, True]  # warm-up: small is full before the first eviction
                main_add(e)
                mb += size
            else:
                e = [size, 0, key, False]
                small_add(e)
                sb += size
            d[key] = e
            admitted += 1.0
            if slow and store._victims:
                store._flush()
            return False

        def request_many(keys: Sequence[Hashable], sizes: Sequence[int]) -> bytearray:
            # request() inlined, hits counted at the end.
            nonlocal sb, mb, gb, ng, warmed, hits, admitted
            keys, sizes = _as_lists(keys, sizes)
            n = len(keys)
            out = bytearray(b"\x01") * n
            it = iter(keys)
            # A miss's index: the previous one's plus one after a miss, else
            # from the iterator's length hint, so that hits count nothing.
            left = it.__length_hint__
            last = n - 1
            i = -1
            done = False
            try:
                for key in it:
                    e = get(key)
                    if e is not None:
                        f = e[1]
                        if f >= 0:
                            e[1] = f + 1
                            i = -1
                            continue
                    i = i + 1 if i >= 0 else last - left()
                    out[i] = 0
                    size = sizes[i]
                    # From here on, request() as it is.
                    if not 0 <= size <= limit:
                        if size < 0:
                            raise _size_error(size)
                        if e is not None:
                            e[1] = -3
                            gb -= e[0]
                            ng -= 1.0
                            del d[key]
                        store._rejected += 1
                        continue
                    ghost_hit = e is not None
                    if ghost_hit:
                        e[1] = -3
                        gb -= e[0]
                        ng -= 1.0
                    room = cap - size
                    if sb + mb > room:
                        warmed = True
                        while True:
                            if mb > main_cap or sb == 0:
                                while True:
                                    e = main_pop()
                                    f = e[1]
                                    if f > 0:
                                        e[1] = (f if f < 3 else 3) - 1
                                        main_add(e)
                                    elif not f:
                                        break
                                del d[e[2]]
                                mb -= e[0]
                            else:
                                while small:
                                    e = small_pop()
                                    f = e[1]
                                    if f >= 2:
                                        e[1] = 0
                                        e[3] = True
                                        main_add(e)
                                        s = e[0]
                                        sb -= s
                                        mb += s
                                    elif f >= 0:
                                        break
                                else:
                                    continue
                                s = e[0]
                                sb -= s
                                if s <= ghost_cap:
                                    gb += s
                                    while gb > ghost_cap:
                                        g = ghost_pop()
                                        if g[1] == -2:
                                            gb -= g[0]
                                            ng -= 1.0
                                            del d[g[2]]
                                    e[1] = -2
                                    ng += 1.0
                                    ghost_add(e)
                                else:
                                    del d[e[2]]
                            if slow:
                                store._evicted(e[2])
                            if sb + mb <= room:
                                break
                    if ghost_hit:
                        e = [size, 0, key, True]
                        main_add(e)
                        mb += size
                    elif size >= small_cap:
                        store._rejected += 1
                        if slow and store._victims:
                            store._flush()
                        continue
                    elif not warmed and sb >= small_cap:
                        e = [size, 0, key, True]
                        main_add(e)
                        mb += size
                    else:
                        e = [size, 0, key, False]
                        small_add(e)
                        sb += size
                    d[key] = e
                    admitted += 1.0
                    if slow and store._victims:
                        store._flush()
                done = True
            finally:
                hits += out.count(1) if done else out.count(1, 0, n - left() - 1)  # not the bad one
            return out

        return request, request_many


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
