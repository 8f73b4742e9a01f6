"""GeoIP: a MaxMind City database for the scenario's address plan, and lookups.

Theory of operation: the DNS server knows a client only by an address (the
packet's source, or the ECS subnet a resolver forwards). A GeoIP database maps
address blocks to cities. :func:`build_mmdb` writes one, in the GeoIP2-City
format, for the blocks :mod:`cdn.addressing` gives each client and resolver
place, so ``geoip2`` reads it like MaxMind's own City database and a user with
a real GeoIP2/GeoLite2 City database can run the server on it unchanged.

:class:`Locator` answers "where is this address, and for how wide a network
does that hold?" (the prefix length becomes the ECS scope). geoip2 does not
find IPv4-mapped IPv6 addresses (``::ffff:1.2.3.4``) in a database that stores
IPv4 under ``::/96``, so they are turned into IPv4 first. A record without a
location (or an address in no record) is unlocated: ``None``, and the router
applies its documented fallback.
"""

from __future__ import annotations

import ipaddress
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cdn.addressing import client_blocks
from cdn.places import CONTINENT_NAMES, Place
from cdn.scenario import Scenario

DATABASE_TYPE = "GeoIP2-City"
_LOCATE_CACHE_LIMIT = 100_000


def city_record(place: Place) -> dict:
    """The GeoIP2-City record of a place (fields geoip2's ``City`` model reads)."""
    from mmdb_writer import MmdbF64, MmdbU16

    # Typed wrappers: mmdb-writer dedups values by equality, so a bare 20.0
    # latitude would become a pointer to an earlier uint16 20 (20 == 20.0),
    # which libmaxminddb readers such as gdnsd reject.
    rec: dict = {
        "city": {"names": {"en": place.name}},
        "location": {
            "latitude": MmdbF64(float(place.lat)),
            "longitude": MmdbF64(float(place.lon)),
            "accuracy_radius": MmdbU16(20),
        },
    }
    if place.timezone:
        rec["location"]["time_zone"] = place.timezone
    if place.country:
        rec["country"] = {"iso_code": place.country, "names": {"en": place.country}}
    if place.continent:
        rec["continent"] = {
            "code": place.continent,
            "names": {"en": CONTINENT_NAMES.get(place.continent, place.continent)},
        }
    if place.region and "-" in place.region:
        rec["subdivisions"] = [{"iso_code": place.region.split("-", 1)[1]}]
    return rec


def build_mmdb(scenario: Scenario, path: str | os.PathLike) -> Path:
    """Write the scenario's City database to ``path`` (atomically) and return it."""
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(
        ip_version=6,
        ipv4_compatible=True,
        database_type=DATABASE_TYPE,
        languages=["en"],
        description=f"cdn-sim address plan for scenario {scenario.name}",
    )
    for place, (v4, v6) in client_blocks(scenario).items():
        rec = city_record(place)
        writer.insert_network(IPSet([str(v4)]), rec)
        writer.insert_network(IPSet([str(v6)]), rec)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        writer.to_db_file(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


@dataclass(frozen=True)
class Location:
    place: Place | None  # None: unlocated
    prefix_len: int  # of the database network holding the address (IPv4 or IPv6 bits)
    version: int  # 4 or 6, of the address actually looked up


def _place_from(resp) -> Place | None:
    loc = resp.location
    if loc.latitude is None or loc.longitude is None:
        return None
    city = resp.city.names.get("en") or resp.city.name
    country = resp.country.iso_code or ""
    name = city or country or f"{loc.latitude:.2f},{loc.longitude:.2f}"
    sub = resp.subdivisions.most_specific.iso_code if resp.subdivisions else None
    return Place(
        name=name,
        lat=float(loc.latitude),
        lon=float(loc.longitude),
        country=country,
        continent=resp.continent.code or "",
        kind="city" if city else "coord",
        timezone=loc.time_zone or "",
        region=f"{country}-{sub}" if sub and country else "",
    )


class Locator:
    """Locates addresses with any GeoIP2/GeoLite2 City database.

    ``places``: known places (the scenario's); a located record whose name and
    coordinates match one is returned as that very Place, so the router's
    precomputed tables apply.
    """

    def __init__(self, mmdb_path: str | os.PathLike, places: Iterable[Place] = ()):
        import geoip2.database

        self.path = str(mmdb_path)
        try:
            self._reader = geoip2.database.Reader(self.path)
        except (OSError, ValueError) as exc:
            from cdn.errors import UserError

            raise UserError(f"cannot open GeoIP database {self.path}: {exc}") from None
        meta = self._reader.metadata()
        self.database_type = meta.database_type
        self.ip_version = meta.ip_version
        self._known = {(p.name, round(p.lat, 4), round(p.lon, 4)): p for p in places}
        self._cache: dict[str, Location] = {}

    def close(self) -> None:
        self._reader.close()

    def lookup(self, address: str | ipaddress.IPv4Address | ipaddress.IPv6Address) -> Location:
        """Where ``address`` is, and the prefix length of the network it holds for."""
        key = str(address)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        import geoip2.errors

        addr = ipaddress.ip_address(key.split("%", 1)[0])
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        version = addr.version
        try:
            resp = self._reader.city(addr)
            place = _place_from(resp)
            prefix = resp.traits.network.prefixlen if resp.traits.network else addr.max_prefixlen
        except geoip2.errors.AddressNotFoundError as exc:
            place = None
            net = getattr(exc, "network", None)
            prefix = net.prefixlen if net is not None else addr.max_prefixlen
        except ValueError:  # an IPv6 address in an IPv4-only database
            place, prefix = None, 0
        if place is not None:
            place = self._known.get((place.name, round(place.lat, 4), round(place.lon, 4)), place)
        loc = Location(place, prefix, version)
        if len(self._cache) >= _LOCATE_CACHE_LIMIT:
            self._cache.clear()
        self._cache[key] = loc
        return loc

    def locate(self, address: str) -> Place | None:
        """The place of ``address``, or None when the database does not know it."""
        return self.lookup(address).place
