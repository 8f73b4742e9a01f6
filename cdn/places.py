"""Places the way CDN people name them.

Theory of operation: a place is one point on Earth with a display name. Users
write it three ways, tried in this order:

1. ``"FRA"``: three capital letters are an IATA airport code (``airportsdata``),
   the way PoPs are named.
2. ``"48.85,2.35"``: latitude and longitude in degrees.
3. ``"São Paulo"``, ``"Sao Paulo"``, ``"Portland, US-OR"``, ``"Lagos, NG"``: a
   city from the vendored GeoNames extract (every city of 15,000 or more
   inhabitants), matched without regard to case or accents, optionally
   qualified by a country code or ``CC-ADMIN1`` region code.

A bare city name that several cities share resolves to the most populous one
only when it is at least ten times as populous as the next (``"London"`` is
London, GB; ``"Lagos"`` is Lagos, NG). Otherwise the name is ambiguous and the
error lists the candidates and how to pick one. Data loads lazily, once.

>>> resolve_place("FRA").country
'DE'
>>> resolve_place("Lagos").key
'Lagos, NG'
"""

from __future__ import annotations

import csv
import difflib
import gzip
import io
import re
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources

from cdn.errors import UserError
from cdn.geo import great_circle_km

DOMINANCE = 10.0  # a bare name picks the top city only if it is this many times the next

CONTINENT_NAMES = {
    "AF": "Africa",
    "AN": "Antarctica",
    "AS": "Asia",
    "EU": "Europe",
    "NA": "North America",
    "OC": "Oceania",
    "SA": "South America",
}

# Short names people use for cities whose GeoNames name is longer or older.
ALIASES = {
    "new york": "New York City",
    "nyc": "New York City",
    "frankfurt": "Frankfurt am Main",
    "washington": "Washington, US-DC",
    "washington dc": "Washington, US-DC",
    "bombay": "Mumbai",
    "calcutta": "Kolkata",
    "madras": "Chennai",
    "saigon": "Ho Chi Minh City",
    "peking": "Beijing",
    "bangalore": "Bengaluru",
    "kiev": "Kyiv",
    "rio": "Rio de Janeiro",
    "la": "Los Angeles",
    "sf": "San Francisco",
}


class PlaceError(UserError):
    """An unknown or ambiguous place name."""


@dataclass(frozen=True)
class Place:
    name: str  # display name: "Frankfurt (FRA)", "Lagos, NG", "10.0,20.0"
    lat: float
    lon: float
    country: str = ""  # ISO 3166-1 alpha-2, "" when unknown
    continent: str = ""  # AF AN AS EU NA OC SA, "" when unknown
    kind: str = "coord"  # "airport" | "city" | "coord"
    code: str = ""  # IATA code for airports
    population: int = 0
    timezone: str = ""  # IANA name, "" when unknown
    region: str = ""  # country code and GeoNames admin1 code, e.g. "US-OR"

    @property
    def key(self) -> str:
        """A short stable identifier (IATA code, or the name)."""
        return self.code or self.name


_SEPARATORS = re.compile(r"[\s\-_.']+")


def fold(text: str) -> str:
    """Case- and accent-insensitive form used for matching names."""
    if text.isascii():  # nothing to decompose (NFKD leaves ASCII as it is)
        plain = text.casefold()
    else:
        decomposed = unicodedata.normalize("NFKD", text)
        plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return _SEPARATORS.sub(" ", plain).strip()


@cache
def countries() -> dict[str, tuple[str, str]]:
    """ISO country code -> (name, continent code)."""
    text = resources.files("cdn.data").joinpath("countries.csv").read_text(encoding="utf-8")
    return {r["cc"]: (r["name"], r["continent"]) for r in csv.DictReader(io.StringIO(text))}


@cache
def _cities() -> tuple[list[Place], dict[str, list[int]]]:
    """All vendored cities (most populous first) and an index from folded name to rows."""
    raw = resources.files("cdn.data").joinpath("cities.csv.gz").read_bytes()
    reader = csv.DictReader(io.StringIO(gzip.decompress(raw).decode("utf-8")))
    table = countries()
    rows = list(reader)
    folded = [fold(r["name"]) for r in rows]
    shared: dict[tuple[str, str], int] = {}
    for f, r in zip(folded, rows, strict=True):
        shared[f, r["cc"]] = shared.get((f, r["cc"]), 0) + 1
    cities: list[Place] = []
    index: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        cc = r["cc"]
        region = f"{cc}-{r['admin1']}" if r["admin1"] else cc
        # a name two cities of one country share is displayed with its region
        where = region if shared[folded[i], cc] > 1 else cc
        cities.append(
            Place(
                name=f"{r['name']}, {where}",
                lat=float(r["lat"]),
                lon=float(r["lon"]),
                country=cc,
                continent=table.get(cc, ("", ""))[1],
                kind="city",
                population=int(r["pop"]),
                timezone=r["tz"],
                region=region,
            )
        )
        ascii_name = r["ascii"]
        names = {folded[i], folded[i] if ascii_name == r["name"] else fold(ascii_name)}
        for n in names - {""}:
            index.setdefault(n, []).append(i)
    return cities, index


@cache
def _airports() -> dict:
    import airportsdata  # noqa: PLC0415 - loaded only when an airport is named

    return airportsdata.load("IATA")


def airport(code: str) -> Place:
    """The airport with this IATA code."""
    a = _airports().get(code.upper())
    if a is None:
        raise PlaceError(f"{code!r} is not a known IATA airport code")
    cc = a["country"]
    return Place(
        name=f"{a['city'] or a['name']} ({a['iata']})",
        lat=float(a["lat"]),
        lon=float(a["lon"]),
        country=cc,
        continent=countries().get(cc, ("", ""))[1],
        kind="airport",
        code=a["iata"],
        timezone=a["tz"] or "",
        region=cc,
    )


_COORD = re.compile(r"^\s*([+-]?\d+(?:\.\d+)?)\s*,\s*([+-]?\d+(?:\.\d+)?)\s*$")


def _coordinates(text: str) -> Place | None:
    m = _COORD.match(text)
    if not m:
        return None
    lat, lon = float(m.group(1)), float(m.group(2))
    if not -90 <= lat <= 90 or not -180 <= lon <= 180:
        raise PlaceError(
            f"{text!r}: latitude must be within -90..90 and longitude within -180..180"
        )
    return Place(name=f"{lat:g},{lon:g}", lat=lat, lon=lon)


def _describe(p: Place) -> str:
    country = countries().get(p.country, (p.country, ""))[0]
    return f"{p.name} (region {p.region}, {country}, population {p.population:,})"


def _city(text: str) -> Place:
    cities, index = _cities()
    name, _, qualifier = text.partition(",")
    folded = fold(name)
    if folded in ALIASES and not qualifier:
        return _city(ALIASES[folded])
    rows = index.get(folded) or index.get(fold(ALIASES.get(folded, "")), [])
    if not rows:
        close = difflib.get_close_matches(folded, index.keys(), n=5, cutoff=0.75)
        hint = f"; did you mean {', '.join(repr(cities[index[c][0]].name) for c in close)}?"
        raise PlaceError(
            f'{text!r} is not a known place: write an IATA airport code ("FRA"), a city '
            f'of 15,000+ inhabitants ("São Paulo", "Portland, US-OR") or "lat,lon"'
            + (hint if close else "")
        )
    candidates = [cities[i] for i in rows]  # most populous first
    q = qualifier.strip().upper()
    if q:
        candidates = [
            c for c in candidates if q in (c.country, c.region, c.region.split("-", 1)[-1])
        ]
        if not candidates:
            raise PlaceError(
                f"{text!r}: no city called {name.strip()!r} in {q!r}; candidates: "
                + "; ".join(_describe(cities[i]) for i in rows[:8])
            )
    if len(candidates) == 1 or candidates[0].population >= DOMINANCE * candidates[1].population:
        return candidates[0]
    listed = "; ".join(_describe(c) for c in candidates[:8])
    more = f" and {len(candidates) - 8} more" if len(candidates) > 8 else ""
    picks = " or ".join(f'"{name.strip()}, {c.region}"' for c in candidates[:2])
    raise PlaceError(
        f"{text!r} is ambiguous: {listed}{more}. Pick one with a country or region code, "
        f"for example {picks}"
    )


@lru_cache(maxsize=4096)
def resolve_place(text: str) -> Place:
    """A place from an IATA code, ``"lat,lon"`` or a city name (see the module doc)."""
    if not isinstance(text, str) or not text.strip():
        raise PlaceError(f"{text!r} is not a place name")
    text = text.strip()
    if re.fullmatch(r"[A-Z]{3}", text) and text in _airports():
        return airport(text)
    coords = _coordinates(text)
    if coords is not None:
        return coords
    return _city(text)


METRO_KM = 25.0  # a city this close to a bigger chosen one is part of its metro area


def top_cities(n: int, continent: str | None = None, country: str | None = None) -> list[Place]:
    """The ``n`` most populous cities, optionally within a continent or a country.

    Ordered by population (descending), then name; deterministic. A city within
    ``METRO_KM`` of a more populous chosen city (Brooklyn beside New York) is
    part of that metro area and is skipped, so client sets spread over the map.
    """
    if continent is not None and continent.upper() not in CONTINENT_NAMES:
        raise PlaceError(
            f"{continent!r} is not a continent code; allowed: {', '.join(CONTINENT_NAMES)}"
        )
    if country is not None and country.upper() not in countries():
        raise PlaceError(f"{country!r} is not an ISO 3166-1 alpha-2 country code")
    cities, _ = _cities()
    chosen = [
        c
        for c in cities
        if (continent is None or c.continent == continent.upper())
        and (country is None or c.country == country.upper())
    ]
    out: list[Place] = []
    for c in sorted(chosen, key=lambda c: (-c.population, c.name)):
        if len(out) >= n:
            break
        if all(great_circle_km(c.lat, c.lon, o.lat, o.lon) > METRO_KM for o in out):
            out.append(c)
    return out


def continent_name(code: str) -> str:
    """``"EU"`` -> ``"Europe"`` (the code itself when unknown)."""
    return CONTINENT_NAMES.get(code, code or "Unknown")
