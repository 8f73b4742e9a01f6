"""The scenario's MaxMind DB, round-tripped through geoip2 and the Locator."""

from __future__ import annotations

import ipaddress

import geoip2.database
import geoip2.errors
import maxminddb
import pytest

from cdn.addressing import client_blocks
from cdn.geoip import Locator, build_mmdb
from cdn.places import resolve_place
from cdn.scenario import ResolverGroup
from tests.conftest import run_cdn
from tests.test_routing import CLIENTS, make_scenario


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    sc = make_scenario(
        # "20,20": a latitude equal to an integer stored elsewhere (accuracy_radius 20)
        clients=(*CLIENTS, "20,20", "-4,8"),
        resolvers=(ResolverGroup("public", "public", 1.0, places=(resolve_place("SIN"),)),),
    )
    path = build_mmdb(sc, tmp_path_factory.mktemp("geoip") / "clients.mmdb")
    return sc, path


def test_geoip2_reads_every_block_ipv4_and_ipv6(built):
    sc, path = built
    with geoip2.database.Reader(str(path)) as reader:
        assert reader.metadata().database_type == "GeoIP2-City"
        blocks = client_blocks(sc)
        assert len(blocks) == len(sc.clients) + 1
        for place, (v4, v6) in blocks.items():
            for addr in (v4[0], v4[200], v4[-1], v6[1], v6[-1]):
                r = reader.city(str(addr))
                assert r.city.names["en"] == place.name
                assert (r.country.iso_code or "") == place.country
                assert (r.continent.code or "") == place.continent
                assert r.location.latitude == pytest.approx(place.lat)
                assert r.location.longitude == pytest.approx(place.lon)
                assert (r.location.time_zone or "") == place.timezone
                assert r.traits.network == (v4 if addr.version == 4 else v6)
                assert r.location.accuracy_radius == 20
        # the raw record holds doubles for coordinates (libmaxminddb readers insist)
        with maxminddb.open_database(str(path)) as raw:
            for v4, _ in blocks.values():
                loc = raw.get(str(v4[1]))["location"]
                assert type(loc["latitude"]) is float and type(loc["longitude"]) is float
                assert type(loc["accuracy_radius"]) is int
        # addresses outside every block are not found
        for addr in ("127.0.0.1", "127.0.1.1", "8.8.8.8", "fd00:cd::1:1", "2001:db8::1"):
            with pytest.raises(geoip2.errors.AddressNotFoundError):
                reader.city(addr)


def test_locator_normalises_ipv4_mapped_and_returns_the_scenario_places(built):
    sc, path = built
    places = [c.place for c in sc.clients]
    loc = Locator(path, places)
    tokyo = resolve_place("Tokyo")
    v4, v6 = client_blocks(sc)[tokyo]
    a = loc.lookup(str(v4[9]))
    assert a.place is tokyo and a.prefix_len == 24 and a.version == 4
    mapped = loc.lookup(f"::ffff:{v4[9]}")
    assert mapped == a
    # geoip2 itself does not find the mapped form: that is why we normalise
    with (
        geoip2.database.Reader(str(path)) as reader,
        pytest.raises(geoip2.errors.AddressNotFoundError),
    ):
        reader.city(f"::ffff:{v4[9]}")
    b = loc.lookup(str(v6[77]))
    assert b.place is tokyo and b.prefix_len == 48 and b.version == 6
    # a place not passed to the Locator still comes back with its fields
    sin = loc.lookup(str(client_blocks(sc)[resolve_place("SIN")][0][1])).place
    assert (
        sin is not None
        and sin.country == "SG"
        and sin.lat == pytest.approx(resolve_place("SIN").lat)
    )
    # unlocated: None, with the width of the empty network around it
    nowhere = loc.lookup("127.0.0.1")
    assert nowhere.place is None and 0 < nowhere.prefix_len <= 24
    assert ipaddress.ip_address("127.0.0.1") not in v4
    assert loc.locate("2001:db8::1") is None
    loc.close()


def test_cli_builds_the_database_and_looks_up(tmp_path):
    out = tmp_path / "q.mmdb"
    r = run_cdn("geoip", "build", "quickstart", "-o", str(out), timeout=120)
    assert r.returncode == 0, r.stderr
    assert out.is_file() and "127.64.0.0/24" in r.stdout
    assert not list(tmp_path.glob("*.tmp"))
    r = run_cdn("geoip", "lookup", str(out), "127.64.0.9", "::ffff:127.64.0.9", "10.1.1.1")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "/24" in lines[0] and "New York" in lines[0] and "New York" in lines[1]
    assert "not located" in lines[2]
    r = run_cdn("geoip", "lookup", str(out), "not-an-ip")
    assert r.returncode == 2 and "not an IPv4 or IPv6 address" in r.stderr
    r = run_cdn("geoip", "lookup", str(tmp_path / "missing.mmdb"), "127.0.0.1")
    assert r.returncode == 2 and "cannot open GeoIP database" in r.stderr
