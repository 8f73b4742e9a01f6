"""Places the way CDN people name them.

CONTRACT (to be implemented by the places work): the public API below is what
the rest of the code relies on; keep these names and signatures.

- ``Place``: a frozen dataclass, one point on Earth with a display name.
- ``resolve_place(text) -> Place``: ``"FRA"`` (IATA), ``"São Paulo"`` /
  ``"Portland, US"`` / ``"Portland, US-OR"`` (city), or ``"lat,lon"``.
  Raises ``PlaceError`` (a ``UserError``) for unknown or ambiguous names; for an
  ambiguous city the message lists the candidates with their countries and says
  how to pick one.
- ``top_cities(n, continent=None, country=None) -> list[Place]``: the n most
  populous cities, optionally restricted; each Place has ``population`` set.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdn.errors import UserError


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
    region: str = ""  # ISO 3166-2 subdivision code, e.g. "US-OR"

    @property
    def key(self) -> str:
        """A short stable identifier (IATA code, or the name)."""
        return self.code or self.name
