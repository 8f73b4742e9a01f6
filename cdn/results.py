"""Simulation results: statistics in constant memory, files, the terminal table.

Theory of operation
-------------------
Nothing per request is kept. Latencies fall into fixed log-spaced bins (100 per
decade from 10 us to 1000 s, so a percentile is exact to about +-1.2%), counted
with ``np.bincount`` per batch into one histogram per city, per resolver kind,
per edge and per time interval; regions are sums of their cities. Means come
from integer sums (nanoseconds, metres), so every figure is the same whatever
the batch boundaries were: integer addition does not care about order. The
client-to-edge mapping distance takes only (places x edges) values, so it is
counted per (resolver kind, place, edge) and its percentiles are exact.

A batch costs a few passes: one ``bincount`` of a combined code (resolver kind,
place, edge, served from cache) yields the mapping counts and, as sums over
that small table, the requests and hits per place, kind and edge; the time
series counts (interval, error, origin fetch, from cache) in one more, over the
intervals the batch spans only.

``Stats.summary()`` builds the summary.json dict (no wall-clock values, floats
rounded, so the same scenario and seed give byte-identical files);
``write_results`` writes files to a temporary name and renames them.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cdn.engine import (
    COLLAPSED,
    CONDITIONAL,
    ERROR,
    FULL_FETCH,
    HIT,
    NO_FETCH,
    OUTCOMES,
    STALE,
)

BINS_PER_DECADE = 100
LO_MS = 0.01
DECADES = 8  # 0.01 ms .. 1e6 ms
NBINS = BINS_PER_DECADE * DECADES
# Representative value of each bin: its geometric centre.
BIN_MS = LO_MS * 10 ** ((np.arange(NBINS) + 0.5) / BINS_PER_DECADE)
KINDS = ("isp", "public", "public_ecs")
SERVED_FROM_CACHE = (HIT, STALE, COLLAPSED)
assert (NO_FETCH, FULL_FETCH, CONDITIONAL) == (0, 1, 2)  # Stats.add counts by these codes
_FROM_CACHE = np.isin(np.arange(max(len(OUTCOMES), 256)), SERVED_FROM_CACHE)  # by outcome code


def latency_bins(ms: np.ndarray) -> np.ndarray:
    """Bin index of each latency (clipped into the histogram; NaN to bin 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        b = np.maximum(ms, LO_MS)
        b /= LO_MS
        np.log10(b, out=b)
        b *= BINS_PER_DECADE
        np.floor(b, out=b)
    np.fmax(b, 0.0, out=b)  # fmax drops NaN: NaN goes to bin 0
    np.minimum(b, NBINS - 1, out=b)
    return b.astype(np.int64)


def percentiles(hist: np.ndarray, qs: Sequence[float]) -> list[float | None]:
    """Percentiles (0..100) of a latency histogram: the centre of the bin where
    the cumulative count first reaches q% (None for an empty histogram)."""
    total = int(hist.sum())
    if total == 0:
        return [None for _ in qs]
    cum = np.cumsum(hist)
    out = []
    for q in qs:
        rank = max(1, math.ceil(q / 100.0 * total))
        out.append(float(BIN_MS[int(np.searchsorted(cum, rank, side="left"))]))
    return out


def _weighted_median(values: np.ndarray, counts: np.ndarray) -> float | None:
    total = int(counts.sum())
    if total == 0:
        return None
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(counts[order])
    return float(values[order][int(np.searchsorted(cum, math.ceil(total / 2), side="left"))])


def _r(x: float | None, nd: int = 3) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), nd)


def _ratio(a: int | float, b: int | float) -> float | None:
    return round(a / b, 6) if b else None


class _Grow:
    """A 2-D int64 array that grows along axis 0 (time intervals, seconds)."""

    def __init__(self, cols: int, rows: int = 64):
        self.a = np.zeros((max(rows, 1), cols), dtype=np.int64)

    def add(self, row: np.ndarray, col, weights: np.ndarray | None = None) -> None:
        """Count (or sum ``weights`` of) each (row, col) pair; ``col`` may be a scalar."""
        if len(row) == 0:
            return
        # a batch spans few rows: count over those only, not from row 0
        lo, top = int(row.min()), int(row.max()) + 1
        cols = self.a.shape[1]
        if top > len(self.a):
            bigger = np.zeros((max(top, 2 * len(self.a)), cols), dtype=np.int64)
            bigger[: len(self.a)] = self.a
            self.a = bigger
        flat = row - lo
        flat *= cols
        flat += col
        cnt = np.bincount(flat, weights=weights, minlength=(top - lo) * cols)
        self.a[lo:top] += (
            (cnt if weights is None else np.rint(cnt)).astype(np.int64).reshape(-1, cols)
        )

    def add_block(self, lo: int, block: np.ndarray) -> None:
        """Add ``block`` to rows ``lo ..`` and its first columns."""
        top = lo + len(block)
        if top > len(self.a):
            bigger = np.zeros((max(top, 2 * len(self.a)), self.a.shape[1]), dtype=np.int64)
            bigger[: len(self.a)] = self.a
            self.a = bigger
        self.a[lo:top, : block.shape[1]] += block


@dataclass(frozen=True)
class Batch:
    """One processed slice of requests, as the results need it (parallel arrays)."""

    t: np.ndarray
    place: np.ndarray  # client place index
    kind: np.ndarray  # resolver kind index (KINDS)
    edge: np.ndarray  # serving edge (-1: error)
    first: np.ndarray  # edge first tried
    outcome: np.ndarray  # engine outcome code
    fetch: np.ndarray  # origin traffic code
    size: np.ndarray
    latency_ms: np.ndarray  # NaN for errors
    dns_level: np.ndarray
    failed: np.ndarray  # failed connection attempts


class Stats:
    """Accumulates batches; see the module docstring."""

    def __init__(
        self,
        places: Sequence[str],
        regions: Sequence[str],
        edges: Sequence[str],
        distance_km: np.ndarray,
        interval: float,
    ):
        self.places = list(places)
        self.regions = list(regions)  # region label per place
        self.edges = list(edges)
        self.distance_m = np.rint(np.asarray(distance_km) * 1000).astype(np.int64)  # (P, E)
        self.interval = float(interval)
        P, E, K = len(places), len(edges), len(KINDS)
        self.P, self.E, self.K = P, E, K
        self.hist_place = np.zeros((P, NBINS), dtype=np.int64)
        self.hist_kind = np.zeros((K, NBINS), dtype=np.int64)
        self.hist_edge = np.zeros((max(E, 1), NBINS), dtype=np.int64)
        self.ns_place = np.zeros(P, dtype=np.int64)  # latency sums, integer nanoseconds
        self.ns_kind = np.zeros(K, dtype=np.int64)
        self.mapping = np.zeros((K, P, max(E, 1)), dtype=np.int64)  # served requests
        self.outcomes = np.zeros(len(OUTCOMES), dtype=np.int64)
        self.req_place = np.zeros(P, dtype=np.int64)
        self.err_place = np.zeros(P, dtype=np.int64)
        self.hit_place = np.zeros(P, dtype=np.int64)  # served from cache, for per-region hit ratios
        self.req_kind = np.zeros(K, dtype=np.int64)
        self.err_kind = np.zeros(K, dtype=np.int64)
        self.edge_req = np.zeros(E, dtype=np.int64)
        self.edge_hits = np.zeros(E, dtype=np.int64)
        self.edge_bytes = np.zeros(E, dtype=np.int64)
        self.edge_hit_bytes = np.zeros(E, dtype=np.int64)
        self.edge_first = np.zeros(E, dtype=np.int64)
        self.edge_failed = np.zeros(E, dtype=np.int64)
        self.per_second = _Grow(max(E, 1), 256)  # served requests per edge per second
        self.ts_hist = _Grow(NBINS)
        # per interval: requests, hits, origin requests, errors, retries, first-tries per edge
        self.ts_cols = 5 + E
        self.ts = _Grow(self.ts_cols)
        self.requests = 0
        self.bytes = 0
        self.hit_bytes = 0
        self.origin_requests = 0
        self.origin_conditional = 0
        self.origin_bytes = 0
        self.retries = 0
        self.failed_connects = 0
        self.dns_levels = np.zeros(3, dtype=np.int64)
        self.t_max = 0.0

    def add(self, b: Batch) -> None:
        # Few passes over the batch: each bincount counts a combined code (kind,
        # place, edge, from cache) and the per-place, per-kind and per-edge
        # figures are sums over the small table it returns.
        n = len(b.t)
        if n == 0:
            return
        P, E, K = self.P, self.E, self.K
        E1 = max(E, 1)
        ok = b.edge >= 0
        errors = n - int(np.count_nonzero(ok))
        cached = _FROM_CACHE[b.outcome]  # False for errors
        place, kind = b.place.astype(np.int64), b.kind.astype(np.int64)
        size = b.size.astype(np.int64, copy=False)
        if errors:  # the served requests only
            pl, kd, ed, lat, sz, hit = (place[ok], kind[ok], b.edge[ok].astype(np.int64),
                                        b.latency_ms[ok], size[ok], cached[ok])  # fmt: skip
        else:
            pl, kd, ed, lat, sz, hit = (
                place,
                kind,
                b.edge.astype(np.int64),
                b.latency_ms,
                size,
                cached,
            )
        self.requests += n
        self.t_max = max(self.t_max, float(b.t[-1]))
        code = b.outcome.astype(np.int64)
        code *= 3
        code += b.dns_level
        od = np.bincount(code, minlength=3 * len(OUTCOMES))[: 3 * len(OUTCOMES)].reshape(-1, 3)
        self.outcomes += od.sum(axis=1)
        self.dns_levels += od.sum(axis=0)

        lb = latency_bins(lat)
        code = pl * NBINS
        code += lb
        self.hist_place += np.bincount(code, minlength=P * NBINS).reshape(P, NBINS)
        code = kd * NBINS
        code += lb
        self.hist_kind += np.bincount(code, minlength=K * NBINS).reshape(K, NBINS)
        if E:
            code = ed * NBINS
            code += lb
            self.hist_edge += np.bincount(code, minlength=E * NBINS).reshape(E, NBINS)
        kp = kd * P
        kp += pl
        ns = _int_sums(kp, np.rint(lat * 1e6), K * P).reshape(K, P)
        self.ns_place += ns.sum(axis=0)
        self.ns_kind += ns.sum(axis=1)
        code = kp * E1
        code += ed
        code *= 2
        code += hit
        kpec = np.bincount(code, minlength=K * P * E1 * 2).reshape(K, P, E1, 2)
        self.mapping += kpec.sum(axis=3)
        pc = kpec.sum(axis=(0, 2))  # (place, from cache)
        self.req_place += pc.sum(axis=1)
        self.hit_place += pc[:, 1]
        self.req_kind += kpec.sum(axis=(1, 2, 3))
        if errors:
            err_place = np.bincount(place[~ok], minlength=P)
            self.err_place += err_place
            self.req_place += err_place
            err_kind = np.bincount(kind[~ok], minlength=K)
            self.err_kind += err_kind
            self.req_kind += err_kind
        code = ed * 2
        code += hit
        bytes_edge = _int_sums(code, sz, 2 * E1).reshape(E1, 2)
        if E:
            ec = kpec.sum(axis=(0, 1))  # (edge, from cache)
            self.edge_req += ec.sum(axis=1)
            self.edge_hits += ec[:, 1]
            self.edge_bytes += bytes_edge.sum(axis=1)
            self.edge_hit_bytes += bytes_edge[:, 1]
        self.bytes += int(bytes_edge.sum())
        self.hit_bytes += int(bytes_edge[:, 1].sum())
        full = b.fetch == FULL_FETCH
        self.origin_bytes += int(size[full].sum())
        failed = int(b.failed.max())
        if failed:
            retries = b.failed.astype(np.int64) - (~ok)
            self.retries += int(np.clip(retries, 0, None).sum())
            self.failed_connects += int(b.failed.sum())

        # timeseries columns: 0 requests, 1 hits, 2 origin, 3 errors, 4 retries, 5+ first tries
        iv = np.floor(b.t / self.interval).astype(np.int64)
        ivo = iv[ok] if errors else iv
        self.ts_hist.add(ivo, lb)
        # one count per (interval, error, fetch code, from cache)
        code = b.fetch.astype(np.int64)
        code *= 2
        code += cached
        if errors:
            code[~ok] += 6
        lo = int(iv.min())
        rows = int(iv.max()) + 1 - lo
        code += (iv - lo) * 12
        tf = np.bincount(code, minlength=12 * rows).reshape(rows, 2, 3, 2)
        by_fetch = tf.sum(axis=(1, 3))  # (interval, fetch code)
        fetches = by_fetch[:, [FULL_FETCH, CONDITIONAL]].sum(axis=1)
        self.origin_requests += int(fetches.sum())
        self.origin_conditional += int(by_fetch[:, CONDITIONAL].sum())
        block = np.stack([by_fetch.sum(axis=1), tf[:, 0, :, 1].sum(axis=1), fetches,
                          tf[:, 1].sum(axis=(1, 2)), np.zeros(rows, dtype=np.int64)], axis=1)  # fmt: skip
        self.ts.add_block(lo, block)
        if failed:
            rmask = retries > 0
            self.ts.add(iv[rmask], 4, weights=retries[rmask].astype(float))
        if E:
            first = b.first
            tried = first >= 0
            if not tried.all():
                first, ivt = first[tried], iv[tried]
            else:
                ivt = iv
            self.edge_first += np.bincount(first, minlength=E)
            self.ts.add(ivt, 5 + first.astype(np.int64))
            if failed:
                self.edge_failed += np.bincount(b.first[b.failed > 0], minlength=E)
            sec = ivo if self.interval == 1.0 else np.floor(b.t[ok] if errors else b.t)
            self.per_second.add(sec.astype(np.int64, copy=False), ed)

    # ------------------------------------------------------------------ output
    def _lat(self, hist: np.ndarray, ns: int, count: int) -> dict:
        p50, p90, p95, p99 = percentiles(hist, (50, 90, 95, 99))
        return {
            "p50": _r(p50),
            "p90": _r(p90),
            "p95": _r(p95),
            "p99": _r(p99),
            "mean": _r(ns / 1e6 / count) if count else None,
        }

    def _distance(self, counts: np.ndarray, idx=slice(None)) -> dict:
        """Mapping distance figures from served counts of places ``idx`` x edges."""
        total = int(counts.sum())
        if total == 0:
            return {"mean": None, "p50": None}
        d = self.distance_m[idx, : counts.shape[1]].reshape(counts.shape)
        mean = int((d * counts).sum()) / total / 1000.0
        med = _weighted_median(d.ravel(), counts.ravel())
        return {"mean": _r(mean, 1), "p50": _r(med / 1000.0 if med is not None else None, 1)}

    def _group(self, hist, ns, requests, errors, mapping, idx=slice(None)) -> dict:
        served = int(hist.sum())
        out = {"requests": int(requests), "errors": int(errors)}
        out.update(self._lat(hist, int(ns), served))
        out["mapping_distance_km"] = self._distance(mapping, idx)
        return out

    def summary(self, scenario: dict, extra: dict | None = None) -> dict:
        served = self.requests - int(self.outcomes[ERROR])
        hits = int(self.outcomes[list(SERVED_FROM_CACHE)].sum())
        hist_all = self.hist_kind.sum(axis=0)
        ns_all = int(self.ns_kind.sum())
        out: dict = {
            "scenario": scenario,
            "requests": int(self.requests),
            "simulated_seconds": _r(self.t_max, 3),
            "hit_ratio": _ratio(hits, served),
            "byte_hit_ratio": _ratio(self.hit_bytes, self.bytes),
            "latency_ms": self._lat(hist_all, ns_all, served),
            "mapping_distance_km": self._distance(self.mapping.sum(axis=0)),
            "origin": {
                "requests": int(self.origin_requests),
                "conditional": int(self.origin_conditional),
                "bytes": int(self.origin_bytes),
            },
            "errors": int(self.outcomes[ERROR]),
            "retries": int(self.retries),
            "failed_connects": int(self.failed_connects),
            "outcomes": {name: int(c) for name, c in zip(OUTCOMES, self.outcomes, strict=True)},
            "dns": {
                "client_cache": int(self.dns_levels[0]),
                "resolver_cache": int(self.dns_levels[1]),
                "authoritative": int(self.dns_levels[2]),
            },
            "bytes_served": int(self.bytes),
        }
        if extra:
            out.update(extra)
        ps = self.per_second.a
        out["edges"] = {
            name: {
                "requests": int(self.edge_req[e]),
                "hit_ratio": _ratio(int(self.edge_hits[e]), int(self.edge_req[e])),
                "bytes": int(self.edge_bytes[e]),
                "byte_hit_ratio": _ratio(int(self.edge_hit_bytes[e]), int(self.edge_bytes[e])),
                "peak_rps": int(ps[:, e].max()) if len(ps) else 0,
                "first_tries": int(self.edge_first[e]),
                "failed_first_tries": int(self.edge_failed[e]),
                **{k: v for k, v in self._lat(self.hist_edge[e], 0, 0).items() if k != "mean"},
            }
            for e, name in enumerate(self.edges)
        }
        regions: dict[str, list[int]] = {}
        for i, r in enumerate(self.regions):
            regions.setdefault(r, []).append(i)
        out["regions"] = {
            r: self._group(
                self.hist_place[idx].sum(axis=0),
                self.ns_place[idx].sum(),
                self.req_place[idx].sum(),
                self.err_place[idx].sum(),
                self.mapping[:, idx, :].sum(axis=0),
                idx,
            )
            for r, idx in sorted(regions.items())
        }
        out["cities"] = {
            name: self._group(
                self.hist_place[i],
                self.ns_place[i],
                self.req_place[i],
                self.err_place[i],
                self.mapping[:, i : i + 1, :].sum(axis=0),
                slice(i, i + 1),
            )
            for i, name in enumerate(self.places)
            if self.req_place[i]
        }
        out["resolvers"] = {
            kind: self._group(
                self.hist_kind[k],
                self.ns_kind[k],
                self.req_kind[k],
                self.err_kind[k],
                self.mapping[k],
            )
            for k, kind in enumerate(KINDS)
            if self.req_kind[k]
        }
        return out

    def timeseries_rows(self) -> list[list]:
        rows = []
        ts, th = self.ts.a, self.ts_hist.a
        last = int(math.floor(self.t_max / self.interval)) + 1 if self.requests else 0
        for i in range(min(last, len(ts))):
            req, hits, orig, err, retr = (int(x) for x in ts[i, :5])
            hist = th[i] if i < len(th) else np.zeros(NBINS, dtype=np.int64)
            p50, p95, p99 = percentiles(hist, (50, 95, 99))
            served = req - err
            rows.append(
                [_r(i * self.interval, 3), req, _ratio(hits, served), orig, _r(p50), _r(p95),
                 _r(p99), err, retr, *(int(x) for x in ts[i, 5:])]
            )  # fmt: skip
        return rows

    def timeseries_header(self) -> list[str]:
        return ["t", "requests", "hit_ratio", "origin_requests", "p50", "p95", "p99", "errors",
                "retries", *(f"first_tries:{e}" for e in self.edges)]  # fmt: skip


def _int_sums(index: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Integer sums of integer ``values`` by ``index``: exact, since float64 adds
    integers exactly below 2**53 (a batch stays far below that)."""
    if len(index) == 0:
        return np.zeros(n, dtype=np.int64)
    return np.rint(np.bincount(index, weights=values, minlength=n)).astype(np.int64)


# ---------------------------------------------------------------------- files


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary name and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    os.replace(tmp, path)


def summary_json(summary: dict) -> str:
    return json.dumps(summary, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def csv_text(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for row in rows:
        w.writerow(["" if x is None else x for x in row])
    return buf.getvalue()


def write_results(
    out_dir: Path, stats: Stats, summary: dict, sample: tuple | None = None
) -> list[Path]:
    out_dir = Path(out_dir)
    paths = [out_dir / "summary.json", out_dir / "timeseries.csv"]
    atomic_write(paths[0], summary_json(summary))
    atomic_write(paths[1], csv_text(stats.timeseries_header(), stats.timeseries_rows()))
    if sample is not None:
        header, rows = sample
        paths.append(out_dir / "sample.csv")
        atomic_write(paths[2], csv_text(header, rows))
    return paths


# ---------------------------------------------------------------------- terminal


def _fmt(x, unit: str = "") -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:,.1f}{unit}" if abs(x) >= 10 else f"{x:,.2f}{unit}"
    return f"{x:,}{unit}"


def summary_table(s: dict, top: int = 10) -> str:
    """A readable summary for the terminal."""
    lat, dist, org = s["latency_ms"], s["mapping_distance_km"], s["origin"]
    lines = [
        f"scenario {s['scenario']['name']} (seed {s['scenario']['seed']}): "
        f"{s['requests']:,} requests over {_fmt(s['simulated_seconds'])} s simulated",
        f"  hit ratio {_fmt(s['hit_ratio'])}   byte hit ratio {_fmt(s['byte_hit_ratio'])}   "
        f"errors {s['errors']:,}   retries {s['retries']:,}",
        f"  latency ms  p50 {_fmt(lat['p50'])}  p90 {_fmt(lat['p90'])}  p99 {_fmt(lat['p99'])}  "
        f"mean {_fmt(lat['mean'])}",
        f"  client->edge km  mean {_fmt(dist['mean'])}  p50 {_fmt(dist['p50'])}   "
        f"origin {org['requests']:,} requests, {org['bytes'] / 1e6:,.1f} MB",
        "",
    ]

    def table(title: str, rows: list[list[str]], head: list[str]) -> None:
        widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
        lines.append(title)
        for r in [head, *rows]:
            cells = [str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in
                     enumerate(zip(r, widths, strict=True))]  # fmt: skip
            lines.append("  " + "  ".join(cells))
        lines.append("")

    edge_rows = []
    for n, e in s["edges"].items():
        row = [n, _fmt(e["requests"]), _fmt(e["hit_ratio"]), f"{e['bytes'] / 1e6:,.1f}",
               _fmt(e["peak_rps"]), _fmt(e["p50"]), "-", "-"]  # fmt: skip
        up = e.get("from_children")
        if up:  # a shield: what its child edges asked of it
            row[6], row[7] = _fmt(up["requests"]), _fmt(up["hit_ratio"])
        edge_rows.append(row)
    table("edges", edge_rows,
          ["edge", "requests", "hit", "MB", "peak/s", "p50 ms", "from edges", "hit"])  # fmt: skip
    groups = [("resolvers", s["resolvers"]), ("regions", s["regions"])]
    cities = sorted(s["cities"].items(), key=lambda kv: -kv[1]["requests"])[:top]
    groups.append((f"cities (top {top} by requests)", dict(cities)))
    for title, g in groups:
        table(
            title,
            [
                [
                    n,
                    _fmt(v["requests"]),
                    _fmt(v["p50"]),
                    _fmt(v["p90"]),
                    _fmt(v["p99"]),
                    _fmt(v["mapping_distance_km"]["mean"]),
                    _fmt(v["errors"]),
                ]
                for n, v in g.items()
            ],  # fmt: skip
            [title.split()[0], "requests", "p50 ms", "p90 ms", "p99 ms", "km", "errors"],
        )
    return "\n".join(lines).rstrip() + "\n"


class Progress:
    """A progress bar on stderr, shown only once a run has taken ``after`` seconds.
    The clock is passed in (the caller owns wall time)."""

    def __init__(self, total: float, clock: Callable[[], float], stream=None, after: float = 2.0):
        self.total = max(float(total), 1e-9)
        self.clock = clock
        self.start = clock()
        self.stream = stream if stream is not None else sys.stderr
        self.after = after
        self.shown = False
        self._last = -1.0

    def update(self, done: float, requests: int) -> None:
        now = self.clock()
        elapsed = now - self.start
        if elapsed < self.after or now - self._last < 0.2:
            return
        self._last = now
        self.shown = True
        frac = min(1.0, done / self.total)
        bar = "#" * int(frac * 30)
        rate = requests / elapsed if elapsed > 0 else 0.0
        self.stream.write(
            f"\r[{bar:<30}] {frac * 100:5.1f}%  {requests:,} requests  {rate:,.0f}/s  "
        )
        self.stream.flush()

    def close(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()
