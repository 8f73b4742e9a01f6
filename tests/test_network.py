"""The network model: physics, paths that bend, accuracy on measured RTTs, the CLI."""

from __future__ import annotations

import csv
import hashlib
import math

import numpy as np
import pytest

from cdn import backbone
from cdn.geo import FIBER_KM_PER_MS, fiber_rtt_ms, great_circle_km, great_circle_km_array
from cdn.network import ModelParams, NetworkError, NetworkModel, build_graph
from cdn.places import Place
from cdn.scenario import BackboneLink, BackboneNode, Network
from tests.conftest import DATA, run_cdn

LONDON = Place("London", 51.5074, -0.1278)
NEW_YORK = Place("New York", 40.7128, -74.0060)
LAGOS = Place("Lagos, NG", 6.4541, 3.3947)
MUMBAI = Place("Mumbai, IN", 19.0760, 72.8777)
SAO_PAULO = Place("Sao Paulo, BR", -23.5505, -46.6333)
FRANKFURT = Place("Frankfurt, DE", 50.1109, 8.6821)
SYDNEY = Place("Sydney, AU", -33.8688, 151.2093)
NAIROBI = Place("Nairobi, KE", -1.2921, 36.8219)
TOKYO = Place("Tokyo, JP", 35.6762, 139.6503)
HONOLULU = Place("Honolulu, US", 21.3069, -157.8583)
PLACES = [LONDON, NEW_YORK, LAGOS, MUMBAI, SAO_PAULO, FRANKFURT, SYDNEY, NAIROBI, TOKYO, HONOLULU]


@pytest.fixture(scope="module")
def model() -> NetworkModel:
    return NetworkModel.default()


def load_calibration():
    with open(DATA / "rtt_calibration.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    cols = {
        c: np.array([float(r[c]) for r in rows])
        for c in ("lat_a", "lon_a", "lat_b", "lon_b", "rtt_ms")
    }
    # deterministic split by pair name: half 0 chose the parameters, half 1 is held out
    half = np.array(
        [
            int(hashlib.sha256(f"{r['city_a']}|{r['city_b']}".encode()).hexdigest(), 16) % 2
            for r in rows
        ]
    )
    return rows, cols, half


def score(pred: np.ndarray, measured: np.ndarray) -> tuple[float, float]:
    """(median absolute percentage error, percentage of pairs within +-20%)."""
    err = np.abs(pred - measured) / measured
    return float(np.median(err) * 100), float(np.mean(err <= 0.20) * 100)


# physics ---------------------------------------------------------------------------


def test_london_new_york_great_circle_and_fiber_floor():
    km = great_circle_km(LONDON.lat, LONDON.lon, NEW_YORK.lat, NEW_YORK.lon)
    assert km == pytest.approx(5570, rel=0.01)
    # independent reference: 2 * km / (c / 1.468), with c in km/ms
    assert fiber_rtt_ms(km) == pytest.approx(2 * km * 1.468 / 299.792458, rel=1e-9)
    assert fiber_rtt_ms(km) == pytest.approx(54.6, abs=0.2)


def test_rtt_never_below_fiber_floor_and_symmetric(model):
    rng = np.random.default_rng(7)
    pts = [Place(f"p{i}", float(la), float(lo)) for i, (la, lo) in enumerate(
        zip(rng.uniform(-60, 70, 60), rng.uniform(-180, 180, 60), strict=True))] + PLACES  # fmt: skip
    for a in pts:
        for b in pts:
            rtt = model.rtt_ms(a, b)
            floor = fiber_rtt_ms(great_circle_km(a.lat, a.lon, b.lat, b.lon))
            assert rtt >= floor - 1e-9, (a, b)
            assert rtt == model.rtt_ms(b, a)


def test_builtin_backbone_data_is_sound():
    names = [n for n, _, _ in backbone.NODES]
    assert len(names) == len(set(names)) and 40 <= len(names) <= 120
    assert all(-90 <= lat <= 90 and -180 <= lon <= 180 for _, lat, lon in backbone.NODES)
    pairs = [frozenset(link[:2]) for link in backbone.LINKS]
    assert len(pairs) == len(set(pairs)), "a corridor is listed twice"
    linked = set().union(*pairs)
    assert linked == set(names), f"nodes without links: {set(names) - linked}"


def test_every_backbone_link_is_at_least_its_great_circle(model):
    for _u, _v, e in model.graph.edges(data=True):
        assert e["ms"] >= e["km"] / FIBER_KM_PER_MS
        assert e["kind"] in (backbone.LAND, backbone.SEA)


def test_access_delay_is_one_way_per_end(model):
    base = model.rtt_ms(LONDON, NEW_YORK)
    assert model.rtt_ms(LONDON, NEW_YORK, 0.005, 0.010) == pytest.approx(base + 30.0)


def test_same_place_costs_only_the_access(model):
    assert model.rtt_ms(LONDON, LONDON) < 5.0
    near = Place("Near London", 51.6, -0.2)
    assert model.path(LONDON, near)[0] == "London"
    assert model.rtt_ms(LONDON, near) < 5.0


def test_neighbours_far_from_the_backbone_talk_directly(model):
    # two ships in the South Pacific, 111 km apart, thousands of km from any PoP
    a, b = Place("ship a", -40.0, -130.0), Place("ship b", -41.0, -130.0)
    assert model.path(a, b) == ["ship a", "ship b"]
    km = great_circle_km(a.lat, a.lon, b.lat, b.lon)
    p = ModelParams()
    assert model.rtt_ms(a, b) == pytest.approx(
        2 * (km * p.access_stretch / FIBER_KM_PER_MS + p.hop_ms)
    )
    assert model.rtt_pairs_ms([a.lat], [a.lon], [b.lat], [b.lon])[0] == pytest.approx(
        model.rtt_ms(a, b)
    )


# paths bend the way real ones do ------------------------------------------------------


def test_lagos_to_mumbai_goes_through_europe_or_the_middle_east(model):
    path = model.path(LAGOS, MUMBAI)
    via = set(path[1:-1])
    assert via & {
        "Lisbon",
        "Marseille",
        "Palermo",
        "London",
        "Suez",
        "Jeddah",
        "Djibouti",
        "Fujairah",
    }
    # not straight: well above the great-circle floor
    floor = fiber_rtt_ms(great_circle_km(LAGOS.lat, LAGOS.lon, MUMBAI.lat, MUMBAI.lon))
    assert model.rtt_ms(LAGOS, MUMBAI) > 1.5 * floor


def test_sao_paulo_to_europe_via_fortaleza_lisbon_or_the_us(model):
    path = model.path(SAO_PAULO, FRANKFURT)
    assert ("Fortaleza" in path and "Lisbon" in path) or ({"Miami", "New York"} & set(path))


def test_pacific_and_indian_ocean_routes(model):
    assert "Honolulu" in model.path(HONOLULU, SYDNEY) or "Guam" in model.path(HONOLULU, SYDNEY)
    path = model.path(NAIROBI, LONDON)
    assert path[1] in ("Nairobi", "Mombasa")


def test_route_adds_up_and_path_names(model):
    hops = model.route(LAGOS, MUMBAI)
    assert hops[0].kind == "access" and hops[-1].kind == "access"
    assert 2 * sum(h.one_way_ms for h in hops) == pytest.approx(model.rtt_ms(LAGOS, MUMBAI))
    assert (
        model.path(LAGOS, MUMBAI)[0] == "Lagos, NG"
        and model.path(LAGOS, MUMBAI)[-1] == "Mumbai, IN"
    )
    assert model.bandwidth_bps(LAGOS, MUMBAI) == math.inf


# vectorised forms agree with the scalar one -------------------------------------------


def test_matrix_and_pairs_agree_with_rtt_ms(model):
    mat = model.rtt_matrix_ms(PLACES, PLACES[:4], access_a=0.002, access_b=0.0)
    for r, a in enumerate(PLACES):
        for c, b in enumerate(PLACES[:4]):
            assert mat[r, c] == pytest.approx(model.rtt_ms(a, b, 0.002, 0.0))
    la, oa = [p.lat for p in PLACES], [p.lon for p in PLACES]
    lb, ob = la[::-1], oa[::-1]
    pairs = model.rtt_pairs_ms(la, oa, lb, ob)
    for i, (a, b) in enumerate(zip(PLACES, PLACES[::-1], strict=True)):
        assert pairs[i] == pytest.approx(model.rtt_ms(a, b))


# accuracy against measured RTTs -----------------------------------------------------


def test_accuracy_on_calibration_data(model):
    rows, c, half = load_calibration()
    assert len(rows) == 1276
    pred = model.rtt_pairs_ms(c["lat_a"], c["lon_a"], c["lat_b"], c["lon_b"])
    km = great_circle_km_array(c["lat_a"], c["lon_a"], c["lat_b"], c["lon_b"])
    assert np.all(pred >= 2 * km / FIBER_KM_PER_MS - 1e-9)
    mdape, within = score(pred, c["rtt_ms"])
    fit, hold = (
        score(pred[half == 0], c["rtt_ms"][half == 0]),
        score(pred[half == 1], c["rtt_ms"][half == 1]),
    )
    # the best single multiplier on great-circle fiber, as the baseline to beat
    plain = min(score(2 * km * s / FIBER_KM_PER_MS, c["rtt_ms"]) for s in np.arange(1.0, 2.5, 0.05))
    print(
        f"\nnetwork model on {len(rows)} measured pairs: MdAPE {mdape:.1f}%, within +-20% {within:.1f}%"
        f"\n  fit half ({(half == 0).sum()}): MdAPE {fit[0]:.1f}%, within {fit[1]:.1f}%"
        f"\n  held-out half ({(half == 1).sum()}): MdAPE {hold[0]:.1f}%, within {hold[1]:.1f}%"
        f"\n  best plain multiplier on the fiber floor: MdAPE {plain[0]:.1f}%, within {plain[1]:.1f}%"
    )
    assert mdape <= 12.0 and within >= 80.0
    assert hold[0] <= 12.0 and hold[1] >= 80.0
    assert mdape < plain[0] - 3.0  # the backbone earns its keep


# custom backbones ----------------------------------------------------------------------


def test_custom_backbone_from_network_config():
    a, b, c = Place("A", 0.0, 0.0), Place("B", 0.0, 10.0), Place("C", 10.0, 5.0)
    net = Network(
        nodes=(BackboneNode("A", a), BackboneNode("B", b), BackboneNode("C", c)),
        links=(
            BackboneLink("A", "C", stretch=1.0),
            BackboneLink("C", "B", latency=0.020, bandwidth=1e9),
        ),
    )
    m = NetworkModel.from_config(net)
    assert m.path(a, b) == ["A", "A", "C", "B", "B"]  # no A-B link: the path bends through C
    km_ac = great_circle_km(0, 0, 10, 5)
    hop = ModelParams().hop_ms
    expected_one_way = (hop + 0.0) * 2 + km_ac / FIBER_KM_PER_MS + hop + 20.0
    assert m.rtt_ms(a, b) == pytest.approx(2 * expected_one_way)
    assert m.bandwidth_bps(a, b) == 1e9
    assert m.bandwidth_bps(a, c) == math.inf


def test_config_links_on_the_default_backbone_and_errors():
    net = Network(links=(BackboneLink("London", "New York", bandwidth=10e9),))
    m = NetworkModel.from_config(net)
    assert m.bandwidth_bps(LONDON, NEW_YORK) == 10e9
    assert m.rtt_ms(LONDON, NEW_YORK) == pytest.approx(
        NetworkModel.default().rtt_ms(LONDON, NEW_YORK)
    )
    assert NetworkModel.from_config(Network()) is NetworkModel.default()
    with pytest.raises(NetworkError, match="Lodnon.*did you mean London"):
        NetworkModel.from_config(Network(links=(BackboneLink("Lodnon", "Paris"),)))
    nodes = (BackboneNode("X", Place("X", 0, 0)), BackboneNode("Y", Place("Y", 0, 1)))
    with pytest.raises(NetworkError, match="not connected"):
        NetworkModel.from_config(Network(nodes=nodes, links=()))
    with pytest.raises(NetworkError, match="stretch must be >= 1"):
        NetworkModel.from_config(Network(nodes=nodes, links=(BackboneLink("X", "Y", stretch=0.5),)))


def test_build_graph_rejects_unknown_nodes():
    with pytest.raises(NetworkError, match="unknown backbone node 'Nowhere'"):
        build_graph([("A", 0, 0)], [("A", "Nowhere", "land")])


# the CLI ---------------------------------------------------------------------------------


def test_cli_rtt_two_places():
    r = run_cdn("rtt", "51.5074,-0.1278", "40.7128,-74.0060", timeout=60)
    assert r.returncode == 0, r.stderr
    assert "predicted RTT" in r.stdout and "great circle" in r.stdout and "fiber floor" in r.stdout
    assert "5,570 km" in r.stdout and "54.6 ms" in r.stdout
    assert "London -> New York" in r.stdout  # the path with per-hop latencies
    rtt = NetworkModel.default().rtt_ms(LONDON, NEW_YORK)
    assert f"{rtt:.1f} ms" in r.stdout


def test_cli_rtt_csv(tmp_path):
    src = tmp_path / "pairs.csv"
    src.write_text(
        "name,lat_a,lon_a,lat_b,lon_b\nlhr-jfk,51.5074,-0.1278,40.7128,-74.0060\nself,0,0,0,0\n"
    )
    r = run_cdn("rtt", "--csv", str(src), timeout=60)
    assert r.returncode == 0, r.stderr
    out = list(csv.DictReader(r.stdout.splitlines()))
    assert [row["name"] for row in out] == ["lhr-jfk", "self"]
    assert float(out[0]["rtt_ms"]) == pytest.approx(
        NetworkModel.default().rtt_ms(LONDON, NEW_YORK), abs=0.01
    )
    dst = tmp_path / "out.csv"
    r = run_cdn("rtt", "--csv", str(src), "-o", str(dst), timeout=60)
    assert r.returncode == 0, r.stderr
    assert list(csv.DictReader(dst.open()))[0]["rtt_ms"] == out[0]["rtt_ms"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv", "pairs.csv"]  # no temp left


def test_cli_rtt_csv_errors(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("lat_a,lon_a,lat_b,lon_b\n1,2,3,4\n1,2,x,4\n")
    r = run_cdn("rtt", "--csv", str(bad), timeout=60)
    assert r.returncode == 2
    assert "line 3" in r.stderr and "lat_b" in r.stderr and "Traceback" not in r.stderr
    bad.write_text("lat_a,lon_a,lat_b,lon_b\n1,2,3,400\n")
    r = run_cdn("rtt", "--csv", str(bad), timeout=60)
    assert r.returncode == 2 and "line 2" in r.stderr and "-180 to 180" in r.stderr
    bad.write_text("lat,lon\n1,2\n")
    r = run_cdn("rtt", "--csv", str(bad), timeout=60)
    assert r.returncode == 2 and "missing column" in r.stderr
