"""The offline world map: vendored Natural Earth data and antimeridian-safe arcs."""

import pytest

from cdn.geo import great_circle_km
from cdn.worldmap import great_circle_segments, world_features


def test_world_data_loads_offline():
    land, borders = world_features()
    assert len(land) > 100 and len(borders) > 100
    assert all(-180 <= x <= 180 and -90 <= y <= 90 for ring in land for x, y in ring)


@pytest.mark.parametrize(
    "a, b",
    [
        ((35.7, 139.7), (37.8, -122.4)),
        ((-33.9, 151.2), (34.1, -118.2)),
        ((64.8, -147.7), (43.1, 141.4)),
    ],
)
def test_transpacific_arcs_are_split_at_the_antimeridian(a, b):
    pieces = great_circle_segments(*a, *b)
    assert len(pieces) == 2
    for piece in pieces:
        for (x0, _), (x1, _) in zip(piece, piece[1:], strict=False):
            assert abs(x1 - x0) < 90  # no step smears across the map
    # the two cut ends meet at the same latitude on opposite edges
    assert abs(pieces[0][-1][0]) == 180 and pieces[1][0][0] == -pieces[0][-1][0]
    assert pieces[0][-1][1] == pytest.approx(pieces[1][0][1])


def test_arc_that_stays_on_the_map_is_one_piece_with_the_right_ends():
    (piece,) = great_circle_segments(51.5, -0.1, 40.7, -74.0)
    assert piece[0] == pytest.approx((-0.1, 51.5)) and piece[-1] == pytest.approx((-74.0, 40.7))
    length = sum(
        great_circle_km(y0, x0, y1, x1)
        for (x0, y0), (x1, y1) in zip(piece, piece[1:], strict=False)
    )
    assert length == pytest.approx(great_circle_km(51.5, -0.1, 40.7, -74.0), rel=1e-3)
