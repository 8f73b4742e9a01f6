"""Eviction policies as compiled kernels over integer keys and flat arrays.

Theory of operation
-------------------
This is the decision part of :mod:`edge.store`: which object a byte-capacity
cache keeps, hits and evicts, exactly as libCacheSim does
(``shared/EVICTION.md``). ``edge.store.Store`` wraps it for callers (keys of
any kind, values, eviction callbacks); the simulator and the live edge both
go through that wrapper, so there is one implementation of each policy.

The state of one store is three numpy arrays, so that numba-compiled
functions can work on it and Python can hold it:

- ``hdr`` (int64): the scalars: capacity and limits, byte counts, queue
  heads and tails, the SIEVE hand, counters (``H_*`` below);
- ``slots`` (int64, one row per object the policy knows, resident or
  S3-FIFO ghost): key, stored size, frequency (SIEVE: the visited bit),
  where it is (a queue, the ghost, or free), and the next and previous
  slot in its queue. Queues are doubly linked lists through the slots,
  oldest at the head, so every move is O(1) and removal from the middle
  needs no lazy deletion. Free slots form a list through ``next``;
- ``table`` (int64): an open-addressing hash table (linear probing,
  backward-shift deletion) from key to slot, holding ``slot + 1`` (0 is
  empty). It is at least twice as large as ``slots`` has rows, so it is at
  most half full.

The kernels never allocate. A request that finds no free slot does nothing
and answers ``NEED_ROOM``; the caller grows the arrays (``grow``, doubling)
and calls again.

Keys are non-negative int64. Every request goes through one function per
policy step (``_lookup`` and ``_miss``), which ``request`` and ``request_many``
share, so a batch leaves exactly the state of the calls one by one.
When ``hdr[H_TRACK]`` is set, the keys evicted are written to ``ev`` (the
store then drops their values and runs its callbacks); ``ev`` must have a
row for every slot.

Numba compiles each function on first use and caches the machine code next
to this file (``cache=True``), so only the first run after installing pays
for compiling.
"""

from __future__ import annotations

import numba
import numpy as np

LRU, FIFO, SIEVE, S3FIFO = range(4)

# hdr fields
(
    H_POLICY,
    H_CAP,
    H_LIMIT,  # the largest size admitted (capacity, max object size, S3-FIFO small queue)
    H_USED,  # bytes stored (S3-FIFO: small + main)
    H_SB,  # S3-FIFO small-queue bytes
    H_MB,  # S3-FIFO main-queue bytes
    H_GB,  # S3-FIFO ghost bytes
    H_SCAP,
    H_MCAP,
    H_GCAP,
    H_WARM,  # S3-FIFO: the first eviction happened
    H_HEAD0,  # queue q's head (oldest) is hdr[H_HEAD0 + 2 q], its tail hdr[H_HEAD0 + 2 q + 1]
    H_TAIL0,
    H_HEAD1,
    H_TAIL1,
    H_HEAD2,
    H_TAIL2,
    H_HAND,  # SIEVE's hand (-1: none, start at the oldest)
    H_HITS,
    H_MISSES,
    H_ADMITTED,
    H_EVICTIONS,
    H_COUNT,  # resident objects
    H_GHOSTS,  # S3-FIFO ghost entries
    H_FREE,  # head of the free-slot list
    H_NFREE,  # free slots
    H_SHIFT,  # 64 - log2(len(table))
    H_TRACK,  # write evicted keys to ev
    H_NEV,  # keys written to ev
    H_SIZE,
) = range(30)

# slots columns
S_KEY, S_SIZE, S_FREQ, S_WHERE, S_NEXT, S_PREV = range(6)
# where an object is: its queue (LRU, FIFO and SIEVE use 1 only)
FREE, SMALL, MAIN, GHOST = range(4)
QUEUE = SMALL  # the one queue of LRU, FIFO and SIEVE

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)

jit = numba.njit(cache=True)
inline = numba.njit(cache=True, inline="always")  # small helpers on the hot path


def new_state(policy: int, capacity: int, limit: int, rows: int = 64):
    """Empty ``(hdr, slots, table, ev)`` for a store of ``policy``."""
    hdr = np.zeros(H_SIZE, dtype=np.int64)
    hdr[H_POLICY] = policy
    hdr[H_CAP] = capacity
    hdr[H_LIMIT] = limit
    hdr[H_HEAD0 : H_TAIL2 + 1] = -1
    hdr[H_HAND] = -1
    hdr[H_FREE] = -1
    if policy == S3FIFO:
        small = int(capacity * 0.1)  # libCacheSim's defaults, in IEEE doubles, truncated
        hdr[H_SCAP] = small
        hdr[H_MCAP] = capacity - small
        hdr[H_GCAP] = int(capacity * 0.9)
        hdr[H_LIMIT] = min(limit, small)
    empty = np.zeros((0, 6), dtype=np.int64)
    return grow(hdr, empty, np.zeros(1, dtype=np.int64), rows)


def grow(hdr, slots, table, rows: int):
    """The state with room for at least ``rows`` slots (new arrays; ``hdr`` in place)."""
    old = len(slots)
    rows = max(rows, 2 * old, 64)
    bigger = np.zeros((rows, 6), dtype=np.int64)
    bigger[:old] = slots
    size = 1 << max(7, (2 * rows - 1).bit_length())
    new_table = np.zeros(size, dtype=np.int64)
    hdr[H_SHIFT] = 64 - (size.bit_length() - 1)
    _rehash(hdr, bigger, new_table, old)
    return hdr, bigger, new_table, np.zeros(rows, dtype=np.int64)


@jit
def _rehash(hdr, slots, table, old):
    """Put the known keys of ``slots[:old]`` in ``table`` and the new rows on the free list."""
    for s in range(old):
        if slots[s, S_WHERE] != FREE:
            _table_put(hdr, slots, table, slots[s, S_KEY], s)
    for s in range(len(slots) - 1, old - 1, -1):
        slots[s, S_WHERE] = FREE
        slots[s, S_NEXT] = hdr[H_FREE]
        hdr[H_FREE] = s
        hdr[H_NFREE] += 1


# -- the hash table --------------------------------------------------------------


@inline
def _home(hdr, k):
    return np.int64((np.uint64(k) * _GOLDEN) >> np.uint64(hdr[H_SHIFT]))


@inline
def _find(hdr, slots, table, k):
    """The slot of ``k``, or -1."""
    mask = len(table) - 1
    i = _home(hdr, k)
    while True:
        v = table[i]
        if v == 0:
            return -1
        if slots[v - 1, S_KEY] == k:
            return v - 1
        i = (i + 1) & mask


@inline
def _table_put(hdr, slots, table, k, s):
    mask = len(table) - 1
    i = _home(hdr, k)
    while table[i] != 0:
        i = (i + 1) & mask
    table[i] = s + 1


@jit
def _table_drop(hdr, slots, table, k):
    """Delete ``k`` (present) by shifting the entries after it back (linear probing)."""
    mask = len(table) - 1
    i = _home(hdr, k)
    while slots[table[i] - 1, S_KEY] != k:
        i = (i + 1) & mask
    j = i
    while True:
        j = (j + 1) & mask
        v = table[j]
        if v == 0:
            break
        h = _home(hdr, slots[v - 1, S_KEY])
        # The entry at j may move to the hole at i unless its home lies in (i, j].
        if (i <= j and (h <= i or h > j)) or (i > j and h <= i and h > j):
            table[i] = v
            i = j
    table[i] = 0


# -- slots and queues ------------------------------------------------------------


@inline
def _take(hdr, slots, table, k, size):
    """A free slot for ``k`` (entered in the table)."""
    s = hdr[H_FREE]
    hdr[H_FREE] = slots[s, S_NEXT]
    hdr[H_NFREE] -= 1
    slots[s, S_KEY] = k
    slots[s, S_SIZE] = size
    slots[s, S_FREQ] = 0
    _table_put(hdr, slots, table, k, s)
    return s


@jit
def _release(hdr, slots, table, s):
    """Forget slot ``s``'s key and free the slot (already unlinked)."""
    _table_drop(hdr, slots, table, slots[s, S_KEY])
    slots[s, S_WHERE] = FREE
    slots[s, S_NEXT] = hdr[H_FREE]
    hdr[H_FREE] = s
    hdr[H_NFREE] += 1


@inline
def _push(hdr, slots, q, s):
    """Append ``s`` to queue ``q`` as its newest entry."""
    t = hdr[H_HEAD0 + 2 * (q - 1) + 1]
    slots[s, S_WHERE] = q
    slots[s, S_PREV] = t
    slots[s, S_NEXT] = -1
    if t >= 0:
        slots[t, S_NEXT] = s
    else:
        hdr[H_HEAD0 + 2 * (q - 1)] = s
    hdr[H_HEAD0 + 2 * (q - 1) + 1] = s


@inline
def _unlink(hdr, slots, s):
    q = slots[s, S_WHERE]
    p = slots[s, S_PREV]
    n = slots[s, S_NEXT]
    if p >= 0:
        slots[p, S_NEXT] = n
    else:
        hdr[H_HEAD0 + 2 * (q - 1)] = n
    if n >= 0:
        slots[n, S_PREV] = p
    else:
        hdr[H_HEAD0 + 2 * (q - 1) + 1] = p


@inline
def _evicted(hdr, slots, ev, s):
    """Count the eviction of resident slot ``s`` (unlinked) and report its key."""
    hdr[H_EVICTIONS] += 1
    hdr[H_COUNT] -= 1
    if hdr[H_TRACK]:
        ev[hdr[H_NEV]] = slots[s, S_KEY]
        hdr[H_NEV] += 1


# -- the policies' steps ---------------------------------------------------------


@inline
def _lookup(hdr, slots, table, k):
    """The slot of ``k`` if it is resident and the hit update done; else -1 if
    the policy does not know ``k``, or -2 - slot for an S3-FIFO ghost entry."""
    s = _find(hdr, slots, table, k)
    if s < 0:
        return -1
    pol = hdr[H_POLICY]
    if pol == S3FIFO:
        if slots[s, S_WHERE] == GHOST:
            return -2 - s
        slots[s, S_FREQ] += 1
    elif pol == LRU:
        _unlink(hdr, slots, s)
        _push(hdr, slots, QUEUE, s)
    elif pol == SIEVE:
        slots[s, S_FREQ] = 1
    return s


@jit
def _evict_slot(hdr, slots, table, ev, s):
    """LRU, FIFO and SIEVE: evict resident slot ``s`` from the queue."""
    _unlink(hdr, slots, s)
    hdr[H_USED] -= slots[s, S_SIZE]
    _evicted(hdr, slots, ev, s)
    _release(hdr, slots, table, s)


@jit
def _evict_sieve(hdr, slots, table, ev):
    """SIEVE: sweep from the hand toward the newest, clearing visited bits."""
    cur = hdr[H_HAND]
    if cur < 0:
        cur = hdr[H_HEAD0]
    while slots[cur, S_FREQ]:
        slots[cur, S_FREQ] = 0
        cur = slots[cur, S_NEXT]
        if cur < 0:
            cur = hdr[H_HEAD0]
    hdr[H_HAND] = slots[cur, S_NEXT]
    _evict_slot(hdr, slots, table, ev, cur)


@jit
def _to_ghost(hdr, slots, table, s):
    """S3-FIFO: remember slot ``s`` (unlinked, just evicted from small) in the ghost."""
    size = slots[s, S_SIZE]
    gcap = hdr[H_GCAP]
    if size > gcap:
        _release(hdr, slots, table, s)
        return
    while hdr[H_GB] + size > gcap:
        o = hdr[H_HEAD0 + 4]
        _unlink(hdr, slots, o)
        hdr[H_GB] -= slots[o, S_SIZE]
        hdr[H_GHOSTS] -= 1
        _release(hdr, slots, table, o)
    hdr[H_GB] += size
    hdr[H_GHOSTS] += 1
    _push(hdr, slots, GHOST, s)


@jit
def _evict_s3fifo(hdr, slots, table, ev):
    """S3-FIFO: one eviction step (EVICTION.md section 5)."""
    hdr[H_WARM] = 1
    if hdr[H_MB] > hdr[H_MCAP] or hdr[H_SB] == 0:
        while True:  # main: reinsert what was hit, drop the first that was not
            s = hdr[H_HEAD0 + 2]
            _unlink(hdr, slots, s)
            f = slots[s, S_FREQ]
            if f >= 1:
                slots[s, S_FREQ] = min(f, 3) - 1
                _push(hdr, slots, MAIN, s)
            else:
                hdr[H_MB] -= slots[s, S_SIZE]
                _evicted(hdr, slots, ev, s)
                _release(hdr, slots, table, s)
                return
    while hdr[H_HEAD0] >= 0:  # small: promote what was hit twice, ghost the first other
        s = hdr[H_HEAD0]
        _unlink(hdr, slots, s)
        size = slots[s, S_SIZE]
        hdr[H_SB] -= size
        if slots[s, S_FREQ] >= 2:
            slots[s, S_FREQ] = 0
            hdr[H_MB] += size
            _push(hdr, slots, MAIN, s)
        else:
            _evicted(hdr, slots, ev, s)
            _to_ghost(hdr, slots, table, s)
            return


@jit
def _miss(hdr, slots, table, ev, k, size, ghost):
    """The miss path for ``k`` (not resident; ``ghost`` its S3-FIFO ghost slot or
    -1): admission, evictions, insertion. Whether it was inserted. Counts what it
    admits and evicts, not the miss."""
    pol = hdr[H_POLICY]
    if pol == S3FIFO:
        s = ghost
        ghost_hit = s >= 0  # a ghost entry is used up even if nothing is admitted
        if ghost_hit:
            _unlink(hdr, slots, s)
            hdr[H_GB] -= slots[s, S_SIZE]
            hdr[H_GHOSTS] -= 1
            _release(hdr, slots, table, s)
        if size > hdr[H_LIMIT]:
            return False
        cap = hdr[H_CAP]
        while hdr[H_SB] + hdr[H_MB] + size > cap:
            _evict_s3fifo(hdr, slots, table, ev)
        hdr[H_USED] = hdr[H_SB] + hdr[H_MB]
        if ghost_hit:
            q = MAIN
            hdr[H_MB] += size
        elif size >= hdr[H_SCAP]:  # only size == small capacity gets here
            return False
        elif hdr[H_WARM] == 0 and hdr[H_SB] >= hdr[H_SCAP]:  # warm-up: overflow to main
            q = MAIN
            hdr[H_MB] += size
        else:
            q = SMALL
            hdr[H_SB] += size
        s = _take(hdr, slots, table, k, size)
        _push(hdr, slots, q, s)
        hdr[H_USED] = hdr[H_SB] + hdr[H_MB]
    else:
        if size > hdr[H_LIMIT]:
            return False
        cap = hdr[H_CAP]
        while hdr[H_USED] + size > cap:
            if pol == SIEVE:
                _evict_sieve(hdr, slots, table, ev)
            else:
                _evict_slot(hdr, slots, table, ev, hdr[H_HEAD0])  # the oldest
        s = _take(hdr, slots, table, k, size)
        _push(hdr, slots, QUEUE, s)
        hdr[H_USED] += size
    hdr[H_ADMITTED] += 1
    hdr[H_COUNT] += 1
    return True


# -- entry points ----------------------------------------------------------------


NEED_ROOM = -2  # request's answer when no slot is free: grow the arrays and call again


@inline
def _request(hdr, slots, table, ev, k, size):
    if hdr[H_NFREE] == 0:
        return NEED_ROOM
    s = _lookup(hdr, slots, table, k)
    if s >= 0:
        hdr[H_HITS] += 1
        return 1
    if size < 0:
        return -1
    hdr[H_MISSES] += 1
    _miss(hdr, slots, table, ev, k, size, -2 - s)
    return 0


@jit
def request(hdr, slots, table, ev, k, size):
    """One libCacheSim step: 1 on a hit, 0 on a miss, -1 for a miss with a
    negative size and ``NEED_ROOM`` when no slot is free (both: nothing done)."""
    return _request(hdr, slots, table, ev, k, size)


@jit
def request_many(hdr, slots, table, ev, keys, sizes, out, start):
    """``request`` over parallel arrays from index ``start``, hit flags into
    ``out``; returns ``(i, answer)``: where it stopped and ``request``'s
    answer there (-1 or ``NEED_ROOM``), or ``(len(keys), 0)`` when done."""
    for i in range(start, len(keys)):
        r = _request(hdr, slots, table, ev, keys[i], sizes[i])
        if r < 0:
            return i, r
        out[i] = r
    return len(keys), 0


@jit
def hit(hdr, slots, table, k):
    """The hit update alone (``lookup``); whether ``k`` is resident. Counts a hit."""
    if _lookup(hdr, slots, table, k) >= 0:
        hdr[H_HITS] += 1
        return True
    return False


@jit
def miss(hdr, slots, table, ev, k, size):
    """The miss path alone (``insert`` after a lookup missed); whether it was inserted."""
    s = _find(hdr, slots, table, k)
    return _miss(hdr, slots, table, ev, k, size, s if hdr[H_POLICY] == S3FIFO else -1)


@jit
def find(hdr, slots, table, k):
    """The slot of resident ``k``, -1 if absent; -2 - slot for an S3-FIFO ghost entry."""
    s = _find(hdr, slots, table, k)
    if s >= 0 and slots[s, S_WHERE] == GHOST:
        return -2 - s
    return s


@jit
def remove(hdr, slots, table, k):
    """Drop resident ``k`` (not an eviction); its size, or -1 if it was not stored."""
    s = _find(hdr, slots, table, k)
    if s < 0 or slots[s, S_WHERE] == GHOST:
        return -1
    size = slots[s, S_SIZE]
    where = slots[s, S_WHERE]
    if hdr[H_POLICY] == SIEVE and hdr[H_HAND] == s:
        hdr[H_HAND] = slots[s, S_NEXT]  # as libCacheSim: the hand moves to the newer one
    _unlink(hdr, slots, s)
    _release(hdr, slots, table, s)
    if where == MAIN:
        hdr[H_MB] -= size
    elif hdr[H_POLICY] == S3FIFO:
        hdr[H_SB] -= size
    hdr[H_USED] -= size
    hdr[H_COUNT] -= 1
    return size


@jit
def queue_keys(hdr, slots, q, start):
    """The keys of queue ``q`` oldest first, from slot ``start`` (-1: the head)
    to the newest, then from the head up to ``start``."""
    out = np.empty(len(slots), dtype=np.int64)
    n = 0
    head = hdr[H_HEAD0 + 2 * (q - 1)]
    s = head if start < 0 else start
    while s >= 0:
        out[n] = slots[s, S_KEY]
        n += 1
        s = slots[s, S_NEXT]
    if start >= 0:
        s = head
        while s != start:
            out[n] = slots[s, S_KEY]
            n += 1
            s = slots[s, S_NEXT]
    return out[:n]


def prepare() -> None:
    """Compile (or load from numba's cache) the simulator's kernels now, on a
    throwaway store, so that a caller can keep the one-off cost out of what it times."""
    hdr, slots, table, ev = new_state(LRU, 10, 10)
    keys = np.zeros(1, dtype=np.int64)
    request_many(hdr, slots, table, ev, keys, keys, np.zeros(1, dtype=np.uint8), 0)
    request(hdr, slots, table, ev, 1, 1)
    remove(hdr, slots, table, 1)
