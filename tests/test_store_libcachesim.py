"""The edge store's eviction policies give libCacheSim's hit counts exactly.

The trace is the one shared/EVICTION.md describes (Zipf 0.9 over 100,000
objects, log-normal sizes), generated here with numpy and checked against the
recipe's self-check pairs and the oracleGeneral file's sha256. Each policy is
compared, at 1 %, 5 % and 10 % of the working set, with the reference
simulator libcachesim run in the same test on the same (key, size) sequence:
its C trace loop for 200,000 requests, and its per-request ``get`` for the
first 20,000, request by request. The 20k reference numbers of EVICTION.md are
asserted as a check independent of the installed libcachesim.
"""

from __future__ import annotations

import hashlib
import itertools

import libcachesim as lcs  # a declared test dependency: fail loudly if it is missing
import numpy as np
import pytest

from edge.store import make_store
from tests.test_store import state

N_OBJ = 100_000
N_REQ = 200_000
FRACTIONS = (0.01, 0.05, 0.10)
POLICIES = {"lru": "LRU", "fifo": "FIFO", "s3fifo": "S3FIFO", "sieve": "Sieve"}

# EVICTION.md section 6: the 20k trace, object hits and hit bytes.
REFERENCE_20K = {
    0.01: {
        "lru": (3206, 126_653_592),
        "fifo": (2761, 110_692_761),
        "s3fifo": (5621, 243_889_494),
        "sieve": (4528, 201_367_362),
    },
    0.05: {
        "lru": (5663, 261_651_471),
        "fifo": (5029, 230_217_362),
        "s3fifo": (7288, 349_215_733),
        "sieve": (7011, 328_968_249),
    },
    0.10: {
        "lru": (6810, 326_490_387),
        "fifo": (6127, 289_555_003),
        "s3fifo": (7880, 390_865_992),
        "sieve": (7742, 383_974_856),
    },
}
REFERENCE_20K_CAPACITY = {0.01: 6_167_141, 0.05: 30_835_705, 0.10: 61_671_410}

ORACLE_GENERAL = np.dtype(
    [("clock_time", "<u4"), ("obj_id", "<u8"), ("obj_size", "<u4"), ("next_access_vtime", "<i8")]
)


def eviction_md_trace(n_req: int) -> tuple[np.ndarray, np.ndarray]:
    """(keys, sizes) by the recipe of EVICTION.md section 6."""
    ranks = np.arange(1, N_OBJ + 1, dtype=np.float64)
    cdf = np.cumsum(ranks**-0.9)
    cdf /= cdf[-1]
    u = np.random.default_rng(1).random(n_req)
    idx = np.minimum(np.searchsorted(cdf, u, side="right"), N_OBJ - 1)
    raw = np.random.default_rng(2).lognormal(mean=np.log(20000), sigma=1.5, size=N_OBJ)
    per_obj = np.clip(np.rint(raw), 100, 10_000_000).astype(np.uint32)
    return (idx + 1).astype(np.uint64), per_obj[idx]


def oracle_general(keys: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """The libCacheSim oracleGeneral records: clock from 1, next access index or -1."""
    n = len(keys)
    rec = np.zeros(n, dtype=ORACLE_GENERAL)
    rec["clock_time"] = np.arange(1, n + 1)
    rec["obj_id"] = keys
    rec["obj_size"] = sizes
    nxt = np.full(n, -1, dtype=np.int64)
    order = np.lexsort((np.arange(n), keys))
    same = keys[order[1:]] == keys[order[:-1]]
    nxt[order[:-1][same]] = order[1:][same]
    rec["next_access_vtime"] = nxt
    return rec


def working_set_bytes(keys: list[int], sizes: list[int]) -> int:
    return sum(dict(zip(keys, sizes, strict=True)).values())


def replay(policy: str, capacity: int, keys: list[int], sizes: list[int]) -> tuple[int, int]:
    """Our object hits and hit bytes (counted with the request's size)."""
    store = make_store(policy, capacity)
    request = store.request
    hit_bytes = 0
    for k, s in zip(keys, sizes, strict=True):
        if request(k, s):
            hit_bytes += s
    assert store.hits + store.misses == len(keys)
    assert store.used <= capacity
    return store.hits, hit_bytes


@pytest.fixture(scope="module")
def trace():
    keys, sizes = eviction_md_trace(N_REQ)
    return keys, sizes, keys.tolist(), sizes.tolist()


def test_trace_follows_the_recipe(trace):
    keys, sizes, klist, slist = trace
    assert list(zip(klist[:6], slist[:6], strict=True)) == [
        (1508, 17980),
        (70200, 3080),
        (10, 8715),
        (69279, 445),
        (137, 449670),
        (559, 7152),
    ]
    # The 20k trace is the prefix; its published shape and sizes.
    k20, s20 = klist[:20_000], slist[:20_000]
    assert len(set(k20)) == 9_890
    assert working_set_bytes(k20, s20) == 616_714_100
    assert sum(s20) == 1_143_339_256
    for frac, cap in REFERENCE_20K_CAPACITY.items():
        assert int(frac * 616_714_100) == cap


@pytest.fixture(scope="module")
def trace_2m():
    return eviction_md_trace(2_000_000)


@pytest.mark.timeout(120)
def test_oracle_general_layout_matches_the_published_hash(trace_2m):
    """Our oracleGeneral writer reproduces EVICTION.md's sha256 for the 2M trace."""
    keys, sizes = trace_2m
    digest = hashlib.sha256(oracle_general(keys, sizes).tobytes()).hexdigest()
    assert digest == "d1b87ee3e6fb864668c1e3b0753838f75469fb83ac18ff3bb72ff927f036ba3e"


# EVICTION.md section 6: the 2M trace at 1 % of its working set (the most evictions).
REFERENCE_2M_1PCT = {
    "lru": (682_018, 34_379_299_643),
    "fifo": (611_235, 30_467_004_067),
    "s3fifo": (900_095, 47_826_034_569),
    "sieve": (891_703, 46_792_954_532),
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("policy", list(POLICIES))
def test_reference_numbers_2m_at_1pct(trace_2m, policy):
    keys, sizes = (a.tolist() for a in trace_2m)
    wss = working_set_bytes(keys, sizes)
    assert wss == 6_039_031_270
    assert replay(policy, int(0.01 * wss), keys, sizes) == REFERENCE_2M_1PCT[policy]


@pytest.mark.parametrize("frac", FRACTIONS)
@pytest.mark.parametrize("policy", list(POLICIES))
def test_reference_numbers_20k(trace, policy, frac):
    _, _, klist, slist = trace
    k20, s20 = klist[:20_000], slist[:20_000]
    capacity = int(frac * working_set_bytes(k20, s20))
    assert capacity == REFERENCE_20K_CAPACITY[frac]
    assert replay(policy, capacity, k20, s20) == REFERENCE_20K[frac][policy]


@pytest.fixture(scope="module")
def libcachesim_results(trace, tmp_path_factory):
    """libcachesim's C trace loop on the 200k trace: {(policy, frac): (hits, hit_bytes)}."""
    keys, sizes, klist, slist = trace
    path = tmp_path_factory.mktemp("trace") / "zipf.oracleGeneral"
    oracle_general(keys, sizes).tofile(path)
    n = len(keys)
    req_bytes = int(sizes.sum(dtype=np.int64))
    wss = working_set_bytes(klist, slist)
    out = {}
    for policy, cls_name in POLICIES.items():
        for frac in FRACTIONS:
            reader = lcs.TraceReader(str(path), lcs.TraceType.ORACLE_GENERAL_TRACE)
            cache = getattr(lcs, cls_name)(int(frac * wss), hashpower=18)
            omr, bmr = cache.process_trace(reader)
            out[policy, frac] = (n - round(omr * n), req_bytes - round(bmr * req_bytes))
    return out


@pytest.mark.parametrize("frac", FRACTIONS)
@pytest.mark.parametrize("policy", list(POLICIES))
def test_hits_equal_libcachesim_200k(trace, libcachesim_results, policy, frac):
    _, _, klist, slist = trace
    capacity = int(frac * working_set_bytes(klist, slist))
    ours = replay(policy, capacity, klist, slist)
    assert ours == libcachesim_results[policy, frac]
    assert ours[0] > N_REQ // 5  # a meaningful cache, not an empty one


@pytest.mark.parametrize("frac", FRACTIONS)
@pytest.mark.parametrize("policy", list(POLICIES))
def test_request_many_equals_request_and_libcachesim_200k(trace, libcachesim_results, policy, frac):
    """The batch API, in chunks of uneven sizes (as the simulator sends them):
    the same answers and final state as the calls one by one, and
    libcachesim's hits and hit bytes."""
    _, _, klist, slist = trace
    capacity = int(frac * working_set_bytes(klist, slist))
    one, many = make_store(policy, capacity), make_store(policy, capacity)
    expected = bytearray(map(one.request, klist, slist))
    flags = bytearray()
    pos = 0
    for i, chunk in enumerate(itertools.cycle((1, 0, 4_999, 20_000, 37, 70_000))):
        if pos >= N_REQ:
            break
        flags += many.request_many(klist[pos : pos + chunk], slist[pos : pos + chunk])
        pos += chunk
        if i == 3:  # numpy arrays are accepted too
            flags += many.request_many(trace[0][pos : pos + 999], trace[1][pos : pos + 999])
            pos += 999
    assert flags == expected
    assert state(many) == state(one)
    hit_bytes = sum(itertools.compress(slist, flags))
    assert (many.hits, hit_bytes) == libcachesim_results[policy, frac]


@pytest.mark.parametrize("policy", list(POLICIES))
def test_every_request_agrees_with_libcachesim_get(trace, policy):
    """Request by request, hit or miss, on the 20k prefix at 1 %."""
    _, _, klist, slist = trace
    k20, s20 = klist[:20_000], slist[:20_000]
    capacity = REFERENCE_20K_CAPACITY[0.01]
    theirs = getattr(lcs, POLICIES[policy])(capacity, hashpower=16)
    ours = make_store(policy, capacity)
    for i, (k, s) in enumerate(zip(k20, s20, strict=True)):
        expected = theirs.get(lcs.Request(obj_size=s, obj_id=k))
        assert ours.request(k, s) == expected, f"request {i} ({k}, {s})"
    assert ours.used == theirs.get_occupied_byte()
    assert len(ours) == theirs.get_n_obj()


@pytest.mark.parametrize("policy", list(POLICIES))
def test_lookup_insert_and_callbacks_agree_with_libcachesim(trace, policy):
    """The edge's split path (lookup, then insert with a value, with on_evict set)
    makes the same decisions as libcachesim, at a capacity that keeps it busy."""
    _, _, klist, slist = trace
    k20, s20 = klist[:20_000], slist[:20_000]
    capacity = 2_000_000
    theirs = getattr(lcs, POLICIES[policy])(capacity, hashpower=16)
    ours = make_store(policy, capacity)
    evicted = []
    ours.on_evict = lambda key, value: evicted.append((key, value))
    hits = 0
    for k, s in zip(k20, s20, strict=True):
        expected = theirs.get(lcs.Request(obj_size=s, obj_id=k))
        value = ours.lookup(k)
        assert (value is not None) == expected
        if value is None:
            ours.insert(k, s, value=("body", k))
        else:
            assert value == ("body", k)
            hits += 1
    assert hits == ours.hits
    assert ours.used == theirs.get_occupied_byte()
    assert len(evicted) == ours.evictions > 1000
    assert all(v == ("body", k) for k, v in evicted)


@pytest.mark.parametrize("policy", list(POLICIES))
def test_randomized_small_caches_agree_with_libcachesim(policy):
    """Tiny caches, unit sizes, sizes landing on S3-FIFO's small-queue capacity,
    sizes that change for the same key, Zipf from uniform to steep."""
    rng = np.random.default_rng(12345)
    for case in range(60):
        n_keys = int(rng.integers(2, 60))
        alpha = float(rng.choice([0.0, 0.6, 1.0, 1.2]))
        capacity = int(rng.choice([10, 11, 19, 20, 37, 100, 1000]))
        small = int(capacity * 0.1)
        size_mode = case % 3
        weights = np.arange(1, n_keys + 1, dtype=np.float64) ** -alpha
        keys = rng.choice(n_keys, size=400, p=weights / weights.sum()) + 1
        if size_mode == 0:  # unit sizes
            sizes = np.ones(400, dtype=np.int64)
        elif size_mode == 1:  # around the small queue's capacity, fixed per key
            per_key = rng.integers(1, small + 2, size=n_keys + 1)
            sizes = per_key[keys]
        else:  # a new size on every request
            sizes = rng.integers(1, max(2, capacity // 3), size=400)
        theirs = getattr(lcs, POLICIES[policy])(capacity, hashpower=16)
        ours = make_store(policy, capacity)
        for i, (k, s) in enumerate(zip(keys.tolist(), sizes.tolist(), strict=True)):
            expected = theirs.get(lcs.Request(obj_size=s, obj_id=k))
            assert ours.request(k, s) == expected, (case, i, k, s, capacity)
        assert ours.used == theirs.get_occupied_byte(), case
        assert len(ours) == theirs.get_n_obj(), case
