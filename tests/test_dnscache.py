"""DnsModel: the vectorised fast path gives exactly what the per-request loop gives.

The reference below is the original one-request-at-a-time model (dicts and
tuples), kept here independent of cdn.dnscache. Every workload runs through the
reference, through DnsModel (fast path whenever no edge is down) and through
DnsModel(fast=False) (the general loop), with the same batch splits and events;
each batch's Resolution, the caches afterwards, the query count and the exact
sequence of route() calls must match.
"""

from __future__ import annotations

import numpy as np
import pytest

from cdn.dnscache import NEVER, DnsModel


class ReferenceDns:
    """The model as one plain loop (the behaviour DnsModel must keep)."""

    def __init__(self, *, n_places, n_groups, hosts, route, pg_resolver, pg_location, pg_ttl,
                 pg_dns_ms, client_ttl, connect_timeout, n_edges):  # fmt: skip
        self.G, self.H, self.route = n_groups, hosts, route
        self.pg_resolver, self.pg_location, self.pg_ttl = pg_resolver, pg_location, pg_ttl
        self.pg_dns_ms, self.client_ttl = pg_dns_ms, float(client_ttl)
        self.timeout_ms = float(connect_timeout) * 1000.0
        n = n_places * n_groups * hosts
        self.cexp, self.cans = [NEVER] * n, [()] * n
        self.rcache: dict[int, tuple[float, tuple[int, ...]]] = {}
        self.down = [False] * n_edges
        self.known_down: frozenset = frozenset()
        self.queries = 0

    def resolve(self, t, place, group, host):
        out = []
        for tt, p, g, h in zip(t.tolist(), place.tolist(), group.tolist(), host.tolist(),
                               strict=True):  # fmt: skip
            pg = p * self.G + g
            c = pg * self.H + h
            if self.cexp[c] > tt:
                ans, lvl = self.cans[c], 0
            else:
                rk = self.pg_resolver[pg]
                ent = self.rcache.get(rk)
                if ent is not None and ent[0] > tt:
                    ans, lvl = ent[1], 1
                else:
                    ans, lvl = self.ask(pg, rk, tt), 2
                if self.client_ttl > 0:
                    self.cexp[c], self.cans[c] = tt + self.client_ttl, ans
            e, wait, failed = ans[0], 0.0, 0
            if self.down[e]:
                e, wait, failed = self.failover(tt, pg, c, ans)
            out.append((e, ans[0], lvl, wait, failed))
        cols = list(zip(*out, strict=True)) if out else [()] * 5
        dtypes = (np.int32, np.int32, np.int8, np.float64, np.int16)
        return tuple(np.array(col, dtype=d) for col, d in zip(cols, dtypes, strict=True))

    def ask(self, pg, rk, now):
        ans = self.route(self.pg_location[pg], rk, self.known_down)
        self.queries += 1
        if self.pg_ttl[pg] > 0:
            self.rcache[rk] = (now + self.pg_ttl[pg], ans)
        return ans

    def failover(self, t, pg, c, ans):
        wait, failed = 0.0, 0
        for e in ans:
            if not self.down[e]:
                return e, wait, failed
            wait += self.timeout_ms
            failed += 1
        now = t + wait / 1000.0
        rk = self.pg_resolver[pg]
        wait += self.pg_dns_ms[pg][0]
        ent = self.rcache.get(rk)
        if ent is not None and ent[0] > now:
            fresh = ent[1]
        else:
            fresh = self.ask(pg, rk, now)
            wait += self.pg_dns_ms[pg][1]
        if self.client_ttl > 0:
            self.cexp[c], self.cans[c] = now + self.client_ttl, fresh
        for e in fresh:
            if not self.down[e]:
                return e, wait, failed
            wait += self.timeout_ms
            failed += 1
        return -1, wait, failed

    def state(self):
        return list(zip(self.cexp, self.cans, strict=True)), dict(self.rcache), self.queries


class Route:
    """A deterministic routing function with state: answers drift with the call
    count, so a different call order gives different answers."""

    def __init__(self, n_edges: int):
        self.n_edges = n_edges
        self.calls: list[tuple[int, int, frozenset]] = []

    def __call__(self, loc: int, rk: int, down: frozenset) -> tuple[int, ...]:
        self.calls.append((loc, rk, down))
        up = [e for e in range(self.n_edges) if e not in down] or list(range(self.n_edges))
        start = (loc * 7 + rk * 3 + len(self.calls) // 5) % len(up)
        width = 1 + (loc + rk) % 3  # one to three edges: some answers fail over entirely
        return tuple(up[(start + i) % len(up)] for i in range(min(width, len(up))))


def build(rng, *, P, G, H, E, client_ttl, ttls):
    """Constructor arguments: resolver keys shared by some places (ISP-like
    groups per place, public groups shared), TTLs drawn from ``ttls``."""
    pg_resolver, pg_location, pg_ttl, pg_dns = [], [], [], []
    for p in range(P):
        for g in range(G):
            shared = g % 2 == 1
            pg_resolver.append(1000 + g * 10 + p % 3 if shared else p * G + g)
            pg_location.append(P + p % 3 if shared else p)
            pg_ttl.append(float(ttls[(p + 2 * g) % len(ttls)]))
            pg_dns.append((float(rng.uniform(1, 40)), float(rng.uniform(5, 150))))
    return dict(n_places=P, n_groups=G, hosts=H, pg_resolver=pg_resolver,
                pg_location=pg_location, pg_ttl=pg_ttl, pg_dns_ms=pg_dns,
                client_ttl=client_ttl, connect_timeout=2.0, n_edges=E)  # fmt: skip


def run_equivalence(seed, *, P, G, H, E=6, client_ttl, ttls, n=6000, rate=200.0,
                    shuffle=False, down_phase=True, grid=0.0):  # fmt: skip
    rng = np.random.default_rng(seed)
    args = build(rng, P=P, G=G, H=H, E=E, client_ttl=client_ttl, ttls=ttls)
    routes = [Route(E) for _ in range(3)]
    models = [
        ReferenceDns(route=routes[0], **args),
        DnsModel(route=routes[1], **args),
        DnsModel(route=routes[2], fast=False, **args),
    ]
    # Skewed places so hosts repeat often; Poisson arrivals (optionally shuffled
    # within a batch: the model follows batch order, not time order).
    weights = 1.0 / np.arange(1, P + 1)
    t = np.cumsum(rng.exponential(1.0 / rate, n))
    if grid:  # times on a grid: expiries land exactly on later request times
        t = np.round(t / grid) * grid
    place = rng.choice(P, n, p=weights / weights.sum()).astype(np.int16)
    group = rng.integers(0, G, n).astype(np.int8)
    host = rng.integers(0, H, n).astype(np.int16)
    cuts = np.sort(rng.choice(np.arange(1, n), 12, replace=False))
    bounds = [0, *cuts.tolist(), n]
    down_at = {3: [(1, True)], 4: [(2, True)], 6: [(1, False)], 7: [(2, False)]}
    known_at = {4: frozenset({1}), 8: frozenset()}
    took_fast = failed = 0
    for b, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        for m in models:
            if down_phase:
                for e, d in down_at.get(b, []):
                    if isinstance(m, ReferenceDns):
                        m.down[e] = d
                    else:
                        m.set_down(e, d)
            if b in known_at:
                if isinstance(m, ReferenceDns):
                    m.known_down = known_at[b]
                else:
                    m.set_known_down(known_at[b])
        sl = slice(lo, hi)
        tb = t[sl].copy()
        if shuffle:
            rng.shuffle(tb)
        took_fast += not models[1].any_down
        ref = models[0].resolve(tb, place[sl], group[sl], host[sl])
        failed += int(ref[4].sum())
        for m in models[1:]:
            r = m.resolve(tb, place[sl], group[sl], host[sl])
            got = (r.edge, r.first, r.level, r.wait_ms, r.failed)
            for name, a, want in zip(("edge", "first", "level", "wait_ms", "failed"), got, ref,
                                     strict=True):  # fmt: skip
                assert a.dtype == want.dtype, (seed, b, name)
                assert np.array_equal(a, want), (seed, b, name, m.fast)
            assert m.state() == models[0].state(), (seed, b, m.fast)
            assert m.queries == models[0].queries
    assert routes[1].calls == routes[0].calls == routes[2].calls
    assert took_fast >= 5  # most batches went through the fast path
    assert failed > 0 if down_phase else failed == 0  # the general path did fail over
    return models[0]


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(
    ("client_ttl", "ttls"),
    [(60.0, [30.0]), (5.0, [30.0, 0.0, 2.0]), (0.0, [30.0]), (0.0, [0.0]), (3.0, [0.0])],
)
def test_fast_path_equals_the_loop(seed, client_ttl, ttls):
    ref = run_equivalence(seed, P=12, G=3, H=8, client_ttl=client_ttl, ttls=ttls)
    assert ref.queries > 0


@pytest.mark.parametrize("seed", [9, 10])
def test_expiry_equal_to_request_time_is_a_miss(seed):
    run_equivalence(seed, P=4, G=2, H=3, client_ttl=0.5, ttls=[1.0, 0.0, 0.25], grid=0.25)


@pytest.mark.parametrize("seed", [4, 5])
def test_tiny_ttls_many_misses_per_key(seed):
    # Many renewals per key and batch: more rounds than the vectorised limit.
    run_equivalence(seed, P=2, G=2, H=1, client_ttl=0.01, ttls=[0.02, 0.0], rate=2000.0)


@pytest.mark.parametrize("seed", [6, 7])
def test_batch_order_not_time_order(seed):
    run_equivalence(seed, P=6, G=2, H=4, client_ttl=1.0, ttls=[0.5, 0.0, 3.0], shuffle=True)


@pytest.mark.parametrize("shuffle", [False, True])
def test_more_than_65536_client_hosts(shuffle):
    # 300 places x 2 groups x 120 hosts: client keys need two radix digits when sorted.
    run_equivalence(8, P=300, G=2, H=120, client_ttl=20.0, ttls=[10.0], n=20000, rate=2000.0,
                    shuffle=shuffle, down_phase=False)  # fmt: skip


def test_levels_worked_by_hand():
    # One host, one resolver, worked by hand: client TTL 4 s, resolver TTL 10 s; an
    # expiry equal to the request time is a miss.
    route = Route(3)
    m = DnsModel(n_places=1, n_groups=1, hosts=1, route=route, pg_resolver=[0], pg_location=[0],
                 pg_ttl=[10.0], pg_dns_ms=[(1.0, 20.0)], client_ttl=4.0, connect_timeout=1.0,
                 n_edges=3)  # fmt: skip
    t = np.array([0.0, 1.0, 3.9, 4.0, 9.0, 10.0, 13.9])
    z = np.zeros(len(t), dtype=np.int64)
    r = m.resolve(t, z, z, z)
    assert r.level.tolist() == [2, 0, 0, 1, 1, 0, 2]
    assert m.queries == 2 and len(route.calls) == 2
    assert not r.wait_ms.any() and not r.failed.any()
    assert np.array_equal(r.edge, r.first)
    # The client cache afterwards: renewed at 13.9 with the answer asked then.
    clients, resolvers, _ = m.state()
    assert clients == [(13.9 + 4.0, (0,))]  # Route's second answer for (0, 0): edge 0
    assert resolvers == {0: (13.9 + 10.0, (0,))}


def test_empty_batch_and_bad_host():
    m = DnsModel(n_places=2, n_groups=1, hosts=2, route=Route(2), pg_resolver=[0, 1],
                 pg_location=[0, 1], pg_ttl=[5.0, 5.0], pg_dns_ms=[(1.0, 2.0)] * 2,
                 client_ttl=1.0, connect_timeout=1.0, n_edges=2)  # fmt: skip
    e = np.zeros(0, dtype=np.int64)
    r = m.resolve(np.zeros(0), e, e, e)
    assert len(r.edge) == len(r.level) == len(r.wait_ms) == 0
    one = np.array([0])
    with pytest.raises(ValueError, match="out of range"):
        m.resolve(np.array([0.0]), one, one, np.array([2]))
