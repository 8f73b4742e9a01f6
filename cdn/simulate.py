"""From a scenario to results: builds the models, runs the engine, writes the files.

Theory of operation
-------------------
``simulate(scenario)`` wires the pure cores together on a virtual clock:

- places and the network model give every RTT the run needs, once, as
  matrices (client place x edge, resolver site x authoritative, edge x
  upstream), so latency arithmetic per request is numpy indexing;
- ``cdn.routing.Router`` answers each resolver cache miss (the same object the
  DNS server asks), ``cdn.dnscache.DnsModel`` keeps the client and resolver
  caches and models failed connects;
- ``edge.store`` stores and ``edge.policy.classify`` decide every cache
  outcome in ``cdn.engine.EdgeCaches``;
- ``cdn.transfer`` turns RTT, bytes and connection reuse into fetch times;
- ``cdn.workload`` produces the request stream; ``cdn.engine.Engine`` cuts it
  at scenario events; ``cdn.results.Stats`` accumulates the figures.

Per batch of requests: DNS caches (vectorised renewal rounds), the cache pass
(tier by tier, asking for upstream fetch times as it needs them: ``_HopTimes``
works them out, vectorised, for the requests that make each hop only), latency
sum and statistics (vectorised).

Resolvers: an ISP resolver sits at its client's place, ``ISP_RESOLVER_MS``
one way from the client's access network; a public resolver is the nearest
(by RTT) of its sites. The authoritative DNS server is at ``dns.place`` or the
origin's place. An edge's fetches from its upstream ride warm, reused
connections (server bandwidth, no handshakes).
"""

from __future__ import annotations

import fnmatch
import gc
import ipaddress
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cdn import transfer
from cdn.engine import CONDITIONAL, ERROR, EdgeCaches, Engine
from cdn.errors import UserError
from cdn.events import event_steps
from cdn.geo import great_circle_km_array
from cdn.health import HealthTracker
from cdn.network import NetworkModel
from cdn.places import Place
from cdn.results import KINDS, Batch, Progress, Stats, summary_table, write_results
from cdn.routing import Router
from cdn.scenario import Scenario, load_scenario
from edge import policy as cache_policy
from edge.eviction import prepare as prepare_eviction
from edge.store import make_store

ISP_RESOLVER_MS = 1.0  # one-way ms from a client's access network to its ISP resolver
DEFAULT_CHUNK = 1 << 18  # requests per batch: ~70 MB of arrays; larger batches amortise numpy
CLIENT_HOSTS = 64  # DNS caches per (client place, resolver group): see cdn.dnscache
DEFAULT_TRACE_CACHE_CONTROL = "max-age=3600"  # trace keys no origin pattern matches
SAMPLE_HEADER = ["t", "client", "resolver", "edge", "object", "size", "outcome", "latency_ms",
                 "dns", "distance_km"]  # fmt: skip


@dataclass
class SimResult:
    summary: dict
    stats: Stats
    paths: list[Path]
    wall_seconds: float  # the whole call: set-up, simulating, writing results
    run_seconds: float = 0.0  # simulating alone (Simulation.run)


def _interval(horizon: float) -> float:
    """A round timeseries step giving at most ~600 rows."""
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400):
        if horizon / step <= 600:
            return float(step)
    return 86400.0


def access_delay_s(scenario: Scenario, cp) -> float:
    """One-way last-mile seconds of a client place: its own, the network's entry
    for its name, else the network default. Live emulation uses the same rule."""
    if cp.access_delay is not None:
        return float(cp.access_delay)
    for name, d in scenario.network.access_delays:
        if name in (cp.place.name, cp.place.key):
            return float(d)
    return float(scenario.network.access_delay)


def _service_sampler(scenario: Scenario):
    from cdn.distributions import sample

    dist = scenario.origin.service_time

    def draw(rng: np.random.Generator, n: int) -> np.ndarray:
        return np.asarray(sample(dist, rng, n), dtype=np.float64)

    return draw


def _locate_trace_client(
    text: str, places: dict[str, int], plist: list[Place], blocks: list[tuple[Place, tuple]]
) -> int:
    """A trace client is a place name, or an IP address of the scenario's address
    plan (``cdn.addressing``: the blocks the GeoIP database maps to its places)."""
    if text in places:
        return places[text]
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        addr = None
    if addr is not None:
        if getattr(addr, "ipv4_mapped", None):
            addr = addr.ipv4_mapped
        place = next((p for p, nets in blocks if any(addr in n for n in nets)), None)
        if place is None:
            raise UserError(
                f"trace client {text!r} is not in any client block of the scenario's "
                "address plan (see cdn.addressing: 127.64.0.0/24 for the first client "
                "place, ...); write a place name instead"
            )
    else:
        from cdn.places import PlaceError, resolve_place

        try:
            place = resolve_place(text)
        except PlaceError as exc:
            raise UserError(f"trace client {text!r}: {exc}") from None
    for i, q in enumerate(plist):
        if q == place:
            places[text] = i
            return i
    plist.append(place)
    places[text] = len(plist) - 1
    return len(plist) - 1


class _HopTimes:
    """Fetch times (ms) over hop ``d`` of each request's tier chain, ``hops[d]`` (0
    where the chain has no such hop): full fetches, or headers-only requests with
    ``size`` None (``mask``: the requests that may make them). Worked out on first
    use, and only for the requests asked about with ``take(d, idx)``: most requests
    never leave their edge.

    ``group_max`` bounds the fetches of either kind per group of requests (the
    engine's test that no fetch outlasts a freshness lifetime): the fetch of the
    group's largest object, plus its longest server time where the hop ends at
    the origin. No fetch takes longer: fetch time never falls with more bytes
    (``cdn.transfer``), and a headers-only request carries none.
    """

    def __init__(self, sim: Simulation, e0, size, service_ms, chain_len, mask, tls: bool):
        self.sim, self.e0, self.size, self.service_ms = sim, e0, size, service_ms
        self.chain_len, self.mask, self.tls = chain_len, mask, tls
        self._all: list[np.ndarray | None] = [None] * len(sim.hop_rtt)
        self._largest: tuple | None = None

    def __len__(self) -> int:
        return len(self._all)

    def __getitem__(self, d: int) -> np.ndarray:
        a = self._all[d]
        if a is None:
            has = self.chain_len > d
            mask = has if self.mask is None else has & self.mask
            a = self._all[d] = self.sim._hop_ms(d, self.e0, self.size, self.service_ms, mask,
                                                self.tls)  # fmt: skip
        return a

    def take(self, d: int, idx: np.ndarray) -> np.ndarray:
        a = self._all[d]
        if a is not None:
            return a[idx]
        return self.sim._hop_values(d, idx, self.e0[idx], self.size, self.service_ms, self.tls)

    def group_max(self, d: int, ci: np.ndarray, starts: list[int], groups: np.ndarray):
        """Per group of requests ``ci`` (cut at ``starts``, at edges ``groups``)."""
        sim = self.sim
        out = np.zeros(len(groups))
        has = np.flatnonzero(sim.chain_len[groups] > d)
        if not len(has):
            return out
        if self._largest is None or self._largest[0] is not ci:
            self._largest = (ci, np.maximum.reduceat(self.size[ci], starts),
                             np.maximum.reduceat(self.service_ms[ci], starts))  # fmt: skip
        _, size, service = self._largest
        e = groups[has]
        out[has] = transfer.fetch_time_ms_array(
            sim.hop_rtt[d][e], size[has], False, tls=self.tls, bandwidth_bps=sim.hop_bw[d][e],
            server_ms=np.where(sim.hop_origin[d][e], service[has], 0.0),
        )  # fmt: skip
        return out


class Simulation:
    """One run: models built from a scenario, ready to process request batches."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        seed: int | None = None,
        requests: int | None = None,
        duration: float | None = None,
        trace: str | Path | None = None,
        sample: int = 0,
    ):
        self.scenario = sc = scenario
        self.seed = int(sc.seed if seed is None else seed)
        wl = sc.workload
        self.network = NetworkModel.from_config(sc.network)
        self.edges = list(sc.edges)
        self.edge_index = {e.name: i for i, e in enumerate(self.edges)}
        self.router = Router(sc, network=self.network)
        E = len(self.edges)

        # --- the request source and the client places -----------------------
        trace_path = trace if trace is not None else wl.trace
        self.places: list[Place] = [c.place for c in sc.clients]
        access = [access_delay_s(sc, c) for c in sc.clients]
        weights = [c.weight for c in sc.clients]
        self.trace = None
        from cdn import workload as wlmod

        if trace_path is not None:
            self.trace = wlmod.scan_trace(trace_path)
            names: dict[str, int] = {}
            for i, c in enumerate(sc.clients):
                names.setdefault(c.place.name, i)
                names.setdefault(c.place.key, i)
            from cdn.addressing import client_blocks

            blocks = list(client_blocks(sc).items())
            client_place = [
                _locate_trace_client(c, names, self.places, blocks) for c in self.trace.clients
            ]
            access += [float(sc.network.access_delay)] * (len(self.places) - len(access))
        P = len(self.places)
        groups = list(sc.resolvers)
        G = len(groups)
        shares = np.array([g.share for g in groups], dtype=np.float64)

        # --- content types and their freshness (from the policy core) ---------
        if self.trace is not None:
            ccs: list[str] = []
            key_ctype = []
            for key in self.trace.keys:
                cc = next((v for pat, v in sc.origin.cache_control if fnmatch.fnmatchcase(key, pat)),
                          DEFAULT_TRACE_CACHE_CONTROL)  # fmt: skip
                if cc not in ccs:
                    ccs.append(cc)
                key_ctype.append(ccs.index(cc))
            self.catalog = None
            self.horizon = self.trace.duration
        else:
            from cdn.catalog import Catalog

            self.catalog = Catalog(wl, self.seed)
            ccs = [c.cache_control for c in self.catalog.content]
            self.horizon = duration if duration is not None else wl.duration
            longest = self.horizon
            if requests is not None or (duration is None and wl.requests is not None):
                n = requests if requests is not None else wl.requests
                self.horizon = n / wl.rate
                # n arrivals could take longer at the diurnal trough (and by chance)
                slowest = wl.rate * (1.0 - wl.diurnal)
                longest = 1.1 * n / slowest + 10.0 if slowest > 0 else math.inf
        self.cache_controls = ccs
        self.freshness = [cache_policy.freshness(200, [("Cache-Control", cc)]) for cc in ccs]
        # Content whose copies stay fresh longer than the run can last skips the
        # per-hit classify() call: the policy core is asked once, for the oldest age.
        horizon = (self.horizon if self.trace is not None else longest) + 1.0
        never = [
            cache_policy.classify(0.0, f) == "hit" and cache_policy.classify(horizon, f) == "hit"
            for f in self.freshness
        ]
        cacheable = [f.storable for f in self.freshness]

        # --- resolvers: sites, cache keys, what routing sees, DNS RTTs ---------
        auth = sc.dns.place or sc.origin.place
        self.locations: list[Place | None] = list(self.places)
        loc_index: dict[Place, int] = {p: i for i, p in enumerate(self.places)}
        rkeys: dict[tuple, int] = {}
        pg_resolver, pg_location, pg_ttl, pg_dns = [], [], [], []
        self.pg_kind = np.zeros(P * G, dtype=np.int8)
        for p in range(P):
            place = self.places[p]
            for g, grp in enumerate(groups):
                ecs = grp.ecs and sc.dns.ecs
                if grp.kind == "isp" or not grp.places:
                    site = place
                    to_res = self.network.rtt_ms(place, place, access[p], ISP_RESOLVER_MS / 1000)
                    kind = 0
                else:
                    rtts = [self.network.rtt_ms(place, s, access[p]) for s in grp.places]
                    j = int(np.argmin(rtts))
                    site, to_res = grp.places[j], rtts[j]
                    kind = 2 if ecs else 1
                seen = place if (ecs or grp.kind == "isp") else site
                if seen not in loc_index:
                    loc_index[seen] = len(self.locations)
                    self.locations.append(seen)
                scope = p if ecs and kind else -1
                rk = rkeys.setdefault((g, site, scope), len(rkeys))
                pg_resolver.append(rk)
                pg_location.append(loc_index[seen])
                pg_ttl.append(sc.dns.ttl if grp.cache else 0.0)
                pg_dns.append((to_res, self.network.rtt_ms(site, auth)))
                self.pg_kind[p * G + g] = kind
        self.group_names = [g.name for g in groups]
        self.pg_dns = np.array(pg_dns, dtype=np.float64).reshape(P * G, 2)
        answer_cache: dict[tuple[str, ...], tuple[int, ...]] = {}
        edge_index, locations, router = self.edge_index, self.locations, self.router

        # The routing core answers the same question the same way (it caches its
        # answers by the same inputs): each (location, resolver, down) asked once.
        asked: dict[tuple[int, int, frozenset], tuple[int, ...]] = {}

        def route(loc: int, rkey: int, down: frozenset) -> tuple[int, ...]:
            ans = asked.get((loc, rkey, down))
            if ans is None:
                names = router.route(locations[loc], rkey, down).edges
                ans = answer_cache.get(names)
                if ans is None:
                    ans = answer_cache[names] = tuple(edge_index[n] for n in names)
                asked[loc, rkey, down] = ans
            return ans

        from cdn.dnscache import DnsModel

        self.dns = DnsModel(
            n_places=P, n_groups=G, hosts=CLIENT_HOSTS, route=route, pg_resolver=pg_resolver,
            pg_location=pg_location, pg_ttl=pg_ttl, pg_dns_ms=pg_dns,
            client_ttl=wl.client_dns_cache, connect_timeout=sc.network.connect_timeout,
            n_edges=E,
        )  # fmt: skip

        # --- network matrices ----------------------------------------------------
        net = sc.network
        self.rtt_ce = np.array(
            [
                [self.network.rtt_ms(p, e.place, access[i]) for e in self.edges]
                for i, p in enumerate(self.places)
            ]  # fmt: skip
        ).reshape(P, E)
        self.bw_ce = np.array(
            [
                [min(net.bandwidth, self.network.bandwidth_bps(p, e.place)) for e in self.edges]
                for p in self.places
            ]  # fmt: skip
        ).reshape(P, E)
        self.parent = [self.edge_index[e.parent] if e.parent else -1 for e in self.edges]
        origin = sc.origin.place
        # The tier chain of each edge: hop d goes from chain[d] to chain[d + 1] (or the origin).
        depth = 1
        chains = []
        for e in range(E):
            chain, p = [e], self.parent[e]
            while p >= 0 and p not in chain:
                chain.append(p)
                p = self.parent[p]
            chains.append(chain)
            depth = max(depth, len(chain))
        self.chain_len = np.array([len(c) for c in chains], dtype=np.int64)
        self.hop_rtt = np.zeros((depth, E))
        self.hop_bw = np.full((depth, E), np.inf)
        self.hop_origin = np.zeros((depth, E), dtype=bool)
        for e, chain in enumerate(chains):
            for d, node in enumerate(chain):
                a = self.edges[node].place
                last = d == len(chain) - 1
                b = origin if last else self.edges[chain[d + 1]].place
                self.hop_rtt[d, e] = self.network.rtt_ms(a, b)
                self.hop_bw[d, e] = min(net.server_bandwidth, self.network.bandwidth_bps(a, b))
                self.hop_origin[d, e] = last
        self.hop_to_origin: list[bool | None] = []  # per depth: all such hops end there, none
        for d in range(depth):
            ends = {bool(self.hop_origin[d, e]) for e in range(E) if len(chains[e]) > d}
            self.hop_to_origin.append(ends.pop() if len(ends) == 1 else None if ends else False)
        lat = np.array([p.lat for p in self.places])
        lon = np.array([p.lon for p in self.places])
        elat = np.array([e.place.lat for e in self.edges])
        elon = np.array([e.place.lon for e in self.edges])
        self.km = great_circle_km_array(lat[:, None], lon[:, None], elat[None, :], elon[None, :])

        # --- caches --------------------------------------------------------------
        stores = [make_store(e.policy, e.capacity, e.max_object_size) for e in self.edges]
        prepare_eviction()  # compiled here, the first time, not while simulating

        def stale_on_error(ct: int, age: float) -> bool:
            # Ask the policy core with a stored response of that age.
            stored = cache_policy.Stored(200, (("Cache-Control", ccs[ct]),), 0.0, 0.0)
            return cache_policy.can_serve_stale_on_error(stored, (), age)

        self.caches = EdgeCaches(stores, self.parent, self.freshness, cache_policy.classify,
                                 never, cacheable, stale_on_error)  # fmt: skip
        self.service_override: float | None = None

        # --- the request stream ----------------------------------------------
        sampler = _service_sampler(sc)
        hours = [wlmod.utc_offset_hours(p.timezone, p.lon) for p in self.places]
        if self.trace is not None:
            rng = np.random.default_rng([self.seed, 0x7ACE])
            cdf = np.cumsum(shares)
            cgroup = np.searchsorted(cdf, rng.random(len(self.trace.clients)), side="right")
            self.request_blocks = lambda: wlmod.limit(
                wlmod.read_trace(
                    self.trace, client_place, np.minimum(cgroup, G - 1), key_ctype,
                    seed=self.seed, keepalive=wl.keepalive, hosts=CLIENT_HOSTS,
                    service_sampler=sampler,
                ),
                duration=duration, requests=requests,
            )  # fmt: skip
            self.expected = min(self.trace.rows, requests or self.trace.rows)
        else:
            pop = wlmod.Population(
                weights=np.array(weights, dtype=np.float64),
                utc_offset_h=np.array(hours),
                continents=tuple(p.continent for p in self.places),
                countries=tuple(p.country for p in self.places),
                group_shares=shares,
                hosts=CLIENT_HOSTS,
            )
            flash = [
                wlmod.FlashCrowd(ev.at, ev.duration or 0.0, ev.factor, ev.object, ev.region)
                for ev in sc.events
                if ev.kind == "flash_crowd"
            ]
            gen = wlmod.Generator(
                pop, self.catalog, rate=wl.rate, seed=self.seed, diurnal=wl.diurnal,
                diurnal_shape=wl.diurnal_shape, start_hour_utc=wl.start_hour_utc,
                keepalive=wl.keepalive, service_sampler=sampler, flash_crowds=flash,
            )  # fmt: skip
            if requests is None and duration is None and wl.requests is not None:
                requests = wl.requests
            dur = duration if duration is not None else (None if requests else wl.duration)
            self.request_blocks = lambda: gen.blocks(duration=dur, requests=requests)
            self.expected = requests if requests else int(dur * wl.rate)

        # --- results -----------------------------------------------------------
        regions = [p.continent or "??" for p in self.places]
        self.stats = Stats([p.key for p in self.places], regions, [e.name for e in self.edges],
                           self.km, _interval(self.horizon))  # fmt: skip
        self.sample_n = int(sample)
        self.sample_p = min(1.0, self.sample_n / max(self.expected, 1)) if sample else 0.0
        self.sample_rows: list[list] = []

    # --- events -------------------------------------------------------------------
    def schedule(self, engine: Engine) -> None:
        sc, dns = self.scenario, self.dns
        # The DNS health checks are the same core the live server runs
        # (cdn.health.HealthTracker): every health_interval each edge is checked,
        # k failures mark it down, m successes up. Rounds run only while some
        # edge's real state differs from what the checks know; in between, every
        # check would agree with the state and change nothing.
        interval = sc.dns.health_interval
        tracker = HealthTracker(self.edge_index, sc.dns.health_failures, sc.dns.health_successes)
        actually_down: set[str] = set()
        checking = False

        def check_round(t: float) -> None:
            nonlocal checking
            for name in self.edge_index:
                tracker.observe(name, name not in actually_down, t)
            dns.set_known_down(tracker.down)
            if tracker.down != actually_down:
                engine.at(t + interval, check_round)
            else:
                checking = False

        def set_down(name: str, down: bool) -> Callable[[float], None]:
            def act(t: float) -> None:
                nonlocal checking
                (actually_down.add if down else actually_down.discard)(name)
                dns.set_down(self.edge_index[name], down)
                if not checking:  # the next round on the checks' fixed schedule
                    checking = True
                    engine.at((math.floor(t / interval) + 1) * interval, check_round)

            return act

        def origin(up: bool) -> Callable[[float], None]:
            def act(_t: float) -> None:
                self.caches.origin_up = up

            return act

        def slow(value: float | None) -> Callable[[float], None]:
            def act(_t: float) -> None:
                self.service_override = value

            return act

        for step in event_steps(sc.events):  # the schedule cdn serve plays too
            ev, a = step.event, step.action
            if a in ("edge_down", "edge_up"):
                engine.at(step.at, set_down(ev.edge, a == "edge_down"))
            elif a in ("origin_down", "origin_up"):
                engine.at(step.at, origin(a == "origin_up"))
            elif a in ("origin_slow", "origin_slow_end"):
                engine.at(step.at, slow(None if step.ends else ev.service_time))
            elif a == "purge":
                engine.at(step.at, lambda _t, ev=ev: self.caches.purge(self._purge_keys(ev)))
            # flash_crowd: the workload generator plays it

    def _purge_keys(self, ev) -> list[int]:
        if self.trace is not None:
            keys = self.trace.keys
            if ev.url:
                return [keys[ev.url]] if ev.url in keys else []
            if ev.prefix:
                return [i for k, i in keys.items() if k.startswith(ev.prefix)]
            return self._surrogate(list(keys.items()), ev.surrogate_key)
        cat = self.catalog
        if ev.url:
            i = cat.object_id(ev.url)
            return [] if i is None else [i]
        if ev.prefix:
            return [i for i in range(cat.n) if cat.path(i).startswith(ev.prefix)]
        return self._surrogate([(cat.path(i), i) for i in range(cat.n)], ev.surrogate_key)

    def _surrogate(self, items: list[tuple[str, int]], key: str | None) -> list[int]:
        pats = [p for p, keys in self.scenario.origin.surrogate_keys if key in keys.split()]
        return [i for path, i in items if any(fnmatch.fnmatchcase(path, p) for p in pats)]

    # --- one batch ------------------------------------------------------------------
    def process(self, r) -> None:
        G = len(self.group_names)
        res = self.dns.resolve(r.t, r.place, r.group, r.host)
        edge = res.edge
        ok = edge >= 0
        e0 = np.where(ok, edge, 0)
        tls = self.scenario.network.tls
        size = r.size
        service_ms = (r.service if self.service_override is None
                      else np.full(len(r), self.service_override)) * 1000.0  # fmt: skip
        # Fetch times per hop of each request's tier chain, computed only where a
        # request can need them: hop d exists for chains longer than d; conditional
        # requests only for content that expires.
        expiring = self.caches.ctype_class[r.ctype] == self.caches.EXPIRING
        chain_len = self.chain_len[e0]
        up = _HopTimes(self, e0, size, service_ms, chain_len, None, tls)
        cond = _HopTimes(self, e0, None, service_ms, chain_len, expiring, tls)
        served = self.caches.serve(r.t, edge, r.obj, size, r.ctype, up, cond)
        pl = r.place.astype(np.int64)
        pe = pl * len(self.edges) + e0  # (client place, edge) in the flat matrices
        client_ms = transfer.fetch_time_ms_array(
            self.rtt_ce.ravel()[pe], size, ~r.reuse, tls=tls, bandwidth_bps=self.bw_ce.ravel()[pe]
        )
        pg = pl * G + r.group
        dns_ms = np.where(res.level >= 1, self.pg_dns[pg, 0], 0.0) + np.where(
            res.level == 2, self.pg_dns[pg, 1], 0.0
        )
        latency = dns_ms + res.wait_ms + client_ms + served.upstream_ms
        outcome = np.where(ok, served.outcome, ERROR).astype(np.int8)
        latency = np.where(outcome == ERROR, np.nan, latency)
        batch = Batch(r.t, r.place, self.pg_kind[pg], np.where(outcome == ERROR, -1, edge),
                      res.first, outcome, served.fetch, size, latency, res.level,
                      res.failed)  # fmt: skip
        self.stats.add(batch)
        if self.sample_p and len(self.sample_rows) < self.sample_n:
            self._sample(batch, r, dns_ms)

    def _hop_ms(self, d, e0, size, service_ms, mask, tls) -> np.ndarray:
        """Fetch time (ms) over hop ``d`` for the requests in ``mask`` (0 elsewhere);
        ``size`` None: a conditional request (headers only)."""
        out = np.zeros(len(e0))
        idx = np.flatnonzero(mask)
        if len(idx):
            out[idx] = self._hop_values(d, idx, e0[idx], size, service_ms, tls)
        return out

    def _hop_values(self, d, idx, e, size, service_ms, tls) -> np.ndarray:
        """Fetch times (ms) over hop ``d`` of requests ``idx`` (at edges ``e``, each
        with such a hop)."""
        nbytes = 0 if size is None else size[idx]
        to_origin = self.hop_to_origin[d]  # every such hop ends at the origin, none, or some
        if to_origin is None:
            server = np.where(self.hop_origin[d][e], service_ms[idx], 0.0)
        else:
            server = service_ms[idx] if to_origin else 0.0
        return transfer.fetch_time_ms_array(
            self.hop_rtt[d][e], nbytes, False, tls=tls, bandwidth_bps=self.hop_bw[d][e],
            server_ms=server,
        )  # fmt: skip

    def _sample(self, b: Batch, r, dns_ms: np.ndarray) -> None:
        from cdn.engine import OUTCOMES

        for i in np.flatnonzero(r.u < self.sample_p):
            if len(self.sample_rows) >= self.sample_n:
                break
            e = int(b.edge[i])
            self.sample_rows.append([
                round(float(b.t[i]), 6), self.places[int(b.place[i])].key,
                KINDS[int(b.kind[i])], self.edges[e].name if e >= 0 else "",
                self._key_name(int(r.obj[i])), int(b.size[i]), OUTCOMES[int(b.outcome[i])],
                None if e < 0 else round(float(b.latency_ms[i]), 3), int(b.dns_level[i]),
                None if e < 0 else round(float(self.km[int(b.place[i]), e]), 1),
            ])  # fmt: skip

    def _key_name(self, obj: int) -> str:
        if self.trace is not None:
            if not hasattr(self, "_key_names"):
                self._key_names = list(self.trace.keys)
            return self._key_names[obj]
        return self.catalog.path(obj)

    # --- the run ----------------------------------------------------------------------
    def run(self, chunk: int = DEFAULT_CHUNK, progress: Progress | None = None) -> Stats:
        from cdn.workload import rechunk

        engine = Engine()
        self.schedule(engine)
        stats = self.stats

        def process(r) -> None:
            self.process(r)
            if progress is not None:
                progress.update(stats.requests, stats.requests)

        # The loops allocate many small tuples and no cycles: the cyclic collector
        # would only rescan the long-lived tables (places, stores) over and over.
        enabled = gc.isenabled()
        gc.disable()
        try:
            engine.run(rechunk(self.request_blocks(), chunk), process)
        finally:
            if enabled:
                gc.enable()
        return stats

    def summary(self) -> dict:
        sc = self.scenario
        extra = {
            "model": {
                "client_hosts_per_place_and_resolver": CLIENT_HOSTS,
                "resolver_queries_to_authoritative": int(self.dns.queries),
            }
        }
        out = self.stats.summary(
            {"name": sc.name, "seed": self.seed, "sha256": sc.text_sha256}, extra
        )
        c = self.caches
        per_second = self.stats.per_second.a
        for e, edge in enumerate(self.edges):
            if edge.max_rps is not None:  # seconds the edge served more than it can
                out["edges"][edge.name]["overloaded_seconds"] = int(
                    np.count_nonzero(per_second[:, e] > edge.max_rps)
                )
            if c.tier_requests[e]:  # requests from child edges (a shield tier)
                out["edges"][edge.name]["from_children"] = {
                    "requests": c.tier_requests[e],
                    "hit_ratio": round(c.tier_hits[e] / c.tier_requests[e], 6),
                    "bytes": c.tier_bytes[e],
                    "byte_hit_ratio": round(c.tier_hit_bytes[e] / c.tier_bytes[e], 6)
                    if c.tier_bytes[e]
                    else None,
                }
        return out


def simulate(
    scenario: Scenario | str | Path = "quickstart",
    *,
    out_dir: str | Path | None = None,
    requests: int | None = None,
    duration: float | None = None,
    seed: int | None = None,
    trace: str | Path | None = None,
    chunk: int = DEFAULT_CHUNK,
    sample: int = 0,
    progress: bool = False,
    clock: Callable[[], float] = time.perf_counter,
) -> SimResult:
    """Run a scenario; write results to ``out_dir`` (default ``results/<name>/``)."""
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    if requests is not None and requests <= 0:
        raise UserError(f"--requests must be a positive count, got {requests}")
    if duration is not None and not (duration > 0 and math.isfinite(duration)):
        raise UserError(f"--duration must be a positive time, got {duration}")
    if chunk <= 0:
        raise UserError(f"--chunk must be a positive number of requests, got {chunk}")
    if seed is not None and seed < 0:
        raise UserError(f"--seed must be a whole number >= 0, got {seed}")
    if sample < 0:
        raise UserError(f"--sample must be >= 0, got {sample}")
    start = clock()
    sim = Simulation(sc, seed=seed, requests=requests, duration=duration, trace=trace,
                     sample=sample)  # fmt: skip
    bar = Progress(sim.expected, clock) if progress else None
    run_start = clock()
    try:
        sim.run(chunk, bar)
    finally:
        if bar is not None:
            bar.close()
    run_seconds = clock() - run_start
    summary = sim.summary()
    out = Path(out_dir) if out_dir is not None else Path("results") / sc.name
    sample_rows = (SAMPLE_HEADER, sim.sample_rows) if sample else None
    paths = write_results(out, sim.stats, summary, sample_rows)
    from cdn.report_data import write_distributions  # the report's map and CDFs need these

    paths.append(write_distributions(out, sim.stats, sc, sim.places, seed=sim.seed))
    return SimResult(summary, sim.stats, paths, clock() - start, run_seconds)


__all__ = ["simulate", "Simulation", "SimResult", "summary_table", "CONDITIONAL"]
