"""Units people write, and the physics everything else stands on."""

import math

import pytest

from cdn.geo import (
    FIBER_KM_PER_MS,
    fiber_rtt_ms,
    great_circle_km,
    great_circle_km_array,
    intermediate_point,
)
from cdn.units import (
    UnitError,
    format_duration,
    format_size,
    parse_bandwidth,
    parse_duration,
    parse_rate,
    parse_size,
)


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("250ms", 0.25),
        ("30s", 30),
        ("10m", 600),
        ("2h", 7200),
        ("1.5 s", 1.5),
        (7, 7),
        ("40us", 4e-5),
    ],
)
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text, nbytes",
    [("2GiB", 2 * 1024**3), ("500MB", 500 * 10**6), ("64KiB", 65536), ("1.5KB", 1500), (10, 10)],
)
def test_sizes(text, nbytes):
    assert parse_size(text) == nbytes


def test_bandwidths_and_rates():
    assert parse_bandwidth("100Mbit/s") == 100e6
    assert parse_bandwidth("1Gbps") == 1e9
    assert parse_bandwidth("12.5MB/s") == 100e6
    assert parse_rate("500/s") == 500
    assert parse_rate("30000/min") == 500


@pytest.mark.parametrize("bad", ["2 gigs", "fast", "", "10 parsecs", True, [1]])
def test_bad_units_say_what_is_allowed(bad):
    with pytest.raises(UnitError) as err:
        parse_size(bad)
    assert "size" in str(err.value)
    if isinstance(bad, str) and bad:
        assert "GiB" in str(err.value)  # the allowed units are listed


def test_formatting():
    assert format_size(1536) == "1.5 KiB"
    assert format_duration(0.0123) == "12.3 ms"


def test_london_new_york_great_circle_and_fiber_floor():
    km = great_circle_km(51.5074, -0.1278, 40.7128, -74.0060)
    assert km == pytest.approx(5570, rel=0.01)
    assert fiber_rtt_ms(km) == pytest.approx(54.6, abs=0.2)
    # 4.9 microseconds per km one way
    assert 1000 / FIBER_KM_PER_MS == pytest.approx(4.9, abs=0.01)


def test_half_the_planet():
    km = great_circle_km(0, 0, 0, 180)
    assert km == pytest.approx(math.pi * 6371.0088)
    assert fiber_rtt_ms(km) == pytest.approx(196, abs=1.5)


def test_vectorised_great_circle_agrees():
    import numpy as np

    lat = np.array([51.5, -33.9, 35.7])
    lon = np.array([-0.1, 151.2, 139.7])
    got = great_circle_km_array(lat[:, None], lon[:, None], lat[None, :], lon[None, :])
    for i in range(3):
        for j in range(3):
            assert got[i, j] == pytest.approx(great_circle_km(lat[i], lon[i], lat[j], lon[j]))


def test_intermediate_point_lies_on_the_great_circle():
    a, b = (51.5, -0.1), (40.7, -74.0)
    mid = intermediate_point(*a, *b, 0.5)
    total = great_circle_km(*a, *b)
    assert great_circle_km(*a, *mid) == pytest.approx(total / 2, rel=1e-6)
    assert great_circle_km(*mid, *b) == pytest.approx(total / 2, rel=1e-6)
