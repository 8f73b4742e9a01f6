"""The loopback address plan: where edges listen and which addresses stand for which city.

Theory of operation: a live CDN in a box needs every edge on its own address and
every client population on addresses the DNS server can locate. All of it sits
on loopback, so nothing leaves the machine: Linux answers on the whole of
127.0.0.0/8, and a client "in Tokyo" simply binds its socket to an address of
Tokyo's block before it sends. The plan is a pure function of the scenario's
order of edges and places, so the GeoIP database, the DNS server, `cdn serve`
and the tests all agree without talking to each other.

- Edge ``i`` of tier "edge" (scenario order): ``127.0.1.(i+1)`` and
  ``fd00:cd::1:(i+1)``.  Shields are not answered by DNS and get no address here.
  Only the IPv4 address works out of the box (IPv6 loopback is ``::1`` alone),
  so the DNS server answers AAAA with NODATA unless told the IPv6 addresses
  were set up (``cdn dns --aaaa``).
- Located place ``j`` (the scenario's client places in order, then the public
  resolver sites not already listed, deduplicated by place): the IPv4 /24
  ``127.(64 + j // 256).(j % 256).0/24`` and the IPv6 /48 ``fd00:cd:(j+1)::/48``
  (a ULA range, RFC 4193, so it can never collide with a real network).

>>> plan_block(0)
(IPv4Network('127.64.0.0/24'), IPv6Network('fd00:cd:1::/48'))
"""

from __future__ import annotations

import ipaddress
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

from cdn.errors import UserError
from cdn.places import Place
from cdn.scenario import Scenario

MAX_EDGES = 254
MAX_PLACES = 192 * 256  # second octet 64..255
CLIENT_V4_PREFIX = 24
CLIENT_V6_PREFIX = 48
NS_ADDRESS_V4 = IPv4Address("127.0.0.1")


def answered_edges(scenario: Scenario) -> list[str]:
    """Names of the edges DNS hands out (tier "edge"), in scenario order."""
    return [e.name for e in scenario.edges if e.tier == "edge"]


def edge_address_by_index(i: int) -> tuple[IPv4Address, IPv6Address]:
    if not 0 <= i < MAX_EDGES:
        raise ValueError(f"edge index {i} outside 0..{MAX_EDGES - 1}")
    return IPv4Address(f"127.0.1.{i + 1}"), IPv6Address(f"fd00:cd::1:{i + 1:x}")


def edge_address(scenario: Scenario, name: str) -> tuple[IPv4Address, IPv6Address]:
    """The (IPv4, IPv6) loopback addresses of the edge called ``name``."""
    names = answered_edges(scenario)
    if name not in names:
        raise KeyError(f"{name!r} is not an edge answered by DNS; edges: {', '.join(names)}")
    return edge_address_by_index(names.index(name))


def edge_addresses(scenario: Scenario) -> dict[str, tuple[IPv4Address, IPv6Address]]:
    """All answered edges -> (IPv4, IPv6), in scenario order."""
    return {n: edge_address_by_index(i) for i, n in enumerate(answered_edges(scenario))}


def located_places(scenario: Scenario) -> list[Place]:
    """The places that own address blocks: client places, then public resolver
    sites, each once (first occurrence wins), in a stable order."""
    seen: dict[Place, None] = {}
    for c in scenario.clients:
        seen.setdefault(c.place, None)
    for r in scenario.resolvers:
        for p in r.places:
            seen.setdefault(p, None)
    if len(seen) > MAX_PLACES:
        raise ValueError(f"{len(seen)} located places; the address plan holds {MAX_PLACES}")
    return list(seen)


def plan_block(j: int) -> tuple[IPv4Network, IPv6Network]:
    """The (IPv4 /24, IPv6 /48) blocks of located place number ``j``."""
    if not 0 <= j < MAX_PLACES:
        raise ValueError(f"place index {j} outside 0..{MAX_PLACES - 1}")
    v4 = IPv4Network(f"127.{64 + j // 256}.{j % 256}.0/{CLIENT_V4_PREFIX}")
    v6 = IPv6Network(f"fd00:cd:{j + 1:x}::/{CLIENT_V6_PREFIX}")
    return v4, v6


def client_blocks(scenario: Scenario) -> dict[Place, tuple[IPv4Network, IPv6Network]]:
    """Every located place -> its (IPv4, IPv6) blocks."""
    return {p: plan_block(j) for j, p in enumerate(located_places(scenario))}


def client_block(scenario: Scenario, place: Place) -> tuple[IPv4Network, IPv6Network]:
    """The (IPv4 /24, IPv6 /48) blocks of a client or resolver place of the scenario."""
    places = located_places(scenario)
    try:
        return plan_block(places.index(place))
    except ValueError:
        raise KeyError(
            f"{place.name!r} is not a client or resolver place of the scenario"
        ) from None


def client_address(scenario: Scenario, place: Place, host: int = 1, v6: bool = False) -> str:
    """A usable source address inside the place's block (``host`` picks which)."""
    v4net, v6net = client_block(scenario, place)
    net = v6net if v6 else v4net
    return str(net.network_address + host)


def parse_address(text: str) -> IPv4Address | IPv6Address:
    """An address with IPv4-mapped IPv6 (``::ffff:1.2.3.4``) turned into IPv4."""
    addr = ipaddress.ip_address(text.split("%", 1)[0])
    if isinstance(addr, IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def parse_hostport(text: str, what: str = "--listen") -> tuple[str, int]:
    """``"127.0.0.1:8080"``, ``"[::1]:8080"`` or ``":8080"`` -> (host, port).

    One parser for every ``--listen``-style option, so that all servers agree:
    an empty host means 127.0.0.1 (never every interface unless asked for with
    0.0.0.0 or ::), and the port is 1-65535.
    """
    host, sep, port = str(text).rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(
            f"{what} {text!r}: write ADDR:PORT (HOST:PORT) with a port 1-65535, "
            "e.g. 127.0.0.1:8080 or [::1]:8080; an empty host means 127.0.0.1"
        )
    return (host.strip("[]") or "127.0.0.1"), int(port)
