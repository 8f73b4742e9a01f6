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
  evicting the first unvisited object.
- **s3fifo**: a small FIFO (10 % of the bytes), a main FIFO and a ghost FIFO of
  recently evicted keys (90 % of the bytes, sizes only). New objects enter
  small; objects hit twice there move to main when they reach its end, the
  others leave a ghost entry; a miss that finds a ghost entry goes straight to
  main. Main reinserts objects that were hit, with a frequency capped at 3.
  Objects larger than the small queue are never admitted.

The decisions are compiled kernels over integer keys (:mod:`edge.eviction`,
numba); this module is the store callers see. It adds what the kernels leave
out: keys of any hashable kind, values, eviction callbacks, argument checks
and growing the kernels' arrays. A key that is an int in ``[0, 2**62)`` goes
to the kernels as itself (the simulator's object ids: no mapping at all);
any other key gets an id from ``2**62`` up, kept in a dict while the policy
knows the key (resident, or an S3-FIFO ghost) and swept when the dict has
grown to twice that.

The store is pure: no I/O and no clock. Expiry is the caller's business (the
HTTP policy decides freshness; the store only decides what stays in memory).

``request(key, size)`` is the whole libCacheSim step in one call: the lookup,
the hit update, and on a miss the admission test, evictions and insertion.
``request_many(keys, sizes)`` does the same for a batch in one compiled loop
and returns a bytearray of hit flags (1 = hit; ``np.frombuffer(flags,
np.bool_)`` views it); it leaves the store exactly as the calls one by one
would (they run the same kernel code), stopping at an item that raises. The
simulator sends each edge its requests that way, as numpy arrays. The edge
server uses the split form, ``lookup`` then ``insert`` once the origin has
answered; a miss through ``lookup`` followed by ``insert`` leaves the store in
exactly the state one ``request`` would.

Values and callbacks: a key may carry a value (the edge stores responses),
and ``on_evict(key, value)`` may be set (the edge drops Vary variants and
counts metrics). While either is in play, or keys are mapped, the kernels
report the keys they evict, and batches run as calls one by one. Callbacks
run when the operation that evicted has finished, so they may call
``remove``. ``lookup`` returns :data:`PRESENT` for a stored key whose value is
None, so a hit is never mistaken for a miss.

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

from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Any, Final

import numpy as np

from edge import eviction as ev

DIRECT_KEYS: Final = 1 << 62  # ints below this are kernel keys as they are; ids from here


class _Present:
    """The value ``lookup`` returns for a stored key that carries no value."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "PRESENT"


PRESENT: Final = _Present()

EvictCallback = Callable[[Hashable, Any], None]


def _size_error(size: object) -> ValueError:
    return ValueError(f"object size must be a non-negative integer of bytes, got {size!r}")


def _hdr_field(index: int, doc: str) -> property:
    """An int property reading the kernels' header field ``index``."""

    def get(self: Store) -> int:
        return int(self._hdr[index])

    return property(get, doc=doc)


class Store:
    """A byte-capacity store; each eviction policy is a subclass.

    Public: ``name``, ``capacity``, ``max_object_size``, ``on_evict``, the
    counters ``used``, ``hits``, ``misses``, ``evictions`` (only ``request``,
    ``request_many`` and ``lookup`` count hits and misses), and the methods
    below:

    ``request(key, size) -> bool`` is the whole libCacheSim step in one call.
    A hit applies the policy's hit update and returns True. A miss runs the
    admission test (``size`` at most the capacity, the maximum object size
    and, for S3-FIFO, the small queue), evicts until the object fits,
    inserts it and returns False.

    ``request_many(keys, sizes) -> bytearray`` is ``request`` over parallel
    sequences (numpy int arrays are fastest), one flag byte per request, 1
    for a hit: the simulator's hot path. The store ends exactly as after the
    calls one by one; an item that raises (a negative size) stops the batch
    with the items before it done. Unequal lengths raise ValueError before
    anything is done.
    """

    __slots__ = (
        "capacity",
        "max_object_size",
        "_on_evict",
        "_values",
        "_ids",
        "_names",
        "_next_id",
        "_hdr",
        "_slots",
        "_table",
        "_ev",
        "_track",
        "_lookup_misses",
        "_removed",
    )
    name: str = "store"
    policy: int = -1  # the kernels' policy code (edge.eviction)

    hits = _hdr_field(ev.H_HITS, "Hits counted by request, request_many and lookup.")
    evictions = _hdr_field(ev.H_EVICTIONS, "Objects evicted (removals are not evictions).")
    used = _hdr_field(ev.H_USED, "Bytes stored: the sum of the stored sizes.")

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
        self._check_capacity()
        limit = capacity if max_object_size is None else min(capacity, max_object_size)
        self._hdr, self._slots, self._table, self._ev = ev.new_state(self.policy, capacity, limit)
        self._on_evict: EvictCallback | None = None
        self._track = False  # mirrors hdr[H_TRACK]: the kernels report evictions
        self._values: dict[Hashable, Any] = {}  # values of the keys that have one
        self._ids: dict[Hashable, int] = {}  # mapped keys -> kernel ids
        self._names: dict[int, Hashable] = {}  # kernel ids -> mapped keys
        self._next_id = DIRECT_KEYS
        self._lookup_misses = 0
        self._removed = 0

    def _check_capacity(self) -> None:
        """Reject a capacity the policy cannot work with (S3-FIFO needs 10 bytes)."""

    # -- keys ------------------------------------------------------------------

    def _kid(self, key: Hashable) -> int:
        """The kernel key of ``key`` (a new id for a new mapped key)."""
        kid = self._known_kid(key)
        if kid is None:
            kid = self._next_id
            self._next_id += 1
            self._ids[key] = kid
            self._names[kid] = key
            self._set_track(True)
        return kid

    def _known_kid(self, key: Hashable) -> int | None:
        """The kernel key of ``key`` if it has one, without making one."""
        if type(key) is int and 0 <= key < DIRECT_KEYS:
            return key
        kid = self._ids.get(key)  # mapped keys (the edge's) first: one dict lookup
        if kid is None and isinstance(key, (int, np.integer)) and 0 <= key < DIRECT_KEYS:
            return int(key)  # numpy integers and bools are the int they equal
        return kid

    def _key(self, kid: int) -> Hashable:
        return kid if kid < DIRECT_KEYS else self._names[kid]

    def _sweep_ids(self) -> None:
        """Forget the ids of keys the policy no longer knows."""
        if len(self._ids) <= 2 * (len(self) + int(self._hdr[ev.H_GHOSTS])) + 64:
            return
        slots = self._slots
        known = set(slots[slots[:, ev.S_WHERE] != ev.FREE, ev.S_KEY].tolist())
        names = self._names
        for kid in [k for k in names if k not in known]:
            del self._ids[names.pop(kid)]

    # -- the kernels' calls ------------------------------------------------------

    def _grow(self) -> None:
        """Twice the slots (the kernels found none free)."""
        state = ev.grow(self._hdr, self._slots, self._table, 2 * len(self._slots))
        self._hdr, self._slots, self._table, self._ev = state

    def _after(self) -> None:
        """Drop the values of the keys the last call evicted and run their callbacks."""
        hdr = self._hdr
        n = int(hdr[ev.H_NEV])
        if n:
            hdr[ev.H_NEV] = 0
            victims = [self._key(k) for k in self._ev[:n].tolist()]
            values = self._values
            pairs = [(k, values.pop(k, None) if values else None) for k in victims]
            callback = self._on_evict
            if callback is not None:
                for key, value in pairs:
                    callback(key, value)
        if self._ids:
            self._sweep_ids()

    def request(self, key: Hashable, size: int) -> bool:
        """One libCacheSim step; True on a hit (see the class docstring)."""
        if type(size) is not int:
            size = self._size(size)
        kid = key if type(key) is int and 0 <= key < DIRECT_KEYS else self._kid(key)
        r = ev.request(self._hdr, self._slots, self._table, self._ev, kid, size)
        if r < 0:
            if r == ev.NEED_ROOM:
                self._grow()
                return self.request(key, size)
            raise _size_error(size)
        if self._track:
            self._after()
        return r == 1

    def request_many(self, keys: Sequence[Hashable], sizes: Sequence[int]) -> bytearray:
        """``request`` over parallel sequences; hit flags (see the class docstring)."""
        if not isinstance(keys, np.ndarray | list | tuple):
            keys = list(keys)
        if not isinstance(sizes, np.ndarray | list | tuple):
            sizes = list(sizes)
        n = len(keys)
        if n != len(sizes):
            raise ValueError(
                f"request_many needs one size per key, got {n} keys and {len(sizes)} sizes"
            )
        flags = bytearray(n)
        kk = self._direct(keys)
        ss = self._sizes_array(sizes)
        if kk is None or ss is None or self._track:
            # Keys that need mapping, values or callbacks: one by one.
            request = self.request
            for i in range(n):
                flags[i] = request(keys[i], sizes[i])
            return flags
        out = np.frombuffer(flags, dtype=np.uint8)
        i = 0
        while True:
            i, r = ev.request_many(self._hdr, self._slots, self._table, self._ev, kk, ss, out, i)
            if r == 0:
                return flags
            if r != ev.NEED_ROOM:
                raise _size_error(sizes[i])
            self._grow()

    @staticmethod
    def _direct(keys) -> np.ndarray | None:
        """``keys`` as an int64 array of direct kernel keys, or None if any is not one."""
        if isinstance(keys, np.ndarray):
            if keys.dtype.kind not in "iu":
                return None
            arr = keys.astype(np.int64, copy=False)
        else:
            if not all(type(k) is int for k in keys):
                return None
            try:
                arr = np.array(keys, dtype=np.int64)
            except OverflowError:
                return None
        if len(arr) and (arr.min() < 0 or arr.max() >= DIRECT_KEYS):
            return None
        return arr

    @staticmethod
    def _sizes_array(sizes) -> np.ndarray | None:
        """``sizes`` as an int64 array, or None to let ``request`` check each one."""
        if isinstance(sizes, np.ndarray):
            return sizes.astype(np.int64, copy=False) if sizes.dtype.kind in "iu" else None
        if not all(type(s) is int for s in sizes):
            return None
        try:
            return np.array(sizes, dtype=np.int64)
        except OverflowError:
            return None

    @staticmethod
    def _size(size: object) -> int:
        """A size that is not a plain int: numpy integers pass, the rest raise."""
        if isinstance(size, int | np.integer) and not isinstance(size, bool):
            return int(size)
        raise _size_error(size)

    # -- the public API, shared by every policy ---------------------------------

    @property
    def misses(self) -> int:
        """Misses counted by request and lookup."""
        return int(self._hdr[ev.H_MISSES]) + self._lookup_misses

    @property
    def on_evict(self) -> EvictCallback | None:
        """Called as ``on_evict(key, value)`` for each eviction, after the
        operation that evicted has finished (so it may call ``remove``)."""
        return self._on_evict

    @on_evict.setter
    def on_evict(self, callback: EvictCallback | None) -> None:
        self._on_evict = callback
        self._update_track()

    def _update_track(self) -> None:
        """The kernels report evictions while values, a callback or mapped keys are in play."""
        self._set_track(bool(self._values or self._on_evict is not None or self._ids))

    def _set_track(self, track: bool) -> None:
        self._track = track
        self._hdr[ev.H_TRACK] = track

    def lookup(self, key: Hashable) -> Any:
        """The stored value (or :data:`PRESENT`) after the policy's hit update; None on a miss."""
        kid = self._known_kid(key)
        if kid is not None and ev.hit(self._hdr, self._slots, self._table, kid):
            return self._values.get(key, PRESENT) if self._values else PRESENT
        self._lookup_misses += 1
        return None

    def peek(self, key: Hashable) -> Any:
        """Like ``lookup`` but with no policy update and no counting."""
        if self._slot(key) >= 0:
            return self._values.get(key, PRESENT) if self._values else PRESENT
        return None

    def insert(self, key: Hashable, size: int, value: Any = None) -> bool:
        """Store ``key`` (replacing any entry for it); False if it was not admitted.

        After a miss of ``lookup``, this leaves the store exactly as one
        ``request`` would have: it runs the same kernel code.
        """
        if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 0:
            raise _size_error(size)
        if self._slot(key) >= 0:
            self.remove(key)
        if value is not None:
            self._values[key] = value  # first, so that the kernels report evictions
            self._set_track(True)
        if self._hdr[ev.H_NFREE] == 0:
            self._grow()
        kid = self._kid(key)
        ok = ev.miss(self._hdr, self._slots, self._table, self._ev, kid, int(size))
        if not ok and value is not None:
            self._values.pop(key, None)
        if self._track:
            self._after()
        return bool(ok)

    def remove(self, key: Hashable) -> bool:
        """Drop ``key`` without counting an eviction; False if it was not stored."""
        kid = self._known_kid(key)
        if kid is None or ev.remove(self._hdr, self._slots, self._table, kid) < 0:
            return False
        self._removed += 1
        if self._values:
            self._values.pop(key, None)
            if not self._values:
                self._update_track()
        return True

    def _slot(self, key: object) -> int:
        """The slot of resident ``key``; negative if it is not resident."""
        kid = self._known_kid(key)  # type: ignore[arg-type]
        if kid is None:
            return -1
        return int(ev.find(self._hdr, self._slots, self._table, kid))

    def __contains__(self, key: object) -> bool:
        return self._slot(key) >= 0

    def __len__(self) -> int:
        return int(self._hdr[ev.H_COUNT])

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self.keys())

    def keys(self) -> list[Hashable]:
        """Resident keys, in the order the policy would consider them for eviction."""
        kids = ev.queue_keys(self._hdr, self._slots, ev.QUEUE, -1).tolist()
        return [self._key(k) for k in kids]

    def size_of(self, key: Hashable) -> int | None:
        """The stored size of ``key``, or None."""
        s = self._slot(key)
        return None if s < 0 else int(self._slots[s, ev.S_SIZE])

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.name} {len(self)} objects "
            f"{self.used}/{self.capacity} bytes hits={self.hits} misses={self.misses}>"
        )

    def _policy_state(self) -> tuple:
        """Policy state beyond ``keys()`` and sizes (for tests comparing two stores)."""
        return ()


class LRUStore(Store):
    """Least recently used: hits move the object to the newest end."""

    __slots__ = ()
    name = "lru"
    policy = ev.LRU


class FIFOStore(Store):
    """First in, first out: hits change nothing."""

    __slots__ = ()
    name = "fifo"
    policy = ev.FIFO


class SieveStore(Store):
    """SIEVE: a visited bit per object and a hand sweeping from old to new."""

    __slots__ = ()
    name = "sieve"
    policy = ev.SIEVE

    def keys(self) -> list[Hashable]:
        # Eviction order: from the hand to the newest, then from the oldest.
        kids = ev.queue_keys(self._hdr, self._slots, ev.QUEUE, int(self._hdr[ev.H_HAND]))
        return [self._key(k) for k in kids.tolist()]

    def _policy_state(self) -> tuple:
        """The visited keys (for tests comparing two stores)."""
        return (frozenset(k for k in self.keys() if self._slots[self._slot(k), ev.S_FREQ]),)


class S3FIFOStore(Store):
    """S3-FIFO with libCacheSim's defaults (small 10 %, ghost 90 %, threshold 2)."""

    __slots__ = ()
    name = "s3fifo"
    policy = ev.S3FIFO
    SMALL_SIZE_RATIO: Final = 0.1
    GHOST_SIZE_RATIO: Final = 0.9
    MOVE_TO_MAIN_THRESHOLD: Final = 2

    small_bytes = _hdr_field(ev.H_SB, "Bytes in the small queue.")
    main_bytes = _hdr_field(ev.H_MB, "Bytes in the main queue.")
    ghost_bytes = _hdr_field(ev.H_GB, "Bytes the ghost queue remembers (not stored).")

    def _check_capacity(self) -> None:
        if int(self.capacity * self.SMALL_SIZE_RATIO) <= 0:
            raise ValueError(
                f"s3fifo needs a capacity of at least 10 bytes (its small queue is 10 %), "
                f"got {self.capacity}"
            )

    def _queue(self, q: int) -> list[Hashable]:
        return [self._key(k) for k in ev.queue_keys(self._hdr, self._slots, q, -1).tolist()]

    def keys(self) -> list[Hashable]:
        return self._queue(ev.SMALL) + self._queue(ev.MAIN)

    def in_ghost(self, key: Hashable) -> bool:
        """Whether ``key`` is remembered by the ghost queue (for tests and metrics)."""
        return self._slot(key) <= -2

    def queue_of(self, key: Hashable) -> str | None:
        """Which queue holds ``key``: "small", "main", "ghost" or None."""
        s = self._slot(key)
        if s == -1:
            return None
        if s <= -2:
            return "ghost"
        return "main" if self._slots[s, ev.S_WHERE] == ev.MAIN else "small"

    def _policy_state(self) -> tuple:
        """Frequencies, queues, ghost and warm-up (for tests comparing two stores)."""
        slots = self._slots
        return (
            {k: (int(slots[self._slot(k), ev.S_FREQ]), self.queue_of(k)) for k in self.keys()},
            [(k, int(slots[-2 - self._slot(k), ev.S_SIZE])) for k in self._queue(ev.GHOST)],
            bool(self._hdr[ev.H_WARM]),
        )


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
