"""Place lookup: IATA codes, cities (accents, qualifiers, ambiguity), coordinates."""

from importlib import resources

import pytest

from cdn.geo import great_circle_km
from cdn.places import PlaceError, resolve_place, top_cities


@pytest.mark.parametrize(
    "code, lat, lon, country",
    [
        ("FRA", 50.0333, 8.5706, "DE"),  # published aerodrome reference points
        ("NRT", 35.7653, 140.3856, "JP"),
        ("GRU", -23.4356, -46.4731, "BR"),
    ],
)
def test_iata_codes(code, lat, lon, country):
    p = resolve_place(code)
    assert p.kind == "airport" and p.code == code and p.key == code
    assert abs(p.lat - lat) < 0.1 and abs(p.lon - lon) < 0.1
    assert p.country == country and p.timezone


def test_city_accents_both_ways_and_case():
    a, b, c = resolve_place("São Paulo"), resolve_place("Sao Paulo"), resolve_place("sao paulo")
    assert a == b == c
    assert a.country == "BR" and a.continent == "SA" and a.population > 10_000_000
    assert resolve_place("Zurich") == resolve_place("Zürich")


def test_dominant_city_wins():
    assert resolve_place("Lagos").country == "NG"  # not Lagos, Portugal
    assert resolve_place("London").country == "GB"  # not London, Ontario
    assert resolve_place("Paris").country == "FR"


def test_ambiguous_city_lists_candidates_and_how_to_pick():
    with pytest.raises(PlaceError) as err:
        resolve_place("Portland")
    msg = str(err.value)
    assert "ambiguous" in msg
    assert "US-OR" in msg and "US-ME" in msg and "United States" in msg
    assert '"Portland, US-OR"' in msg  # the hint says how to pick one


def test_qualified_city():
    oregon = resolve_place("Portland, US-OR")
    maine = resolve_place("Portland, US-ME")
    assert oregon.timezone == "America/Los_Angeles" and maine.timezone == "America/New_York"
    assert resolve_place("Portland, OR") == oregon
    assert resolve_place("Birmingham, GB").country == "GB"
    with pytest.raises(PlaceError, match="no city called"):
        resolve_place("Lagos, FR")


def test_unknown_place_suggests_close_names():
    with pytest.raises(PlaceError) as err:
        resolve_place("Lagoss")
    assert "did you mean" in str(err.value) and "Lagos, NG" in str(err.value)
    with pytest.raises(PlaceError):
        resolve_place("")


def test_coordinates():
    p = resolve_place(" 48.85 , 2.35 ")
    assert (p.lat, p.lon, p.kind) == (48.85, 2.35, "coord")
    for bad in ("95,0", "0,181", "-91,10"):
        with pytest.raises(PlaceError, match="latitude"):
            resolve_place(bad)


def test_top_cities_sorted_restricted_and_spread():
    world = top_cities(50)
    pops = [p.population for p in world]
    assert pops == sorted(pops, reverse=True) and len(world) == 50
    assert len({p.key for p in world}) == 50
    africa = top_cities(10, continent="AF")
    assert all(p.continent == "AF" for p in africa) and africa[0].key == "Kinshasa, CD"
    us = top_cities(10, country="US")
    assert all(p.country == "US" for p in us) and us[0].key == "New York City, US"
    # boroughs are part of their metro area, not separate client cities
    assert all(
        great_circle_km(a.lat, a.lon, b.lat, b.lon) > 25 for i, a in enumerate(us) for b in us[:i]
    )
    with pytest.raises(PlaceError, match="continent"):
        top_cities(5, continent="XX")


def test_every_city_has_a_timezone_and_the_data_is_small():
    assert all(p.timezone for p in top_cities(2000))
    data = resources.files("cdn.data").joinpath("cities.csv.gz")
    assert len(data.read_bytes()) < 1_500_000
