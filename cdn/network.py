"""The speed-of-light network model: RTT and path between any two places.

Theory of operation
-------------------
The backbone is a networkx graph whose nodes are interconnection cities and
whose edges are fiber corridors. A link's one-way latency is physics plus one
cost per router::

    latency_ms = great_circle_km * stretch / FIBER_KM_PER_MS + hop_ms

with one global ``stretch`` for terrestrial links (fiber follows roads and
railways) and one for submarine links (cables run close to the great circle;
the bends come from the landing points, which are nodes of their own, and from
waypoints where a cable rounds a coast). A scenario's link may override either
with its own stretch or a measured latency.

A place attaches to its nearest backbone node, and to up to ``attach_k - 1``
more that are not much farther (``attach_ratio`` x the nearest distance plus
``attach_slack_km``), by an access link (regional fiber with its own stretch,
plus one hop); the RTT takes the best combination of attachments and backbone
path. Reaching only for nearby PoPs keeps a city from hopping a border to a
far PoP that its networks do not use. Two places closer
to each other than to any backbone node talk directly over metro fiber. The
caller adds the last mile (``access_a``, ``access_b``, one-way seconds) on
top, once per direction.

All-pairs shortest paths over the backbone are computed once when the model
is built, and each place's attachment is cached by ``(lat, lon)``, so an RTT
lookup between known places is a dict lookup plus a few additions.

Because every link is at least as long as its great circle and paths obey the
triangle inequality on the sphere, the model's RTT is never below the fiber
floor ``fiber_rtt_ms(great_circle_km(a, b))``.

Rules for this file: no I/O, no clock, no randomness. Parameters are few and
global (:class:`ModelParams`); they were chosen on half of the calibration
pairs and checked on the other half (see tests/test_network.py), never one
number per pair.

>>> from cdn.places import Place
>>> model = NetworkModel.default()
>>> london, new_york = Place("London", 51.5074, -0.1278), Place("New York", 40.7128, -74.006)
>>> 60 < model.rtt_ms(london, new_york) < 90
True
"""

from __future__ import annotations

import difflib
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import networkx as nx
import numpy as np

from cdn import backbone
from cdn.errors import UserError
from cdn.geo import FIBER_KM_PER_MS, great_circle_km, great_circle_km_array
from cdn.places import Place


class NetworkError(UserError):
    """A backbone that cannot be built: unknown node, disconnected graph, bad value."""


@dataclass(frozen=True)
class ModelParams:
    """The model's few global parameters (see the module docstring).

    The four numbers were chosen on a deterministic half of the calibration
    pairs (tests/data/rtt_calibration.csv, split by a hash of the pair's
    names) by a grid over land 1.2-1.5, sea 1.05-1.25, hop 0.5-2 ms with the
    access stretch tied to the land one. The surface is flat (median error
    within half a point over much of the grid), so these are a central point of
    the plateau rather than its noisiest minimum. Fit half: MdAPE 6.2%, 86.9%
    within +-20%; held-out half: 5.9%, 91.8%.
    """

    land_stretch: float = 1.4  # terrestrial route length over the great circle
    sea_stretch: float = 1.15  # submarine cable length over the great circle
    access_stretch: float = 1.4  # regional fiber from a place to its PoP (as terrestrial)
    hop_ms: float = 1.0  # one-way cost per link: routers, regeneration, detours in metros
    attach_k: int = 3  # nearest backbone nodes a place may attach to...
    attach_ratio: float = 2.0  # ...if no farther than this times the nearest one
    attach_slack_km: float = 100.0  # ...plus this (metro areas hold several PoPs)


@dataclass(frozen=True)
class Hop:
    """One link of a route: from ``a`` to ``b``, its length, one-way latency and kind."""

    a: str
    b: str
    km: float  # great-circle length of the link
    one_way_ms: float
    kind: str  # "land" | "sea" | "access" | "direct" | "custom"
    bandwidth_bps: float = math.inf


def link_latency_ms(km: float, stretch: float, hop_ms: float) -> float:
    """One-way latency of a link of great-circle length ``km``."""
    return km * stretch / FIBER_KM_PER_MS + hop_ms


def build_graph(
    nodes: Sequence[tuple[str, float, float]],
    links: Sequence[tuple],
    params: ModelParams = ModelParams(),
) -> nx.Graph:
    """A backbone graph from ``(name, lat, lon)`` nodes and ``(a, b, kind)`` links.

    A link may carry a fourth item, waypoints ``((lat, lon), ...)`` that its
    route passes (a cable rounding a cape); its length is then measured along
    them. Each edge carries ``km``, ``kind``, ``via`` (the waypoints, listed
    from node ``src``), ``ms``
    (one-way latency) and ``bandwidth``.

    >>> g = build_graph([("A", 0.0, 0.0), ("B", 0.0, 1.0)], [("A", "B", "sea")])
    >>> round(g["A"]["B"]["km"])
    111
    """
    g = nx.Graph()
    for name, lat, lon in nodes:
        g.add_node(name, lat=float(lat), lon=float(lon))
    stretch = {backbone.LAND: params.land_stretch, backbone.SEA: params.sea_stretch}
    for a, b, kind, *rest in links:
        _check_node(g, a, f"link {a} - {b}")
        _check_node(g, b, f"link {a} - {b}")
        if kind not in stretch:
            raise NetworkError(f"link {a} - {b}: kind {kind!r} is not one of {', '.join(stretch)}")
        via = tuple((float(la), float(lo)) for la, lo in (rest[0] if rest else ()))
        km = _node_km(g, a, b, via)
        g.add_edge(
            a, b, km=km, kind=kind, src=a, via=via, ms=link_latency_ms(km, stretch[kind], params.hop_ms),
            bandwidth=math.inf,
        )  # fmt: skip
    return g


def _node_km(g: nx.Graph, a: str, b: str, via: Sequence[tuple[float, float]] = ()) -> float:
    """Length of the route from node ``a`` through the waypoints to node ``b``."""
    points = [(g.nodes[a]["lat"], g.nodes[a]["lon"]), *via, (g.nodes[b]["lat"], g.nodes[b]["lon"])]
    return sum(great_circle_km(*p, *q) for p, q in itertools.pairwise(points))


def _check_node(g: nx.Graph, name: str, where: str) -> None:
    if name not in g:
        close = difflib.get_close_matches(name, list(g.nodes), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise NetworkError(f"{where}: unknown backbone node {name!r}{hint}")


class NetworkModel:
    """RTTs, paths and bottleneck bandwidths between places over a backbone graph."""

    _default: NetworkModel | None = None

    def __init__(self, graph: nx.Graph, params: ModelParams = ModelParams()):
        if graph.number_of_nodes() == 0:
            raise NetworkError("the backbone has no nodes")
        if not nx.is_connected(graph):
            parts = sorted(sorted(c) for c in nx.connected_components(graph))
            raise NetworkError(
                "the backbone is not connected; its parts are: "
                + "; ".join(", ".join(p) for p in parts)
            )
        if params.attach_k < 1:
            raise NetworkError(f"attach_k must be at least 1, got {params.attach_k}")
        self.graph = graph
        self.params = params
        self.names: list[str] = list(graph.nodes)
        self._index = {n: i for i, n in enumerate(self.names)}
        self._lat = np.array([graph.nodes[n]["lat"] for n in self.names])
        self._lon = np.array([graph.nodes[n]["lon"] for n in self.names])
        n = len(self.names)
        self._dist = np.zeros((n, n))
        self._paths: dict[tuple[int, int], list[str]] = {}
        for src, (dist, paths) in nx.all_pairs_dijkstra(graph, weight="ms"):
            i = self._index[src]
            for dst, d in dist.items():
                self._dist[i, self._index[dst]] = d
                self._paths[i, self._index[dst]] = paths[dst]
        self._k = min(params.attach_k, n)
        self._attach: dict[
            tuple[float, float], tuple[tuple[int, ...], tuple[float, ...], float]
        ] = {}
        self._pair: dict[tuple[float, float, float, float], tuple[float, int, int]] = {}
        self._one_way: dict[tuple[float, float, float, float], float] = {}  # the hot path

    # construction -----------------------------------------------------------------

    @classmethod
    def default(cls) -> NetworkModel:
        """The built-in global backbone (:mod:`cdn.backbone`), built once and cached."""
        if cls._default is None:
            cls._default = cls(build_graph(backbone.NODES, backbone.LINKS))
        return cls._default

    @classmethod
    def from_config(cls, network, params: ModelParams = ModelParams()) -> NetworkModel:
        """A model from a scenario's :class:`cdn.scenario.Network`.

        ``network.nodes is None`` keeps the built-in backbone; its ``links``, if
        any, then override or add corridors between built-in nodes (to give a
        link a bandwidth, say). With ``nodes`` set, the backbone is exactly the
        scenario's nodes and links. A link without a stretch uses the
        terrestrial stretch (or, overriding a built-in link, that link's kind).
        """
        if network.nodes is None:
            if not network.links:
                return (
                    cls.default()
                    if params == ModelParams()
                    else cls(build_graph(backbone.NODES, backbone.LINKS, params), params)
                )
            g = build_graph(backbone.NODES, backbone.LINKS, params)
        else:
            g = nx.Graph()
            for node in network.nodes:
                if node.name in g:
                    raise NetworkError(f"backbone node {node.name!r} is listed twice")
                g.add_node(node.name, lat=float(node.place.lat), lon=float(node.place.lon))
        for link in network.links or ():
            _add_config_link(g, link, params)
        return cls(g, params)

    def with_params(self, **changes) -> NetworkModel:
        """The built-in backbone rebuilt with some parameters changed (for calibration)."""
        params = replace(self.params, **changes)
        return NetworkModel(build_graph(backbone.NODES, backbone.LINKS, params), params)

    # attachment -------------------------------------------------------------------

    def _attachment(
        self, lat: float, lon: float
    ) -> tuple[tuple[int, ...], tuple[float, ...], float]:
        """(nearest node indices, one-way access ms to each, km to the nearest)."""
        key = (lat, lon)
        hit = self._attach.get(key)
        if hit is None:
            km = great_circle_km_array(lat, lon, self._lat, self._lon)
            order = np.argsort(km, kind="stable")[: self._k]
            order = order[km[order] <= self._attach_limit(km[order[0]])]
            ms = tuple(
                float(link_latency_ms(km[i], self.params.access_stretch, self.params.hop_ms))
                for i in order
            )
            hit = (tuple(int(i) for i in order), ms, float(km[order[0]]))
            self._attach[key] = hit
        return hit

    def _best(self, a: Place, b: Place) -> tuple[float, int, int]:
        """(one-way ms without last mile, node a attaches to, node b attaches to).

        Node indices are -1 for a direct metro path. Computed once per unordered
        pair and cached under both orders, so that rtt(a, b) == rtt(b, a) exactly.
        """
        key = (a.lat, a.lon, b.lat, b.lon)
        hit = self._pair.get(key)
        if hit is None:
            if len(self._pair) > 2_000_000:  # bound memory for streams of new places
                self._pair.clear()
                self._one_way.clear()
            back = (b.lat, b.lon, a.lat, a.lon)
            if back < key:
                ms, j, i = self._compute_best(*back)
            else:
                ms, i, j = self._compute_best(*key)
            hit = (ms, i, j)
            self._pair[key], self._pair[back] = hit, (ms, j, i)
            self._one_way[key] = self._one_way[back] = ms
        return hit

    def _compute_best(self, lat_a, lon_a, lat_b, lon_b) -> tuple[float, int, int]:
        na, ma, near_a = self._attachment(lat_a, lon_a)
        nb, mb, near_b = self._attachment(lat_b, lon_b)
        best, bi, bj = math.inf, -1, -1
        dist = self._dist
        for i, x in zip(na, ma, strict=True):
            row = dist[i]
            for j, y in zip(nb, mb, strict=True):
                t = x + row[j] + y
                if t < best:
                    best, bi, bj = t, i, j
        km = great_circle_km(lat_a, lon_a, lat_b, lon_b)
        if km <= max(near_a, near_b):  # closer to each other than to the backbone
            direct = link_latency_ms(km, self.params.access_stretch, self.params.hop_ms)
            if direct <= best:
                return float(direct), -1, -1
        return float(best), bi, bj

    # queries -----------------------------------------------------------------------

    def rtt_ms(self, a: Place, b: Place, access_a: float = 0.0, access_b: float = 0.0) -> float:
        """Round-trip time in ms; ``access_*`` are one-way last-mile seconds at each end."""
        one_way = self._one_way.get((a.lat, a.lon, b.lat, b.lon))
        if one_way is None:
            one_way = self._best(a, b)[0]
        return 2.0 * one_way + 2000.0 * (access_a + access_b)

    def one_way_ms(self, a: Place, b: Place) -> float:
        """One-way latency in ms between two places, without last mile."""
        return self._best(a, b)[0]

    def route(self, a: Place, b: Place) -> list[Hop]:
        """The links the model's best path takes, from ``a`` to ``b``."""
        _, i, j = self._best(a, b)
        p = self.params
        if i < 0:
            km = great_circle_km(a.lat, a.lon, b.lat, b.lon)
            return [
                Hop(a.name, b.name, km, link_latency_ms(km, p.access_stretch, p.hop_ms), "direct")
            ]
        nodes = self._paths[i, j]
        first, last = self.graph.nodes[nodes[0]], self.graph.nodes[nodes[-1]]
        km_a = great_circle_km(a.lat, a.lon, first["lat"], first["lon"])
        km_b = great_circle_km(last["lat"], last["lon"], b.lat, b.lon)
        hops = [
            Hop(a.name, nodes[0], km_a, link_latency_ms(km_a, p.access_stretch, p.hop_ms), "access")
        ]
        for u, v in itertools.pairwise(nodes):
            e = self.graph[u][v]
            hops.append(Hop(u, v, e["km"], e["ms"], e["kind"], e["bandwidth"]))
        hops.append(
            Hop(
                nodes[-1], b.name, km_b, link_latency_ms(km_b, p.access_stretch, p.hop_ms), "access"
            )
        )
        return hops

    def path(self, a: Place, b: Place) -> list[str]:
        """Names along the path: ``[a.name, backbone nodes..., b.name]``."""
        hops = self.route(a, b)
        return [hops[0].a] + [h.b for h in hops]

    def bandwidth_bps(self, a: Place, b: Place) -> float:
        """Bottleneck bandwidth of the backbone links on the path (inf if none is set)."""
        return min((h.bandwidth_bps for h in self.route(a, b)), default=math.inf)

    def rtt_matrix_ms(
        self, a: Sequence[Place], b: Sequence[Place], access_a=0.0, access_b=0.0
    ) -> np.ndarray:
        """RTTs in ms between every place in ``a`` (rows) and every place in ``b``.

        ``access_a`` / ``access_b``: one-way last-mile seconds, a scalar or one per place.
        """
        out = np.empty((len(a), len(b)))
        for r, pa in enumerate(a):
            for c, pb in enumerate(b):
                out[r, c] = self._best(pa, pb)[0]
        extra = np.asarray(access_a, float).reshape(-1, 1) + np.asarray(access_b, float).reshape(
            1, -1
        )
        return 2.0 * out + 2000.0 * extra

    def rtt_pairs_ms(self, lat_a, lon_a, lat_b, lon_b) -> np.ndarray:
        """Vectorised RTTs in ms for arrays of coordinate pairs (no caching, no last mile)."""
        lat_a, lon_a, lat_b, lon_b = (np.asarray(x, float) for x in (lat_a, lon_a, lat_b, lon_b))
        ia, ma, near_a = self._attach_arrays(lat_a, lon_a)
        ib, mb, near_b = self._attach_arrays(lat_b, lon_b)
        # candidate[m, i, j] = access a via i + backbone i->j + access b via j
        cand = ma[:, :, None] + self._dist[ia[:, :, None], ib[:, None, :]] + mb[:, None, :]
        best = cand.reshape(len(lat_a), self._k * self._k).min(axis=1, initial=math.inf)
        km = great_circle_km_array(lat_a, lon_a, lat_b, lon_b)
        direct = link_latency_ms(km, self.params.access_stretch, self.params.hop_ms)
        use = (km <= np.maximum(near_a, near_b)) & (direct <= best)
        return 2.0 * np.where(use, direct, best)

    def _attach_arrays(self, lat, lon) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        km = great_circle_km_array(
            lat[:, None], lon[:, None], self._lat[None, :], self._lon[None, :]
        )
        order = np.argsort(km, axis=1, kind="stable")[:, : self._k]
        near = np.take_along_axis(km, order, axis=1)
        ms = link_latency_ms(near, self.params.access_stretch, self.params.hop_ms)
        ms = np.where(near <= self._attach_limit(near[:, :1]), ms, np.inf)
        return order, ms, near[:, 0]

    def _attach_limit(self, nearest_km):
        """How far a place may reach for a second PoP: not much farther than its nearest."""
        return self.params.attach_ratio * nearest_km + self.params.attach_slack_km


def _add_config_link(g: nx.Graph, link, params: ModelParams) -> None:
    where = f"network link {link.a} - {link.b}"
    _check_node(g, link.a, where)
    _check_node(g, link.b, where)
    if link.a == link.b:
        raise NetworkError(f"{where}: a link needs two different nodes")
    old = g.get_edge_data(link.a, link.b) or {}
    via = tuple(old.get("via", ()))
    if old and old["src"] != link.a:  # waypoints are listed from the built-in link's first node
        via = via[::-1]
    km = _node_km(g, link.a, link.b, via)
    kind = old.get("kind", "custom")
    if link.latency is not None:
        if link.latency < 0:
            raise NetworkError(f"{where}: latency must be >= 0 seconds, got {link.latency}")
        ms = link.latency * 1000.0
    else:
        if link.stretch is not None and link.stretch < 1.0:
            raise NetworkError(
                f"{where}: stretch must be >= 1 (a route is never shorter than the great circle), got {link.stretch}"
            )
        default = params.sea_stretch if kind == backbone.SEA else params.land_stretch
        ms = link_latency_ms(
            km, link.stretch if link.stretch is not None else default, params.hop_ms
        )
    bandwidth = link.bandwidth if link.bandwidth is not None else old.get("bandwidth", math.inf)
    if bandwidth <= 0:
        raise NetworkError(f"{where}: bandwidth must be positive, got {bandwidth}")
    g.add_edge(
        link.a, link.b, km=km, kind=kind, src=link.a, via=via, ms=ms, bandwidth=float(bandwidth)
    )
