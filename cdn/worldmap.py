"""An offline world map for matplotlib: Natural Earth land, borders and arcs.

Theory of operation: the map is equirectangular (x = longitude, y = latitude),
which needs no projection library and reads well for a world of PoPs. Land
polygons and border lines come from the vendored Natural Earth 110m GeoJSON.
Great-circle arcs are sampled with :func:`cdn.geo.intermediate_point`; where
consecutive samples jump by more than 180 degrees of longitude the arc crosses
the antimeridian, so it is cut there into pieces that each end on the map's
edge, and is never smeared across the whole map.
"""

from __future__ import annotations

import gzip
import json
from functools import cache
from importlib import resources

from cdn.geo import great_circle_km, intermediate_point


@cache
def world_features() -> tuple[list[list[tuple[float, float]]], list[list[tuple[float, float]]]]:
    """(land rings, border lines) as lists of (lon, lat) vertex lists."""
    raw = resources.files("cdn.data").joinpath("world_110m.geojson.gz").read_bytes()
    data = json.loads(gzip.decompress(raw))
    land: list[list[tuple[float, float]]] = []
    borders: list[list[tuple[float, float]]] = []
    for feature in data["features"]:
        geom = feature["geometry"]
        layer = (feature.get("properties") or {}).get("layer")
        if geom["type"] == "Polygon":
            land.extend([[tuple(p) for p in ring] for ring in geom["coordinates"][:1]])
        elif geom["type"] == "MultiPolygon":
            land.extend([[tuple(p) for p in poly[0]] for poly in geom["coordinates"]])
        elif geom["type"] == "LineString" and layer != "land":
            borders.append([tuple(p) for p in geom["coordinates"]])
    return land, borders


def great_circle_segments(
    lat1: float, lon1: float, lat2: float, lon2: float, step_km: float = 200.0
) -> list[list[tuple[float, float]]]:
    """The great circle from point 1 to point 2 as (lon, lat) polylines, split at
    the antimeridian so that no piece spans the map."""
    n = max(2, int(great_circle_km(lat1, lon1, lat2, lon2) / step_km) + 1)
    pts = [intermediate_point(lat1, lon1, lat2, lon2, i / (n - 1)) for i in range(n)]
    pieces: list[list[tuple[float, float]]] = [[(pts[0][1], pts[0][0])]]
    for (la0, lo0), (la1, lo1) in zip(pts, pts[1:], strict=False):
        if abs(lo1 - lo0) > 180:  # crossed the antimeridian between these samples
            edge = 180.0 if lo0 > 0 else -180.0
            span = (lo1 + 360 if lo0 > 0 else lo1 - 360) - lo0
            f = (edge - lo0) / span if span else 0.5
            lat_cross = la0 + f * (la1 - la0)
            pieces[-1].append((edge, lat_cross))
            pieces.append([(-edge, lat_cross)])
        pieces[-1].append((lo1, la1))
    return pieces


def draw_world(ax, *, land_color: str = "#e8e8e8", border_color: str = "#ffffff") -> None:
    """Draw land and borders on ``ax`` with an equirectangular frame."""
    from matplotlib.collections import LineCollection, PolyCollection  # noqa: PLC0415

    land, borders = world_features()
    ax.add_collection(PolyCollection(land, facecolor=land_color, edgecolor="none", zorder=0))
    ax.add_collection(LineCollection(borders, colors=border_color, linewidths=0.4, zorder=1))
    ax.set_xlim(-180, 180)
    ax.set_ylim(-60, 85)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
