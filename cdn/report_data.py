"""The data behind the report figures: ``distributions.json`` and reading results.

Theory of operation
-------------------
``summary.json`` holds percentiles, but a CDF, a map and a speed-of-light floor
need more: whole distributions and where things are. :func:`distributions`
condenses a :class:`cdn.results.Stats` and its scenario into one small dict:

- per region, the latency histogram as ``[bin upper edge ms, count]`` pairs with
  the empty bins dropped, and the region's speed-of-light floor (fiber RTT from
  its demand-weighted median city to that city's nearest edge);
- per resolver kind, the client-to-edge mapping distance as ``[km, count]`` pairs
  (exact: the distance takes only places x edges values);
- per city its position, requests and the edges that served it (counts), per
  edge and for the origin their position, the scenario's events and its text.

Everything is derived from integer counts and sorted keys, so the same run gives
a byte-identical file. :func:`load_results` reads a results directory back for
the report and names what is missing when a directory is not one.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cdn.errors import UserError
from cdn.geo import fiber_rtt_ms, great_circle_km
from cdn.places import Place

FORMAT = 1
FILENAME = "distributions.json"


def _bin_upper_ms() -> np.ndarray:
    from cdn.results import BINS_PER_DECADE, LO_MS, NBINS

    return LO_MS * 10 ** ((np.arange(NBINS) + 1.0) / BINS_PER_DECADE)


def _pairs(values: np.ndarray, counts: np.ndarray, nd: int) -> list[list]:
    """``[value, count]`` pairs, value-sorted, zero counts dropped, equal values merged."""
    keep = counts > 0
    merged: dict[float, int] = {}
    for v, c in zip(np.round(values[keep], nd).tolist(), counts[keep].tolist(), strict=True):
        merged[v] = merged.get(v, 0) + int(c)
    return [[v, merged[v]] for v in sorted(merged)]


def weighted_median_index(weights: Sequence[float]) -> int | None:
    """Index of the weighted median when items are taken in the given order."""
    total = float(sum(weights))
    if total <= 0:
        return None
    acc = 0.0
    for i, w in enumerate(weights):
        acc += w
        if acc >= total / 2:
            return i
    return len(weights) - 1


def light_floor(cities: Sequence[dict], edges: Sequence[dict]) -> dict | None:
    """The speed-of-light floor of a group of cities: fiber RTT from the
    demand-weighted median city (cities ordered by distance to their nearest
    edge) to that nearest edge. ``cities``: dicts with lat, lon, requests;
    ``edges``: dicts with name, lat, lon, tier (shields are not answered by DNS).

    >>> e = [{"name": "fra", "lat": 50.03, "lon": 8.57, "tier": "edge"}]
    >>> c = [{"name": "Paris", "lat": 48.85, "lon": 2.35, "requests": 3}]
    >>> round(light_floor(c, e)["rtt_ms"], 1)
    4.6
    """
    serving = [e for e in edges if e.get("tier", "edge") == "edge"] or list(edges)
    if not cities or not serving:
        return None
    near = []
    for c in cities:
        km, e = min(
            (great_circle_km(c["lat"], c["lon"], e["lat"], e["lon"]), e["name"]) for e in serving
        )
        near.append((km, c["name"], e, c["requests"]))
    near.sort()
    i = weighted_median_index([n[3] for n in near])
    if i is None:
        return None
    km, city, edge, _ = near[i]
    return {"city": city, "edge": edge, "km": round(km, 1), "rtt_ms": round(fiber_rtt_ms(km), 3)}


def event_label(ev) -> str:
    """A short label for an event on a time axis."""
    if ev.kind in ("edge_down", "edge_up"):
        return f"{ev.edge} {'down' if ev.kind == 'edge_down' else 'up'}"
    if ev.kind == "purge":
        what = ev.url or ev.prefix or ev.surrogate_key or ""
        return f"purge {what}".strip()
    if ev.kind == "flash_crowd":
        where = f" {ev.region}" if ev.region else ""
        return f"flash crowd x{ev.factor:g}{where}"
    return ev.kind.replace("_", " ")


def distributions(stats, scenario, places: Sequence[Place] | None = None) -> dict:
    """The ``distributions.json`` dict of a finished run. ``places`` are the
    Place of each stats row (default: the scenario's client places, which is
    what the simulator uses unless a trace adds clients)."""
    from cdn.results import KINDS

    if places is None:
        places = [c.place for c in scenario.clients]
    pos = {p.key: p for p in places}
    upper = _bin_upper_ms()
    edges = [
        {"name": e.name, "lat": round(e.place.lat, 4), "lon": round(e.place.lon, 4),
         "tier": e.tier, "place": e.place.name}
        for e in scenario.edges
    ]  # fmt: skip
    served = stats.mapping.sum(axis=0)  # (P, E) served requests per place and edge
    cities = []
    for i, key in enumerate(stats.places):
        if not stats.req_place[i]:
            continue
        p = pos.get(key)
        if p is None:
            continue
        by_edge = {stats.edges[e]: int(c) for e, c in enumerate(served[i]) if c and e < stats.E}
        top = max(sorted(by_edge), key=lambda n: by_edge[n]) if by_edge else None
        cities.append(
            {"name": key, "lat": round(p.lat, 4), "lon": round(p.lon, 4),
             "region": stats.regions[i], "requests": int(stats.req_place[i]),
             "top_edge": top, "edges": by_edge}
        )  # fmt: skip
    regions: dict[str, dict] = {}
    for r in sorted(set(stats.regions)):
        idx = [i for i, x in enumerate(stats.regions) if x == r]
        hist = stats.hist_place[idx].sum(axis=0)
        if not hist.sum():
            continue
        in_region = [c for c in cities if c["region"] == r]
        regions[r] = {
            "latency_ms": _pairs(upper, hist, 3),
            "floor": light_floor(in_region, edges),
            "hit_ratio": _hit_ratio(stats, idx),
        }
    resolvers = {}
    for k, kind in enumerate(KINDS):
        counts = stats.mapping[k][:, : max(stats.E, 1)]
        if counts.sum():
            km = stats.distance_m[:, : counts.shape[1]] / 1000.0
            resolvers[kind] = _pairs(km.ravel(), counts.ravel(), 1)
    return {
        "format": FORMAT,
        "bins": "latency pairs are [bin upper edge ms, count]; distance pairs [km, count]",
        "scenario": {
            "name": scenario.name,
            "path": scenario.path,
            "seed": _seed(stats, scenario),
            "description": scenario.description,
            "text": scenario.text,
        },  # fmt: skip
        "origin": {
            "place": scenario.origin.place.name,
            "lat": round(scenario.origin.place.lat, 4),
            "lon": round(scenario.origin.place.lon, 4),
        },  # fmt: skip
        "edges": edges,
        "cities": cities,
        "regions": regions,
        "resolvers": resolvers,
        "events": [
            {
                "at": ev.at,
                "kind": ev.kind,
                "edge": ev.edge,
                "duration": ev.duration,
                "label": event_label(ev),
            }
            for ev in sorted(scenario.events, key=lambda e: e.at)
        ],  # fmt: skip
    }


def _hit_ratio(stats, idx: list[int]) -> float | None:
    """Share of the served requests of places ``idx`` that came from a cache."""
    hits = getattr(stats, "hit_place", None)
    if hits is None:
        return None
    served = int(stats.req_place[idx].sum() - stats.err_place[idx].sum())
    return round(int(hits[idx].sum()) / served, 6) if served else None


def _seed(stats, scenario) -> int:
    return int(getattr(stats, "seed", scenario.seed))


def distributions_json(d: dict) -> str:
    return json.dumps(d, indent=1, ensure_ascii=False, allow_nan=False) + "\n"


def write_distributions(out_dir: Path, stats, scenario, places=None, seed=None) -> Path:
    """Write ``distributions.json`` beside summary.json (temporary name, rename)."""
    from cdn.results import atomic_write

    d = distributions(stats, scenario, places)
    if seed is not None:
        d["scenario"]["seed"] = int(seed)
    path = Path(out_dir) / FILENAME
    atomic_write(path, distributions_json(d))
    return path


# ---------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Results:
    """One results directory, read back."""

    path: Path
    summary: dict
    timeseries: list[dict]  # rows of timeseries.csv, numbers as floats (None if empty)
    dist: dict | None  # distributions.json, None for results written without it

    @property
    def name(self) -> str:
        return self.summary["scenario"]["name"]

    @property
    def seed(self) -> int:
        return self.summary["scenario"]["seed"]


@dataclass(frozen=True)
class Sweep:
    """A sweep directory: sweep.csv and one results directory per variant."""

    path: Path
    keys: list[str]  # the --set key paths
    rows: list[dict]  # sweep.csv rows (strings)
    variants: dict[str, Results]  # label -> results, for those present


def _num(x: str) -> float | None:
    if x == "":
        return None
    try:
        v = float(x)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def load_results(path: str | Path) -> Results:
    """Read a results directory written by ``cdn simulate``."""
    p = Path(path)
    if not p.is_dir():
        raise UserError(f"{p}: not a directory (give a results directory written by "
                        "`cdn simulate`, e.g. results/quickstart)")  # fmt: skip
    sj = p / "summary.json"
    if not sj.is_file():
        hint = " (it holds sweep.csv: a sweep)" if (p / "sweep.csv").is_file() else ""
        raise UserError(f"{p}: not a results directory: no summary.json{hint}; "
                        "give a directory written by `cdn simulate` or `cdn sweep`")  # fmt: skip
    try:
        summary = json.loads(sj.read_text(encoding="utf-8"))
        if not isinstance(summary, dict) or "scenario" not in summary or "requests" not in summary:
            raise ValueError("it lacks the scenario and request count")
    except (ValueError, OSError) as exc:
        raise UserError(f"{sj}: not a summary written by `cdn simulate`: {exc}") from None
    rows: list[dict] = []
    ts = p / "timeseries.csv"
    if ts.is_file():
        with open(ts, encoding="utf-8", newline="") as fh:
            rows = [{k: _num(v) for k, v in r.items()} for r in csv.DictReader(fh)]
    dist = None
    dj = p / FILENAME
    if dj.is_file():
        try:
            dist = json.loads(dj.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise UserError(f"{dj}: not valid JSON: {exc}") from None
    return Results(p, summary, rows, dist)


def load_sweep(path: str | Path) -> Sweep:
    p = Path(path)
    with open(p / "sweep.csv", encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        fields = reader.fieldnames or []
    from cdn.commands.sweep import HEADLINE

    keys = [f for f in fields if f != "variant" and f not in HEADLINE]
    variants = {}
    for r in rows:
        d = p / r["variant"]
        if (d / "summary.json").is_file():
            variants[r["variant"]] = load_results(d)
    return Sweep(p, keys, rows, variants)


def is_sweep(path: str | Path) -> bool:
    p = Path(path)
    return (p / "sweep.csv").is_file() and not (p / "summary.json").is_file()


def region_hit_ratio(res: Results) -> dict[str, float]:
    """Hit ratio of each client region's requests (distributions.json), or for
    older results the requests-weighted hit ratio of the edges that mainly serve
    the region (the summary counts hits per edge, not per client city)."""
    if not res.dist:
        return {}
    exact = {r: d.get("hit_ratio") for r, d in res.dist.get("regions", {}).items()}
    if exact and all(v is not None for v in exact.values()):
        return exact
    # An edge's region: the region of the cities it serves most.
    served: dict[str, dict[str, int]] = {}
    for c in res.dist["cities"]:
        for e, n in c["edges"].items():
            served.setdefault(e, {}).setdefault(c["region"], 0)
            served[e][c["region"]] += n
    hits: dict[str, float] = {}
    reqs: dict[str, float] = {}
    for e, by_region in served.items():
        info = res.summary["edges"].get(e)
        if not info or info.get("hit_ratio") is None:
            continue
        region = max(sorted(by_region), key=lambda r: by_region[r])
        hits[region] = hits.get(region, 0.0) + info["hit_ratio"] * info["requests"]
        reqs[region] = reqs.get(region, 0.0) + info["requests"]
    return {r: hits[r] / reqs[r] for r in sorted(reqs) if reqs[r]}
