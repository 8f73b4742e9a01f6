"""Great circles and light in fiber: the physics every latency starts from.

Light in fiber travels at c / 1.468 (the group index of standard single-mode
fiber), about 204,000 km/s, so each kilometre of fiber costs about 4.9 us one
way. Distances are great-circle distances on a sphere of the mean Earth radius
(haversine, accurate to about 0.5% against the ellipsoid).

>>> round(great_circle_km(51.5074, -0.1278, 40.7128, -74.0060))
5570
>>> round(fiber_rtt_ms(great_circle_km(51.5074, -0.1278, 40.7128, -74.0060)), 1)
54.6
"""

from __future__ import annotations

import math

import numpy as np

EARTH_RADIUS_KM = 6371.0088  # IUGG mean radius
SPEED_OF_LIGHT_KM_S = 299_792.458
FIBER_GROUP_INDEX = 1.468
FIBER_KM_PER_MS = SPEED_OF_LIGHT_KM_S / FIBER_GROUP_INDEX / 1000.0  # about 204.2 km per ms


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance in km between two points given in degrees."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def great_circle_km_array(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Vectorised :func:`great_circle_km` over numpy arrays (broadcasting)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dl = np.radians(np.asarray(lon2) - np.asarray(lon1))
    h = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(1.0, np.sqrt(h)))


def fiber_one_way_ms(km: float) -> float:
    """One-way propagation delay over ``km`` of fiber laid along the great circle."""
    return km / FIBER_KM_PER_MS


def fiber_rtt_ms(km: float) -> float:
    """Round-trip propagation delay over ``km`` of fiber: the physical floor."""
    return 2 * km / FIBER_KM_PER_MS


def intermediate_point(
    lat1: float, lon1: float, lat2: float, lon2: float, f: float
) -> tuple[float, float]:
    """The point a fraction ``f`` of the way along the great circle (for map arcs)."""
    p1, l1, p2, l2 = map(math.radians, (lat1, lon1, lat2, lon2))
    d = great_circle_km(lat1, lon1, lat2, lon2) / EARTH_RADIUS_KM
    if d == 0:
        return lat1, lon1
    a = math.sin((1 - f) * d) / math.sin(d)
    b = math.sin(f * d) / math.sin(d)
    x = a * math.cos(p1) * math.cos(l1) + b * math.cos(p2) * math.cos(l2)
    y = a * math.cos(p1) * math.sin(l1) + b * math.cos(p2) * math.sin(l2)
    z = a * math.sin(p1) + b * math.sin(p2)
    return math.degrees(math.atan2(z, math.hypot(x, y))), math.degrees(math.atan2(y, x))
