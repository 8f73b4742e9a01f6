"""Distance emulation for the live CDN: delays that make loopback look like the world.

Theory of operation
-------------------
On loopback every round trip takes microseconds. To let ``cdn serve`` and
``cdn load`` measure what users far away would wait, each server *sleeps* the
time the network model (:mod:`cdn.network`, :mod:`cdn.transfer`) predicts for
the exchange it is answering, just before it sends its response headers. The
delay is exactly the simulator's arithmetic for the same request, so a live
measurement and a simulated one differ only by what really happens on this
machine (processing, scheduling, loopback copies):

- **client -> edge**: the edge locates the client by its source address (the
  scenario's GeoIP database, :mod:`cdn.addressing` blocks) and delays the
  response by ``fetch_time_ms(rtt, bytes, new_connection, tls, bandwidth)``
  with ``rtt = NetworkModel.rtt_ms(client, edge, client access delay)`` and
  the client's bandwidth capped by ``network.bandwidth``. That is 1 RTT of
  request-to-first-byte plus the slow-start rounds of the body (bandwidth
  limited), plus, on the *first request of a TCP connection*, the handshake
  round trips (1 for TCP, 1 more for TLS when ``network.tls``).
- **edge -> upstream** (origin, or a shield for a tiered edge): the upstream
  server delays its response by ``fetch_time_ms(rtt, bytes, new_connection=False,
  bandwidth=min(server_bandwidth, backbone))``, as the simulator does for an
  edge's warm, reused upstream connections. The upstream knows which edge
  calls by the last entry of the ``Via`` field the edge adds.

What is *not* emulated: handshakes are not delayed at the TCP level (the SYN
exchange on loopback is instant; its modelled time is added to the first
response instead, and there is no TLS at all); packet loss, queueing and
bandwidth sharing between concurrent transfers; bodies of unknown length
(chunked) count as 0 bytes; DNS is answered at loopback speed (``cdn load``
adds the modelled resolver round trips on the client side, see
:mod:`cdn.live_load`). Clients that the GeoIP database cannot place (``curl``
from 127.0.0.1) get no client-side delay; 304s and HEADs count as 0 body
bytes. The origin's service time is its own (seeded) sleep, not part of this.

What belongs here: :class:`DelayModel` (pure: places in, milliseconds out, no
clock, no I/O) and the two small aiohttp adapters that apply it
(:func:`install_edge_emulation`, :func:`install_origin_emulation`).
"""

from __future__ import annotations

import asyncio
import math
import weakref
from dataclasses import dataclass

from cdn import transfer
from cdn.network import NetworkModel
from cdn.places import Place
from cdn.scenario import Scenario

ADMIN_PREFIX = "/.well-known/cdn/"
TIMING_HEADER = "Server-Timing"  # the edge says what it added: emulated;dur=<ms>


def access_delay_s(scenario: Scenario, place: Place) -> float:
    """One-way last-mile seconds of a client at ``place``, as the simulator uses them."""
    from cdn.simulate import access_delay_s  # the simulator's own rule, not a copy

    for cp in scenario.clients:
        if cp.place == place:
            return access_delay_s(scenario, cp)
    for name, d in scenario.network.access_delays:
        if name in (place.name, place.key):
            return float(d)
    return float(scenario.network.access_delay)


def last_via_name(via_values: list[str]) -> str | None:
    """The pseudonym of the last hop in ``Via`` fields ("1.1 a, 1.1 b" -> "b")."""
    if not via_values:
        return None
    last = ",".join(via_values).split(",")[-1].strip().split()
    return last[1] if len(last) >= 2 else None


@dataclass(frozen=True)
class Prediction:
    client_ms: float  # client <-> edge exchange
    upstream_ms: float  # edge's fetches up the tier chain (0 for a hit)
    service_ms: float  # origin service time assumed (0 for a hit)

    @property
    def total_ms(self) -> float:
        return self.client_ms + self.upstream_ms + self.service_ms


class DelayModel:
    """Modelled delays for one scenario (pure; RTTs memoised per pair).

    >>> from cdn.scenario import load_scenario
    >>> m = DelayModel(load_scenario("quickstart"))
    >>> m.hop_ms("iad", None, 0) == m.rtt_ms(m.edge_place("iad"), m.origin)  # one RTT
    True
    """

    def __init__(self, scenario: Scenario, network: NetworkModel | None = None):
        self.scenario = scenario
        self.network = network or NetworkModel.from_config(scenario.network)
        self.origin = scenario.origin.place
        self.tls = bool(scenario.network.tls)
        self._edges = {e.name: e for e in scenario.edges}
        self._rtt: dict[tuple, float] = {}
        self._bw: dict[tuple, float] = {}

    def edge_place(self, name: str) -> Place:
        return self._edges[name].place

    def is_edge(self, name: str | None) -> bool:
        return name in self._edges

    def rtt_ms(self, a: Place, b: Place, access_a: float = 0.0) -> float:
        key = (a, b, access_a)
        v = self._rtt.get(key)
        if v is None:
            v = self._rtt[key] = self.network.rtt_ms(a, b, access_a)
        return v

    def _backbone_bw(self, a: Place, b: Place) -> float:
        v = self._bw.get((a, b))
        if v is None:
            v = self._bw[a, b] = self.network.bandwidth_bps(a, b)
        return v

    def prewarm(self, clients) -> None:
        """Compute every RTT and bandwidth the servers will ask for (client places x
        edges, tier hops), so that no request pays for the first computation."""
        for e in self._edges.values():
            for c in clients:
                self.client_ms(c, e.name, 0, True)
            self.hop_ms(e.name, e.parent, 0)
            for child in self._edges.values():
                self.hop_ms(child.name, e.name, 0)

    def client_ms(self, client: Place, edge: str, nbytes: int, new_connection: bool) -> float:
        """Client at ``client`` fetching ``nbytes`` from ``edge``: the simulator's client part."""
        e = self.edge_place(edge)
        rtt = self.rtt_ms(client, e, access_delay_s(self.scenario, client))
        bw = min(self.scenario.network.bandwidth, self._backbone_bw(client, e))
        return transfer.fetch_time_ms(
            rtt, max(nbytes, 0), new_connection=new_connection, tls=self.tls, bandwidth_bps=bw
        )

    def hop_ms(self, child: str, parent: str | None, nbytes: int) -> float:
        """``child`` edge fetching ``nbytes`` from ``parent`` (None: the origin) on a warm
        connection, without the server's own time."""
        a = self.edge_place(child)
        b = self.origin if parent is None else self.edge_place(parent)
        bw = min(self.scenario.network.server_bandwidth, self._backbone_bw(a, b))
        return transfer.fetch_time_ms(
            self.rtt_ms(a, b), max(nbytes, 0), new_connection=False, tls=self.tls, bandwidth_bps=bw
        )

    def predict(
        self,
        client: Place,
        edge: str,
        nbytes: int,
        *,
        hit: bool,
        new_connection: bool = True,
        service_ms: float | None = None,
        hit_tiers: frozenset[str] = frozenset(),
    ) -> Prediction:
        """The model's time for one fetch: a hit, or a miss up the tier chain until a
        tier in ``hit_tiers`` has it, else to the origin (``service_ms`` None: the
        median of the scenario's origin service time)."""
        client_ms = self.client_ms(client, edge, nbytes, new_connection)
        if hit:
            return Prediction(client_ms, 0.0, 0.0)
        up, node, seen = 0.0, edge, set()
        while node is not None and node not in seen:
            seen.add(node)
            parent = self._edges[node].parent
            up += self.hop_ms(node, parent, nbytes)
            if parent in hit_tiers:
                return Prediction(client_ms, up, 0.0)
            node = parent
        if service_ms is None:
            st = self.scenario.origin.service_time
            service_ms = 1000.0 * (st.value if st.kind != "exponential" else st.value * math.log(2))
        return Prediction(client_ms, up, service_ms)


# --- aiohttp adapters ----------------------------------------------------------------


def _body_bytes(request, response) -> int:
    if request.method == "HEAD" or response.status in (204, 304):
        return 0
    n = response.content_length
    if n is None:
        body = getattr(response, "body", None)
        n = len(body) if isinstance(body, bytes | bytearray) else 0
    return int(n)


def install_edge_emulation(app, model: DelayModel, edge: str, locator, scale: float = 1.0) -> None:
    """Delay every response of edge ``edge`` by its client exchange (see the module doc).

    ``locator`` (:class:`cdn.geoip.Locator`) places clients by source address; a
    request whose ``Via`` names another edge of the scenario is that edge's fetch
    (a shield's child) and gets the hop delay instead. ``scale`` multiplies every
    delay (tests use small ones). Call before the app's runner is set up."""
    seen: weakref.WeakSet = weakref.WeakSet()  # transports that carried a request already

    async def on_prepare(request, response) -> None:
        transport = request.transport
        new = transport is not None and transport not in seen
        if new:
            seen.add(transport)
        if request.raw_path.startswith(ADMIN_PREFIX):
            return
        nbytes = _body_bytes(request, response)
        child = last_via_name(request.headers.getall("Via", []))
        if model.is_edge(child) and child != edge:
            ms = model.hop_ms(child, edge, nbytes)
        else:
            place = locator.locate(request.remote) if (locator and request.remote) else None
            ms = 0.0 if place is None else model.client_ms(place, edge, nbytes, new)
        ms *= scale
        response.headers[TIMING_HEADER] = f"emulated;dur={ms:.1f}"
        if ms > 0:
            await asyncio.sleep(ms / 1000.0)

    app.on_response_prepare.append(on_prepare)


def install_origin_emulation(app, model: DelayModel, scale: float = 1.0) -> None:
    """Delay every origin response by the calling edge's hop (found by its ``Via``)."""

    async def on_prepare(request, response) -> None:
        if request.raw_path.startswith(ADMIN_PREFIX):
            return
        child = last_via_name(request.headers.getall("Via", []))
        if not model.is_edge(child):
            return
        ms = scale * model.hop_ms(child, None, _body_bytes(request, response))
        if ms > 0:
            await asyncio.sleep(ms / 1000.0)

    app.on_response_prepare.append(on_prepare)
