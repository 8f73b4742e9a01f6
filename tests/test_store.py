"""The edge store's semantics, worked out by hand, and its invariants under random use."""

from __future__ import annotations

import random

import numpy as np
import pytest

from edge.store import (
    ALIASES,
    POLICIES,
    PRESENT,
    FIFOStore,
    LRUStore,
    S3FIFOStore,
    SieveStore,
    Store,
    make_store,
    policy_name,
)

ALL = sorted(POLICIES)


def run(store: Store, *requests: tuple[str, int]) -> list[bool]:
    return [store.request(k, s) for k, s in requests]


def recorder(store: Store) -> list:
    evicted: list = []
    store.on_evict = lambda key, value: evicted.append(key)
    return evicted


# -- the registry and its errors ---------------------------------------------------


def test_registry_names_and_aliases():
    assert set(POLICIES) == {"lru", "fifo", "s3fifo", "sieve"}
    assert isinstance(make_store("lru", 10), LRUStore)
    assert isinstance(make_store("FIFO", 10), FIFOStore)
    assert isinstance(make_store("sieve", 10), SieveStore)
    assert isinstance(make_store("s3-fifo", 100), S3FIFOStore)
    assert isinstance(make_store("S3FIFO", 100), S3FIFOStore)
    assert ALIASES["s3-fifo"] == "s3fifo"
    for name, cls in POLICIES.items():
        assert cls.name == name
        assert policy_name(name) == name


def test_unknown_policy_lists_the_allowed_names():
    with pytest.raises(ValueError) as err:
        make_store("arc", 100)
    msg = str(err.value)
    assert "'arc'" in msg
    for name in POLICIES:
        assert name in msg


@pytest.mark.parametrize("capacity", [0, 1, 9])
def test_s3fifo_rejects_capacities_below_ten_bytes(capacity):
    with pytest.raises(ValueError, match="at least 10 bytes"):
        make_store("s3fifo", capacity)
    assert make_store("s3fifo", 10).capacity == 10


@pytest.mark.parametrize("bad", [-1, 1.5, "100", None, True])
def test_bad_capacity(bad):
    with pytest.raises(ValueError, match="capacity"):
        make_store("lru", bad)


@pytest.mark.parametrize("policy", ALL)
def test_bad_sizes(policy):
    store = make_store(policy, 100)
    with pytest.raises(ValueError, match="size"):
        store.insert("a", -1)
    with pytest.raises(ValueError, match="size"):
        store.insert("a", 1.5)
    with pytest.raises(ValueError, match="non-negative"):
        store.request("a", -5)
    with pytest.raises(ValueError, match="max_object_size"):
        make_store(policy, 100, max_object_size=-3)
    assert store.used == 0 and len(store) == 0
    run(store, *[(i, 5) for i in range(30)])  # full: a negative size must not sneak in
    used, keys = store.used, store.keys()
    with pytest.raises(ValueError, match="non-negative"):
        store.request("neg", -200)
    assert (store.used, store.keys()) == (used, keys)


# -- each policy by hand -------------------------------------------------------------


def test_lru_order():
    store = make_store("lru", 30)
    evicted = recorder(store)
    assert run(store, ("a", 10), ("b", 10), ("c", 10)) == [False, False, False]
    assert store.keys() == ["a", "b", "c"]
    assert store.request("a", 10) is True  # a becomes the most recent
    assert store.keys() == ["b", "c", "a"]
    assert store.request("d", 10) is False
    assert evicted == ["b"]
    assert store.keys() == ["c", "a", "d"]
    # A large object pushes out as many as it needs, least recent first.
    store.request("e", 25)
    assert evicted == ["b", "c", "a", "d"]
    assert store.keys() == ["e"] and store.used == 25
    assert (store.hits, store.misses, store.evictions) == (1, 5, 4)


def test_fifo_ignores_hits():
    store = make_store("fifo", 30)
    evicted = recorder(store)
    run(store, ("a", 10), ("b", 10), ("c", 10))
    assert run(store, ("a", 10), ("a", 10)) == [True, True]
    assert store.keys() == ["a", "b", "c"]
    store.request("d", 10)
    assert evicted == ["a"]  # the oldest insertion, hits notwithstanding
    assert store.keys() == ["b", "c", "d"]


def test_stored_size_is_fixed_at_insertion():
    for policy in ALL:
        store = make_store(policy, 1000)
        store.request("a", 50)
        assert store.request("a", 70) is True
        assert store.size_of("a") == 50 and store.used == 50


def test_sieve_hand():
    store = make_store("sieve", 4)
    evicted = recorder(store)
    run(store, ("a", 1), ("b", 1), ("c", 1), ("d", 1))
    assert run(store, ("a", 1), ("b", 1)) == [True, True]  # visited: a, b
    # The hand starts at the oldest: clears a and b, evicts c, rests on d.
    store.request("e", 1)
    assert evicted == ["c"]
    store.request("a", 1)  # visited again
    store.request("f", 1)  # the hand was on d: unvisited, evicted; hand on e
    assert evicted == ["c", "d"]
    store.request("g", 1)  # e evicted, hand on f
    assert evicted == ["c", "d", "e"]
    store.request("f", 1)  # f visited
    # The hand clears f, steps to the newest (g) and evicts it; being the
    # newest, the hand then restarts from the oldest.
    store.request("h", 1)
    assert evicted == ["c", "d", "e", "g"]
    # From the oldest: a (visited: cleared), then b (unvisited): evicted.
    store.request("i", 1)
    assert evicted == ["c", "d", "e", "g", "b"]
    # keys() starts at the hand (f) and wraps round to the oldest (a).
    assert store.keys() == ["f", "h", "i", "a"]
    assert store.evictions == 5 and store.used == 4


def test_sieve_visited_is_one_bit():
    store = make_store("sieve", 2)
    evicted = recorder(store)
    run(store, ("a", 1), ("b", 1))
    run(store, ("a", 1), ("a", 1), ("a", 1))  # still just one bit
    store.request("c", 1)  # clears a, evicts b
    store.request("d", 1)  # hand restarted at a: unvisited now, evicted
    assert evicted == ["b", "a"]


def test_s3fifo_queues_warmup_and_ghost_promotion():
    store = make_store("s3fifo", 100)  # small 10 bytes, main 90, ghost 90
    evicted = recorder(store)
    run(store, ("a", 5), ("b", 5))
    assert store.queue_of("a") == store.queue_of("b") == "small"
    # Warm-up: before the first eviction, small holding >= 10 bytes sends
    # newcomers to main.
    run(store, *[(f"m{i}", 5) for i in range(18)])
    assert {store.queue_of(f"m{i}") for i in range(18)} == {"main"}
    assert (store.small_bytes, store.main_bytes, store.used) == (10, 90, 100)
    # The cache is full: x forces a small step; a (never hit) goes to the ghost.
    store.request("x", 5)
    assert evicted == ["a"]
    assert store.queue_of("a") == "ghost" and store.in_ghost("a")
    assert store.queue_of("x") == "small"
    # A miss that finds a ghost entry goes straight to main.
    assert store.request("a", 5) is False
    assert store.queue_of("a") == "main" and not store.in_ghost("a")
    assert evicted == ["a", "b"]  # b was small's oldest, never hit
    assert store.used == 100 and store.ghost_bytes == 5  # only b is remembered


def test_s3fifo_promotes_objects_hit_twice_in_small():
    store = make_store("s3fifo", 100)
    run(store, ("a", 5), ("b", 5), *[(f"m{i}", 5) for i in range(18)])
    store.request("x", 5)  # a to the ghost; small = [b, x]
    assert run(store, ("b", 5), ("b", 5)) == [True, True]  # b's freq is 2
    evicted = recorder(store)
    store.request("y", 5)  # small step: b promoted to main, then x ghosted
    assert store.queue_of("b") == "main"
    assert evicted == ["x"] and store.queue_of("x") == "ghost"
    assert store.main_bytes == 95 and store.small_bytes == 5


def test_s3fifo_admission():
    store = make_store("s3fifo", 100)
    store.request("big", 11)  # larger than the small queue: never cached
    assert "big" not in store and store.used == 0
    store.request("edge", 10)  # equal to the small queue: not inserted either
    assert "edge" not in store
    assert store.misses == 2 and store.evictions == 0


@pytest.mark.parametrize("policy", ALL)
def test_oversize_objects_are_not_admitted_and_evict_nothing(policy):
    store = make_store(policy, 1000)
    evicted = recorder(store)
    run(store, ("a", 60), ("b", 40))
    assert store.request("huge", 1001) is False
    assert store.insert("huge", 5000) is False
    assert "huge" not in store and evicted == [] and store.used == 100
    capped = make_store(policy, 1000, max_object_size=50)
    assert capped.insert("ok", 50) is True
    assert capped.insert("big", 51) is False
    assert capped.request("big2", 60) is False
    assert capped.keys() == ["ok"] and capped.used == 50


@pytest.mark.parametrize("policy", ALL)
def test_fills_exactly_to_capacity(policy):
    store = make_store(policy, 100)
    evicted = recorder(store)
    run(store, *[(i, 5) for i in range(20)])  # 5: below S3-FIFO's small queue
    assert store.used == 100 and evicted == []


# -- values, lookup and peek ---------------------------------------------------------


@pytest.mark.parametrize("policy", ALL)
def test_values_lookup_peek(policy):
    store = make_store(policy, 1000)
    assert store.lookup("a") is None
    assert store.insert("a", 10, value={"body": b"x"}) is True
    assert store.insert("b", 10) is True
    assert store.lookup("a") == {"body": b"x"}
    assert store.lookup("b") is PRESENT  # a stored key never looks like a miss
    assert store.peek("b") is PRESENT and store.peek("zz") is None
    assert (store.hits, store.misses) == (2, 1)
    assert store.peek("a") == {"body": b"x"}
    assert (store.hits, store.misses) == (2, 1)  # peek counts nothing
    assert "a" in store and "zz" not in store and len(store) == 2
    assert set(store) == {"a", "b"}


def test_peek_does_not_update_lru_order():
    store = make_store("lru", 30)
    run(store, ("a", 10), ("b", 10), ("c", 10))
    store.peek("a")
    assert store.keys() == ["a", "b", "c"]
    store.lookup("a")
    assert store.keys() == ["b", "c", "a"]


@pytest.mark.parametrize("policy", ALL)
def test_replace_and_remove_keep_used_exact(policy):
    store = make_store(policy, 1000)
    store.insert("a", 100, value=1)
    store.insert("a", 30, value=2)  # replaced: remove, then insert
    assert store.size_of("a") == 30 and store.used == 30 and store.peek("a") == 2
    assert store.remove("a") is True and store.remove("a") is False
    assert store.used == 0 and len(store) == 0 and store.peek("a") is None
    assert store.evictions == 0  # removal is not eviction


@pytest.mark.parametrize("policy", ALL)
def test_on_evict_may_remove_other_keys(policy):
    """The edge drops a variant's siblings from inside the callback."""
    store = make_store(policy, 100)
    seen = []

    def drop_sibling(key, value):
        seen.append((key, value))
        sibling = value[1]
        if sibling is not None:
            store.remove(sibling)

    store.on_evict = drop_sibling
    for i in range(80):
        store.insert(f"k{i}", 5, value=(f"k{i}", f"k{i - 1}" if i % 2 else None))
        assert store.used == sum(store.size_of(k) for k in store) <= 100
    assert seen and all(value[0] == key for key, value in seen)


# -- randomized equivalences and invariants ---------------------------------------------


def random_trace(seed: int, n: int, n_keys: int, max_size: int) -> list[tuple[int, int]]:
    rng = random.Random(seed)
    weights = [1 / (i + 1) for i in range(n_keys)]
    keys = rng.choices(range(n_keys), weights=weights, k=n)
    return [(k, rng.randint(1, max_size)) for k in keys]


def state(store: Store) -> tuple:
    """Everything that decides future behaviour, for comparing two stores."""
    common = (
        store.keys(),
        [store.size_of(k) for k in store],
        store.used,
        store.hits,
        store.misses,
        store.evictions,
    )
    return (*common, *store._policy_state())


@pytest.mark.parametrize("policy", ALL)
def test_lookup_then_insert_equals_request(policy):
    for seed, capacity in ((1, 200), (2, 57), (3, 1000)):
        one = make_store(policy, capacity)
        two = make_store(policy, capacity)
        hits = 0
        for k, s in random_trace(seed, 3000, 80, 40):
            hit = one.request(k, s)
            if two.lookup(k) is None:
                assert not hit
                two.insert(k, s)
            else:
                assert hit
                hits += 1
            assert state(one) == state(two)
        assert one.hits == hits > 100


@pytest.mark.parametrize("policy", ALL)
def test_callbacks_and_values_do_not_change_decisions(policy):
    """With values stored and on_evict set (evictions reported), the same decisions."""
    trace = random_trace(4, 5000, 120, 50)
    fast = make_store(policy, 300)
    slow = make_store(policy, 300)
    evicted: list = []
    slow.on_evict = lambda key, value: evicted.append((key, value))
    for k, s in trace:
        before = set(slow.keys())
        hit_fast = fast.request(k, s)
        if slow.lookup(k) is None:
            slow.insert(k, s, value=("v", k))
            hit_slow = False
        else:
            hit_slow = True
        assert hit_fast == hit_slow
        gone = before - set(slow.keys())
        # on_evict saw exactly the keys that left, with their values.
        step = evicted[len(evicted) - len(gone) :] if gone else []
        assert {key for key, _ in step} == gone
        assert all(value == ("v", key) for key, value in step)
    assert state(fast) == state(slow)
    assert len(evicted) == slow.evictions > 100


@pytest.mark.parametrize("policy", ALL)
def test_randomized_invariants(policy):
    rng = random.Random(7)
    for case in range(20):
        capacity = rng.choice([10, 11, 37, 100, 500])
        cap_obj = rng.choice([None, None, capacity // 3])
        store = make_store(policy, capacity, max_object_size=cap_obj)
        evicted: list = []

        def on_evict(key, value, evicted=evicted, store=store):
            assert key not in store  # gone before the callback runs
            evicted.append(key)

        store.on_evict = on_evict
        counted = 0  # requests (one by one and in batches) and lookups
        for _ in range(600):
            k = rng.randrange(30)
            s = rng.randint(0, capacity // 4 + 1)
            op = rng.random()
            if op < 0.45:
                store.request(k, s)
                counted += 1
            elif op < 0.6:
                n = rng.randint(0, 4)
                keys = [k] + [rng.randrange(30) for _ in range(n)]
                sizes = [s] + [rng.randint(0, capacity // 4 + 1) for _ in range(n)]
                store.request_many(keys, sizes)
                counted += n + 1
            elif op < 0.75:
                store.lookup(k)
                counted += 1
            elif op < 0.9:
                store.insert(k, s, value=None if op < 0.8 else k)
            else:
                store.remove(k)
            assert store.used == sum(store.size_of(x) for x in store) <= capacity
            assert len(store) == len(store.keys()) == len(set(store.keys()))
            assert set(store._values) <= set(store.keys())  # no value outlives its key
            if cap_obj is not None:
                assert all(store.size_of(x) <= cap_obj for x in store)
            if isinstance(store, S3FIFOStore):
                assert store.small_bytes + store.main_bytes == store.used
                assert store.ghost_bytes <= int(capacity * 0.9)
            assert store.hits + store.misses == counted, case
        assert store.evictions == len(evicted)  # each eviction called back once


def test_lru_and_fifo_match_a_naive_reference():
    """Independent list-based LRU and FIFO on a random trace with changing sizes."""
    for policy in ("lru", "fifo"):
        for seed in range(5):
            capacity = 150
            store = make_store(policy, capacity)
            order: list = []
            size: dict = {}
            for k, s in random_trace(seed, 2000, 60, 40):
                expect_hit = k in size
                if expect_hit:
                    if policy == "lru":
                        order.remove(k)
                        order.append(k)
                elif s <= capacity:
                    while sum(size.values()) + s > capacity:
                        del size[order.pop(0)]
                    order.append(k)
                    size[k] = s
                assert store.request(k, s) == expect_hit
                assert store.keys() == order


@pytest.mark.parametrize("policy", ALL)
def test_values_without_callback_leave_with_their_keys(policy):
    store = make_store(policy, 100)
    for i in range(200):
        store.insert(i, 5, value=f"v{i}" if i % 3 == 0 else None)
        store.request(i // 2, 5)
        assert set(store._values) <= set(store)
        assert all(store.peek(k) == f"v{k}" for k in store._values)
    assert store.evictions > 100


@pytest.mark.parametrize("policy", ALL)
def test_switching_the_callback_on_and_off_keeps_decisions(policy):
    """on_evict on, off and on again: the same hits as a store that never had one."""
    plain = make_store(policy, 200, max_object_size=60)
    watched = make_store(policy, 200, max_object_size=60)
    evicted: list = []
    for i, (k, s) in enumerate(random_trace(9, 3000, 70, 70)):
        if i % 500 == 0:
            watched.on_evict = None if (i // 500) % 2 else (lambda k, v: evicted.append(k))
        assert watched.request(k, s) == plain.request(k, s)
        assert state(watched) == state(plain)
    with pytest.raises(ValueError, match="non-negative"):
        watched.request("neg", -1)
    assert watched.request("big", 61) is False and "big" not in watched
    assert evicted  # the callback saw evictions while it was set


# -- request_many: the batch form of request ------------------------------------------


def batched(store: Store, trace: list[tuple[int, int]], chunks: list[int]) -> list[bool]:
    """``trace`` through ``request_many`` in chunks of the given sizes (cycled)."""
    flags: list[bool] = []
    pos = i = 0
    while pos < len(trace):
        part = trace[pos : pos + chunks[i % len(chunks)]]
        out = store.request_many([k for k, _ in part], [s for _, s in part])
        assert isinstance(out, bytearray) and len(out) == len(part)
        assert set(out) <= {0, 1}
        flags += [bool(b) for b in out]
        pos += len(part)
        i += 1
    return flags


@pytest.mark.parametrize("policy", ALL)
def test_request_many_equals_request_one_by_one(policy):
    for seed, capacity, cap_obj in ((11, 200, None), (12, 57, None), (13, 1000, 120), (14, 30, 9)):
        trace = random_trace(seed, 4000, 90, 45)
        one = make_store(policy, capacity, max_object_size=cap_obj)
        many = make_store(policy, capacity, max_object_size=cap_obj)
        expected = [one.request(k, s) for k, s in trace]
        assert batched(many, trace, [1, 0, 7, 250, 3, 1000]) == expected
        assert state(many) == state(one)
        assert many.hits == sum(expected) > 100


@pytest.mark.parametrize("policy", ALL)
def test_request_many_inputs(policy):
    np = pytest.importorskip("numpy")
    store = make_store(policy, 1000)
    assert store.request_many([], []) == bytearray()
    out = store.request_many(np.array([1, 2, 1, 3], dtype=np.int64), np.array([5, 5, 5, 5]))
    assert np.frombuffer(out, dtype=np.bool_).tolist() == [False, False, True, False]
    assert all(type(k) is int for k in store)  # numpy scalars are not stored
    assert store.request_many((k for k in (2, 4)), (5, 5)) == bytearray([1, 0])
    with pytest.raises(ValueError, match="2 keys and 3 sizes"):
        store.request_many([1, 2], [5, 5, 5])
    assert (store.hits, store.misses, len(store)) == (2, 4, 4)


@pytest.mark.parametrize("policy", ALL)
def test_request_many_stops_at_a_negative_size(policy):
    """A bad item raises; the store is left as the calls before it left it."""
    trace = random_trace(21, 300, 40, 30)
    bad = 170
    one = make_store(policy, 120)
    many = make_store(policy, 120)
    for k, s in trace[:bad]:
        one.request(k, s)
    keys = [k for k, _ in trace]
    sizes = [s for _, s in trace]
    keys[bad], sizes[bad] = "new", -4
    with pytest.raises(ValueError, match="non-negative"):
        many.request_many(keys, sizes)
    assert state(many) == state(one)
    # A bad size for a stored key is a hit: the stored size counts, not the request's.
    k0 = one.keys()[0]
    assert many.request_many([k0], [-1]) == bytearray([1])
    # A key that cannot be a key stops the batch too, and is not counted.
    hits = many.hits
    with pytest.raises(TypeError):
        many.request_many([k0, ["unhashable"], k0], [1, 1, 1])
    assert many.hits == hits + 1


@pytest.mark.parametrize("policy", ALL)
def test_request_many_with_values_and_callbacks(policy):
    """With values stored and on_evict set (batches go one by one): the same decisions
    and callbacks."""
    trace = random_trace(31, 3000, 100, 50)
    stores = [make_store(policy, 300, max_object_size=80) for _ in range(2)]
    seen: list[list] = [[], []]
    for store, log in zip(stores, seen, strict=True):
        store.insert("v", 10, value="value")
        store.on_evict = lambda key, value, log=log: log.append((key, value))
    one, many = stores
    expected = [one.request(k, s) for k, s in trace]
    assert batched(many, trace, [500, 1, 64]) == expected
    assert seen[0] == seen[1] and len(seen[0]) > 100
    assert ("v", "value") in seen[0]
    assert state(one) == state(many)


# -- removal against naive references written from EVICTION.md ------------------------


class NaiveSieve:
    """SIEVE as EVICTION.md section 4 words it, on a Python list, with removal
    as libCacheSim does it (removing the hand's object moves the hand on)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.order: list = []  # oldest first
        self.size: dict = {}
        self.visited: dict = {}
        self.hand = None  # a key, or None: start from the oldest

    def request(self, k, s) -> bool:
        if k in self.size:
            self.visited[k] = True
            return True
        if s > self.capacity:
            return False
        while sum(self.size.values()) + s > self.capacity:
            i = self.order.index(self.hand) if self.hand is not None else 0
            while self.visited[self.order[i]]:
                self.visited[self.order[i]] = False
                i = (i + 1) % len(self.order)
            self.hand = self.order[i + 1] if i + 1 < len(self.order) else None
            self._unlink(self.order[i])
        self.order.append(k)
        self.size[k] = s
        self.visited[k] = False
        return False

    def remove(self, k) -> None:
        if k in self.size:
            if self.hand == k:
                i = self.order.index(k)
                self.hand = self.order[i + 1] if i + 1 < len(self.order) else None
            self._unlink(k)

    def _unlink(self, k) -> None:
        self.order.remove(k)
        del self.size[k], self.visited[k]

    def newest(self):
        return self.order[-1]

    def eviction_order(self) -> list:
        i = self.order.index(self.hand) if self.hand is not None else 0
        return self.order[i:] + self.order[:i]


class NaiveS3FIFO:
    """S3-FIFO as EVICTION.md section 5 words it, on Python lists; removal
    takes the object out of its queue."""

    def __init__(self, capacity: int) -> None:
        self.C = capacity
        self.S = int(capacity * 0.1)
        self.M = capacity - self.S
        self.G = int(capacity * 0.9)
        self.small: list = []
        self.main: list = []
        self.ghost: list = []  # (key, size), oldest first
        self.size: dict = {}
        self.freq: dict = {}
        self.warmed = False

    def bytes(self, q: list) -> int:
        return sum(self.size[k] for k in q)

    def request(self, k, s) -> bool:
        if k in self.size:
            self.freq[k] += 1
            return True
        ghost_hit = any(g == k for g, _ in self.ghost)
        self.ghost = [(g, gs) for g, gs in self.ghost if g != k]
        if s > self.S:
            return False
        while self.bytes(self.small) + self.bytes(self.main) + s > self.C:
            self.warmed = True
            if self.bytes(self.main) > self.M or self.bytes(self.small) == 0:
                while True:
                    x = self.main.pop(0)
                    if self.freq[x] >= 1:
                        self.main.append(x)
                        self.freq[x] = min(self.freq[x], 3) - 1
                    else:
                        self._drop(x)
                        break
            else:
                while self.small:
                    x = self.small.pop(0)
                    if self.freq[x] >= 2:
                        self.main.append(x)
                        self.freq[x] = 0
                    else:
                        xs = self.size[x]
                        self._drop(x)
                        if xs <= self.G:
                            while sum(gs for _, gs in self.ghost) + xs > self.G:
                                self.ghost.pop(0)
                            self.ghost.append((x, xs))
                        break
        if ghost_hit:
            self.main.append(k)
        elif s >= self.S:
            return False
        elif not self.warmed and self.bytes(self.small) >= self.S:
            self.main.append(k)
        else:
            self.small.append(k)
        self.size[k] = s
        self.freq[k] = 0
        return False

    def _drop(self, k) -> None:
        del self.size[k], self.freq[k]

    def remove(self, k) -> None:
        if k in self.size:
            (self.small if k in self.small else self.main).remove(k)
            self._drop(k)

    def newest(self):
        return (self.small + self.main)[-1]

    def eviction_order(self) -> list:
        return self.small + self.main


@pytest.mark.parametrize("naive", [NaiveSieve, NaiveS3FIFO])
def test_removal_matches_a_naive_reference(naive):
    """Removes (unlinked from the middle of a queue) interleaved with requests, one by one and in
    batches: the same answers, order and sizes as the plain list version."""
    policy = "sieve" if naive is NaiveSieve else "s3fifo"
    rng = random.Random(41)
    for case in range(40):
        capacity = rng.choice([10, 20, 37, 100, 300])
        store, ref = make_store(policy, capacity), naive(capacity)
        n_keys = rng.choice([5, 20, 60])
        batch: list[tuple[int, int, bool]] = []  # (key, size, expected) not yet sent

        def flush(store=store, batch=batch) -> None:
            if batch:
                keys, sizes, expected = zip(*batch, strict=True)
                assert store.request_many(keys, sizes) == bytearray(expected)
                batch.clear()

        for step in range(500):
            k = rng.randrange(n_keys)
            if rng.random() < 0.15:
                flush()
                if ref.size and rng.random() < 0.4:
                    k = ref.newest()  # often where the SIEVE hand rests
                store.remove(k)
                ref.remove(k)
            else:
                s = rng.randint(1, max(1, capacity // 6))
                expected = ref.request(k, s)
                if rng.random() < 0.5:
                    batch.append((k, s, expected))
                    continue
                flush()
                assert store.request(k, s) == expected, (case, step)
            order = ref.eviction_order()
            assert store.keys() == order, (case, step)
            assert [store.size_of(x) for x in order] == [ref.size[x] for x in order]
        flush()
        assert store.used == sum(ref.size.values()) <= capacity


# -- keys of any kind, and the kernels' arrays ----------------------------------------


@pytest.mark.parametrize("policy", ALL)
def test_int_keys_are_one_key_whatever_their_type(policy):
    """A Python int, a numpy integer and True are one key, as in a dict."""
    store = make_store(policy, 1000)
    assert store.request(7, 10) is False
    assert store.request(np.int64(7), 10) is True
    assert store.request_many(np.array([7], dtype=np.int32), np.array([10])) == bytearray([1])
    assert store.request(True, 10) is False and store.request(1, 10) is True
    assert store.size_of(np.uint8(7)) == 10 and len(store) == 2


@pytest.mark.parametrize("policy", ALL)
def test_mapped_keys_are_forgotten_with_their_objects(policy):
    """Keys that are not small ints get ids; the table of ids stays about the
    size of what the policy knows, however many keys went through."""
    store = make_store(policy, 1000)
    for i in range(20_000):
        store.request(f"/object/{i % 5_000}", 10)
        store.request((i, "variant"), 10)
        store.request(-i - 1, 10)  # negative ints are mapped too
    known = len(store) + (len(store._policy_state()[1]) if policy == "s3fifo" else 0)
    assert 50 <= len(store) <= 100 and store.used == 10 * len(store)
    assert len(store._ids) <= 2 * known + 64
    assert all(store.size_of(k) == 10 for k in store)


@pytest.mark.parametrize("policy", ALL)
def test_the_arrays_grow_and_stay_consistent(policy):
    """Far more objects than the first arrays hold, with removals in between:
    every stored key is found, every removed one is gone."""
    rng = random.Random(5)
    store = make_store(policy, 10**9)
    stored: set[int] = set()
    for i in range(20_000):
        # random keys, and keys in long arithmetic runs (clusters in a hash table)
        k = rng.randrange(1 << 40) if i % 2 else (i % 5_000) << rng.choice((0, 20, 32))
        assert store.request(k, 1) == (k in stored)  # nothing is evicted: hit iff stored
        stored.add(k)
        if i % 3 == 0:
            gone = rng.choice(sorted(stored)) if i % 300 == 0 else k
            assert store.remove(gone)
            stored.discard(gone)
    assert len(store) == len(stored) and store.used == len(stored)
    assert set(store.keys()) == stored and all(k in store for k in stored)
