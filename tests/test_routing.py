"""The routing core and the address plan, on hand-made edge sets."""

from __future__ import annotations

import ipaddress
from collections import Counter

import pytest

from cdn.addressing import client_block, edge_address, edge_addresses, located_places
from cdn.geo import great_circle_km
from cdn.network import NetworkModel
from cdn.places import Place, resolve_place
from cdn.routing import POLICIES, RouteEdge, Router
from cdn.scenario import (
    BackboneLink,
    BackboneNode,
    ClientPlace,
    Dns,
    Edge,
    Network,
    Origin,
    ResolverGroup,
    Scenario,
    Workload,
)

EDGES = ("FRA", "NRT", "JFK", "GRU", "SYD", "JNB", "SIN", "LAX")
CLIENTS = ("Lagos", "Tokyo", "São Paulo", "Paris", "Chicago", "Mumbai", "Sydney", "Seattle")


def make_scenario(
    edges=EDGES, clients=CLIENTS, origin="IAD", resolvers=(), shields=(), **dns
) -> Scenario:
    """A scenario built by hand (edges named by lowercased IATA code)."""
    es = [Edge(name=e.lower(), place=resolve_place(e), capacity=10**9) for e in edges]
    es += [
        Edge(name=s.lower(), place=resolve_place(s), capacity=10**9, tier="shield") for s in shields
    ]
    return Scenario(
        name="handmade",
        path="<test>",
        text_sha256="",
        text="",
        seed=1,
        origin=Origin(place=resolve_place(origin)),
        edges=tuple(es),
        dns=Dns(**dns),
        clients=tuple(ClientPlace(resolve_place(c), 1.0) for c in clients),
        resolvers=tuple(resolvers),
        workload=Workload(),
    )


def test_nearest_is_the_great_circle_minimum():
    sc = make_scenario()
    router = Router(sc, policy="nearest")
    edges = [e for e in sc.edges]
    for c in sc.clients:
        p = c.place
        want = min(edges, key=lambda e: great_circle_km(p.lat, p.lon, e.place.lat, e.place.lon))
        assert router.route(p).edges == (want.name,), p.name
    # and some places that are not clients of the scenario
    assert router.route(Place("Osaka", 34.69, 135.50)).edges == ("nrt",)
    assert router.route(Place("Cape Town", -33.92, 18.42)).edges == ("jnb",)


def test_latency_follows_the_backbone_where_it_bends():
    # Tokyo reaches Seoul only through Taipei: Seoul is nearer on the map,
    # Taipei is nearer on the network.
    tokyo, seoul, taipei = (
        Place("Tokyo", 35.68, 139.69),
        Place("Seoul", 37.57, 126.98),
        Place("Taipei", 25.03, 121.56),
    )
    net = NetworkModel.from_config(
        Network(
            nodes=(
                BackboneNode("tyo", tokyo),
                BackboneNode("sel", seoul),
                BackboneNode("tpe", taipei),
            ),
            links=(BackboneLink("tyo", "tpe"), BackboneLink("tpe", "sel")),
        )
    )
    edges = [RouteEdge("seoul", seoul), RouteEdge("taipei", taipei)]
    assert great_circle_km(35.68, 139.69, 37.57, 126.98) < great_circle_km(
        35.68, 139.69, 25.03, 121.56
    )
    assert Router(edges, policy="nearest", network=net).route(tokyo).edges == ("seoul",)
    r = Router(edges, policy="latency", network=net)
    assert r.route(tokyo).edges == ("taipei",)
    # the RTT the router ranks by is the model's, and the detour costs more than the hop
    assert r.rtt_ms(tokyo, "seoul") == pytest.approx(net.rtt_ms(tokyo, seoul))
    assert net.rtt_ms(tokyo, seoul) > net.rtt_ms(tokyo, taipei)


def test_down_edges_are_never_chosen_while_one_is_up():
    sc = make_scenario(answers=3)
    for name in POLICIES:
        router = Router(sc, policy=name)
        paris = resolve_place("Paris")
        full = router.route(paris, client_key=7)
        assert len(full.edges) == 3 and not full.all_down
        down = frozenset(full.edges[:2])
        ans = router.route(paris, client_key=7, down=down)
        assert not set(ans.edges) & down, name
        assert len(ans.edges) == 3
        # only one edge up: the answer holds just that edge, never a down one
        only = frozenset(router.names) - {"sin"}
        assert router.route(paris, 7, down=only).edges == ("sin",)
        # all down: all are candidates again ("all down = all up"), ranked as usual
        everything = frozenset(router.names)
        ans = router.route(paris, 7, down=everything)
        assert ans.all_down and ans.edges == full.edges


def test_unlocated_clients_get_the_fallback_then_the_edge_nearest_the_origin():
    sc = make_scenario(origin="FRA")
    assert Router(sc).route(None).edges == ("fra",)
    assert not Router(sc).route(None).located
    sc2 = make_scenario(origin="FRA", fallback="sin", answers=2)
    r = Router(sc2)
    assert r.route(None).edges == ("sin", "fra")
    assert r.route(None, down=frozenset({"sin"})).edges[0] == "fra"
    with pytest.raises(ValueError, match="fallback edge 'nope'"):
        Router(make_scenario(fallback="nope"))


def test_consistent_hashing_spreads_evenly_and_moves_only_the_lost_edge_clients():
    # slack so large every edge is in the near set: a pure hashing test
    sc = make_scenario(policy="consistent", slack_ms=10_000)
    r = Router(sc)
    keys = [ipaddress.IPv4Address(0x0A000000 + (i << 8)).packed for i in range(4000)]
    where = {k: r.route(resolve_place("Paris"), k).edges[0] for k in keys}
    counts = Counter(where.values())
    assert set(counts) == set(r.names)
    expected = len(keys) / len(r.names)
    assert all(abs(n - expected) < 0.2 * expected for n in counts.values()), counts
    # deterministic across Router instances
    r2 = Router(sc)
    assert all(
        r2.route(resolve_place("Paris"), k).edges[0] == e for k, e in list(where.items())[:500]
    )
    # losing one edge moves its clients only, spread over the others
    moved = {k: r.route(resolve_place("Paris"), k, down=frozenset({"fra"})).edges[0] for k in keys}
    for k in keys:
        if where[k] != "fra":
            assert moved[k] == where[k]
        else:
            assert moved[k] != "fra"
    assert len({moved[k] for k in keys if where[k] == "fra"}) >= len(r.names) - 2


def test_consistent_and_weighted_stay_within_the_slack_of_the_best_rtt():
    sc = make_scenario(policy="consistent", slack_ms=15, answers=1)
    r = Router(sc)
    paris = resolve_place("Paris")
    best = min(r.rtt_ms(paris, n) for n in r.names)
    for pol in ("consistent", "weighted"):
        r = Router(sc, policy=pol)
        got = {r.route(paris, i).edges[0] for i in range(300)}
        assert all(r.rtt_ms(paris, n) <= best + 15 for n in got), (pol, got)


def test_weighted_spreads_by_weight_and_headroom():
    places = [Place("A", 50.0, 8.0), Place("B", 50.1, 8.1)]
    edges = [RouteEdge("a", places[0], weight=1.0), RouteEdge("b", places[1], weight=3.0)]
    r = Router(edges, policy="weighted", slack_ms=50)
    client = Place("C", 50.05, 8.05)
    counts = Counter(r.route(client, i).edges[0] for i in range(8000))
    assert counts["b"] / counts["a"] == pytest.approx(3.0, rel=0.12)
    # a loaded edge takes a smaller share of new clients
    counts = Counter(r.route(client, i, load={"b": 0.9}).edges[0] for i in range(8000))
    assert counts["b"] < counts["a"]
    # deterministic per key, and the hashing policies report the key's scope
    assert r.route(client, 42) == r.route(client, 42)
    assert (r.route(client, 42).scope_v4, r.route(client, 42).scope_v6) == (24, 48)
    assert Router(edges, policy="latency").route(client).scope_v4 == 0


def test_unknown_policy_names_the_allowed_ones():
    with pytest.raises(ValueError, match="allowed: nearest, latency, weighted, consistent"):
        Router([RouteEdge("a", Place("A", 0, 0))], policy="closest")


def test_router_takes_its_settings_from_the_scenario_and_skips_shields():
    sc = make_scenario(shields=("AMS",), policy="nearest", answers=2)
    r = Router(sc)
    assert "ams" not in r.names and r.policy.name == "nearest" and r.answers == 2
    paris = resolve_place("Paris")
    two = r.route(paris).edges
    assert len(two) == 2 and two[0] == "fra"
    assert two[1] == min(
        (n for n in r.names if n != "fra"),
        key=lambda n: great_circle_km(
            paris.lat, paris.lon, sc.edge(n).place.lat, sc.edge(n).place.lon
        ),
    )


def test_address_plan():
    sc = make_scenario(
        shields=("AMS",),
        resolvers=(
            ResolverGroup(
                "public", "public", 1.0, places=(resolve_place("SIN"), resolve_place("Tokyo"))
            ),
        ),
    )
    addrs = edge_addresses(sc)
    assert list(addrs) == [e.lower() for e in EDGES]  # shields get no address
    assert edge_address(sc, "fra") == (
        ipaddress.IPv4Address("127.0.1.1"),
        ipaddress.IPv6Address("fd00:cd::1:1"),
    )
    assert edge_address(sc, "lax")[0] == ipaddress.IPv4Address("127.0.1.8")
    with pytest.raises(KeyError):
        edge_address(sc, "ams")
    places = located_places(sc)
    # clients first, then resolver sites not already listed (Tokyo is a client)
    assert len(places) == len(CLIENTS) + 1 and places[-1] == resolve_place("SIN")
    blocks = [client_block(sc, p) for p in places]
    loop = ipaddress.ip_network("127.0.0.0/8")
    ula = ipaddress.ip_network("fc00::/7")
    for v4, v6 in blocks:
        assert (
            v4.prefixlen == 24 and v4.subnet_of(loop) and v6.prefixlen == 48 and v6.subnet_of(ula)
        )
        assert not any(ipaddress.ip_address(a) in v4 for a, _ in addrs.values())
        assert not any(ipaddress.ip_address(b) in v6 for _, b in addrs.values())
    assert len({b[0] for b in blocks}) == len(blocks) == len({b[1] for b in blocks})
    assert client_block(sc, resolve_place("Lagos"))[0] == ipaddress.ip_network("127.64.0.0/24")
    with pytest.raises(KeyError):
        client_block(sc, resolve_place("Oslo"))


def test_health_tracker_hysteresis():
    from cdn.health import HealthTracker

    t = HealthTracker(["a", "b"], failures=3, successes=2)
    assert t.down == frozenset() and t.generation == 0
    # two failures, a success, two failures: the streak restarts, still up
    for ok in (False, False, True, False, False):
        assert t.observe("a", ok, now=1.0) is None
    change = t.observe("a", False, now=2.5)  # the third in a row
    assert change is not None and change.edge == "a" and not change.up and change.at == 2.5
    assert t.down == frozenset({"a"}) and t.generation == 1 and t.is_up("b")
    assert t.observe("a", False) is None  # already down
    assert t.observe("a", True) is None  # one success is not enough
    assert t.observe("a", False) is None  # and a failure resets it
    assert t.observe("a", True) is None
    change = t.observe("a", True)
    assert change is not None and change.up and change.streak == 2
    assert t.down == frozenset() and t.generation == 2
    with pytest.raises(ValueError):
        HealthTracker(["a"], failures=0)
