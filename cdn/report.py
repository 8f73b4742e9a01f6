"""Report figures: one function per figure, plain data in, a matplotlib figure out.

Theory of operation
-------------------
Each ``fig_*`` function takes plain values (dicts and lists read from a results
directory by :mod:`cdn.report_data`) and returns a new ``Figure``; it never reads
files. :func:`figures` picks the figures a results directory can support, and
:func:`save` writes each one as PNG and SVG through a temporary name and a
rename. The Agg backend is selected on import, so nothing needs a display.

Style rules kept in every figure: a title that says what it shows, axis labels
with units, Okabe-Ito colours for categories and cividis for the one continuous
quantity (median latency on the map), about 10 x 5 inches at 110 dpi with fonts
of at least 9 pt, so a figure is legible at 100% in a browser. Map labels are
placed greedily around their marker and never overlap each other.
"""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from cdn import worldmap  # noqa: E402
from cdn.places import continent_name  # noqa: E402

OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
             "#000000"]  # fmt: skip
BETTER, WORSE = "#0072B2", "#D55E00"  # blue / vermillion: safe for every colour vision
DPI = 110
SIZE = (10.0, 5.0)
KIND_LABELS = {"isp": "ISP resolver", "public": "public resolver, no ECS",
               "public_ecs": "public resolver with ECS"}  # fmt: skip

plt.rcParams.update(
    {
        "font.size": 10,
        "axes.titlesize": 12,
        "axes.labelsize": 10,
        "legend.fontsize": 9,
        "xtick.labelsize": 9,
        "ytick.labelsize": 9,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "svg.hashsalt": "cdn-report",  # deterministic SVG ids
        "svg.fonttype": "path",
    }
)


@dataclass(frozen=True)
class FigureSpec:
    """One figure of a report: file stem, caption and the figure."""

    name: str
    caption: str
    figure: Figure


def region_name(code: str) -> str:
    return continent_name(code)


def _ms(x: float, _pos=None) -> str:
    if x >= 1000:
        return f"{x / 1000:g} s"
    return f"{x:g}"


def log_ms_axis(axis) -> None:
    """Milliseconds on a log axis as plain numbers (1, 2, 3, 5 of each decade)."""

    def fmt(x: float, _pos=None) -> str:
        if x <= 0:
            return ""
        m = round(x / 10 ** math.floor(math.log10(x) + 1e-9), 3)
        return _ms(x) if m in (1.0, 2.0, 3.0, 5.0) else ""

    axis.set_major_formatter(FuncFormatter(fmt))
    axis.set_minor_formatter(FuncFormatter(fmt))


def cdf(pairs: Sequence[Sequence[float]]) -> tuple[list[float], list[float]]:
    """(values, cumulative fractions) of ``[value, count]`` pairs sorted by value."""
    total = float(sum(c for _, c in pairs))
    xs, ys, acc = [], [], 0.0
    for v, c in pairs:
        acc += c
        xs.append(float(v))
        ys.append(acc / total if total else 0.0)
    return xs, ys


# ---------------------------------------------------------------------- map


def _overlap(a, b) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


def place_labels(ax, items: Sequence[tuple[str, float, float]], obstacles=(), fontsize=9,
                 **text_kw) -> list:  # fmt: skip
    """Label points ``(text, x, y)`` in data coordinates without overlaps: each
    label tries positions around its point, nearest first, and takes the first
    that stays in the axes and covers no placed label, labelled point or
    ``obstacles`` marker ``(x, y, radius in points)``; failing that, the one that
    covers least (labels weigh far more than markers), with a leader line when it
    sits away from its point. Returns the Annotations."""
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    trans = ax.transData
    scale = fig.dpi / 72.0
    pad = 3.0
    boxes = []  # labels and their own points: hard obstacles
    for _, x, y in items:
        px, py = trans.transform((x, y))
        boxes.append((px - pad, py - pad, px + pad, py + pad))
    soft = []  # other markers (x, y, radius in points): better not covered, but may be
    for o in obstacles:
        px, py = trans.transform((o[0], o[1]))
        rad = (o[2] if len(o) > 2 else pad) * scale
        soft.append((px - rad, py - rad, px + rad, py + rad))
    frame = ax.get_window_extent(renderer)
    dirs = [(1, 0.3), (1, -0.3), (-1, 0.3), (-1, -0.3), (0, 1), (0, -1), (1, 1), (-1, 1),
            (1, -1), (-1, -1)]  # fmt: skip
    out = []
    for text, x, y in items:
        px, py = trans.transform((x, y))
        probe = ax.text(0, 0, text, fontsize=fontsize, **text_kw)
        bb = probe.get_window_extent(renderer)
        probe.remove()
        w, h = bb.width, bb.height
        best = None
        for r in (5, 11, 19, 30, 44):
            for dx, dy in dirs:
                ox, oy = dx * r * scale, dy * r * scale
                x0 = px + ox if dx > 0 else (px + ox - w if dx < 0 else px - w / 2)
                y0 = py + oy if dy > 0 else (py + oy - h if dy < 0 else py - h / 2)
                if dx != 0 and abs(dy) < 1:
                    y0 = py + oy - h / 2
                box = (x0 - 2, y0 - 2, x0 + w + 2, y0 + h + 2)  # a gap between labels
                inside = (box[0] >= frame.x0 and box[2] <= frame.x1 and box[1] >= frame.y0
                          and box[3] <= frame.y1)  # fmt: skip
                cost = (10 * sum(_overlap(box, b) for b in boxes)
                        + 0.2 * sum(_overlap(box, b) for b in soft) + (0 if inside else 1e6))  # fmt: skip
                if best is None or cost < best[0]:
                    best = (cost, box, r)
                if cost == 0:
                    break
            if best[0] == 0:
                break
        _, box, r = best
        boxes.append(box)
        cx, cy = ax.transData.inverted().transform((box[0] + 2, box[1] + 2))
        ann = ax.annotate(
            text, xy=(x, y), xytext=(cx, cy), textcoords="data", fontsize=fontsize,
            ha="left", va="bottom", zorder=6,
            arrowprops={"arrowstyle": "-", "color": "#555555", "lw": 0.6} if r > 5 else None,
            **text_kw,
        )  # fmt: skip
        out.append(ann)
    return out


def merge_colocated(items: Sequence[tuple[str, float, float]], within: float = 0.5) -> list:
    """One label for points within ``within`` degrees (an edge at the origin's airport)."""
    out: list[tuple[str, float, float]] = []
    for text, x, y in items:
        for i, (t0, x0, y0) in enumerate(out):
            if abs(x - x0) <= within and abs(y - y0) <= within:
                out[i] = (f"{t0} + {text}", x0, y0)
                break
        else:
            out.append((text, x, y))
    return out


def fig_world_map(dist: dict, city_p50: dict[str, float | None], title: str) -> Figure:
    """Edges, origin, client cities (size: requests, colour: median latency) and
    great-circle arcs from each city to the edge that served most of it."""
    from matplotlib.colors import LogNorm, Normalize
    from matplotlib.lines import Line2D

    fig = plt.figure(figsize=(12, 5.6), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    worldmap.draw_world(ax)
    edges = {e["name"]: e for e in dist["edges"]}
    cities = sorted(dist["cities"], key=lambda c: -c["requests"])
    for c in cities:
        e = edges.get(c["top_edge"] or "")
        if e is None:
            continue
        for seg in worldmap.great_circle_segments(c["lat"], c["lon"], e["lat"], e["lon"]):
            xs, ys = zip(*seg, strict=True)
            ax.plot(xs, ys, color="#444444", lw=0.7, alpha=0.45, zorder=2,
                    solid_capstyle="round")  # fmt: skip
    peak = max((c["requests"] for c in cities), default=1)
    lat = [city_p50.get(c["name"]) for c in cities]
    good = [v for v in lat if v]
    norm = None
    if good:  # a log scale only when latencies span enough to need it
        lo, hi = max(min(good), 1.0), max(max(good), 2.0)
        norm = LogNorm(lo, hi) if hi / lo > 4 else Normalize(lo * 0.95, hi * 1.05)
    sizes = [20 + 380 * c["requests"] / peak for c in cities]
    sc = ax.scatter(
        [c["lon"] for c in cities], [c["lat"] for c in cities], s=sizes,
        c=[v if v else float("nan") for v in lat], cmap="cividis", norm=norm,
        edgecolors="white", linewidths=0.6, zorder=3, alpha=0.9,
    )  # fmt: skip
    if norm is not None:
        cb = fig.colorbar(sc, ax=ax, shrink=0.7, pad=0.01)
        cb.set_label("median latency of the city's requests (ms)")
        if isinstance(norm, LogNorm):
            log_ms_axis(cb.ax.yaxis)
    serving = [e for e in dist["edges"] if e["tier"] == "edge"]
    shields = [e for e in dist["edges"] if e["tier"] != "edge"]
    ax.scatter([e["lon"] for e in serving], [e["lat"] for e in serving], marker="^", s=55,
               color="#D55E00", edgecolors="black", linewidths=0.6, zorder=5)  # fmt: skip
    if shields:
        ax.scatter([e["lon"] for e in shields], [e["lat"] for e in shields], marker="s", s=45,
                   color="#E69F00", edgecolors="black", linewidths=0.6, zorder=5)  # fmt: skip
    o = dist["origin"]
    ax.scatter([o["lon"]], [o["lat"]], marker="*", s=240, color="#CC79A7",
               edgecolors="black", linewidths=0.6, zorder=5)  # fmt: skip
    fig.canvas.draw()  # fixes the layout so label boxes are measured where they end up
    labels = merge_colocated(
        [("origin", o["lon"], o["lat"])]
        + [(e["name"], e["lon"], e["lat"]) for e in serving + shields]
    )
    marks = [(c["lon"], c["lat"], math.sqrt(sz) / 2) for c, sz in zip(cities, sizes, strict=True)]
    place_labels(ax, labels, obstacles=marks, fontsize=9,
                 bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none",
                       "alpha": 0.8})  # fmt: skip
    handles = [
        Line2D([], [], marker="^", ls="", color="#D55E00", mec="black", ms=8, label="edge"),
        Line2D([], [], marker="*", ls="", color="#CC79A7", mec="black", ms=12, label="origin"),
        Line2D([], [], color="#444444", lw=1, alpha=0.6, label="city to its main edge"),
    ]
    if shields:
        handles.insert(1, Line2D([], [], marker="s", ls="", color="#E69F00", mec="black", ms=7,
                                 label="shield (parent cache)"))  # fmt: skip
    for frac in (1.0, 0.25):
        handles.append(Line2D([], [], marker="o", ls="", color="#999999", mec="white",
                              ms=math.sqrt(20 + 380 * frac),
                              label=f"{int(peak * frac):,} requests"))  # fmt: skip
    ax.legend(handles=handles, loc="lower left", framealpha=0.9, fontsize=9)
    ax.set_title(title)
    return fig


# ---------------------------------------------------------------------- latency


def fig_latency_cdf(regions: dict[str, dict], title: str) -> Figure:
    """Latency CDF per region (log x), each with its speed-of-light floor."""
    fig, ax = plt.subplots(figsize=SIZE, dpi=DPI, layout="constrained")
    for i, (r, d) in enumerate(sorted(regions.items())):
        color = OKABE_ITO[i % len(OKABE_ITO)]
        xs, ys = cdf(d["latency_ms"])
        f = d.get("floor")
        label = region_name(r) + (f" (floor {f['rtt_ms']:.1f} ms)" if f else "")
        ax.step(xs, ys, where="post", color=color, lw=1.6, label=label)
        if f:
            ax.axvline(f["rtt_ms"], color=color, ls=":", lw=1.2)
            ax.plot([f["rtt_ms"]], [0.02], marker="v", color=color, ms=7, clip_on=False)
    ax.set_xscale("log")
    log_ms_axis(ax.xaxis)
    ax.set_ylim(0, 1.0)
    ax.set_xlabel("request latency (ms, log scale)")
    ax.set_ylabel("fraction of requests at or below")
    ax.grid(True, which="major", alpha=0.3)
    from matplotlib.lines import Line2D

    h, labels = ax.get_legend_handles_labels()
    h.append(Line2D([], [], color="#555555", ls=":", marker="v", label="speed-of-light floor"))
    ax.legend(handles=h, loc="lower right")
    ax.set_title(title)
    return fig


def fig_city_percentiles(cities: dict[str, dict], title: str, top: int = 20) -> Figure:
    """p50 and p95 of the busiest cities, sorted by p95."""
    busiest = sorted(cities.items(), key=lambda kv: (-kv[1]["requests"], kv[0]))[:top]
    rows = sorted(
        ((n, c["p50"], c["p95"]) for n, c in busiest if c["p50"] is not None),
        key=lambda r: (r[2], r[1], r[0]),
    )
    fig, ax = plt.subplots(figsize=(10, max(3.5, 0.3 * len(rows) + 1.4)), dpi=DPI,
                           layout="constrained")  # fmt: skip
    ys = range(len(rows))
    ax.hlines(list(ys), [r[1] for r in rows], [r[2] for r in rows], color="#BBBBBB", lw=2)
    ax.plot([r[1] for r in rows], ys, "o", color=OKABE_ITO[0], label="p50 (median)")
    ax.plot([r[2] for r in rows], ys, "D", color=OKABE_ITO[3], label="p95")
    ax.set_yticks(list(ys), [r[0] for r in rows])
    ax.set_xscale("log")
    log_ms_axis(ax.xaxis)
    ax.set_xlabel("request latency (ms, log scale)")
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title(title)
    return fig


def fig_timeseries(rows: list[dict], events: list[dict], title: str) -> Figure:
    """Requests/s (and errors/s), hit ratio, origin requests/s and p95 latency over time."""
    fig, axes = plt.subplots(4, 1, figsize=(10, 7.5), dpi=DPI, sharex=True,
                             layout="constrained")  # fmt: skip
    t = [r["t"] for r in rows]
    step = (t[1] - t[0]) if len(t) > 1 else 1.0
    series = [
        ("requests/s", [(r["requests"] or 0) / step for r in rows], OKABE_ITO[0]),
        ("hit ratio", [r["hit_ratio"] for r in rows], OKABE_ITO[2]),
        ("origin requests/s", [(r["origin_requests"] or 0) / step for r in rows], OKABE_ITO[1]),
        ("p95 latency (ms)", [r["p95"] for r in rows], OKABE_ITO[3]),
    ]
    for ax, (label, ys, color) in zip(axes, series, strict=True):
        pts = [(x, y) for x, y in zip(t, ys, strict=True) if y is not None]
        if pts:  # repeat the last value to the end of its interval
            pts.append((pts[-1][0] + step, pts[-1][1]))
        ax.step([p[0] for p in pts], [p[1] for p in pts], where="post", color=color, lw=1.3)
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        ax.set_ylim(bottom=0)
    errors = [(r.get("errors") or 0) / step for r in rows]
    if any(errors):  # failed requests, beside the requests they are part of
        axes[0].step([*t, t[-1] + step], [*errors, errors[-1]], where="post",
                     color=OKABE_ITO[3], lw=1.3, label="errors/s")  # fmt: skip
        axes[0].plot([], [], color=OKABE_ITO[0], lw=1.3, label="requests/s")
        axes[0].legend(loc="center left", fontsize=9)
    axes[1].set_ylim(0, 1.0)
    if events:  # headroom in the top panel for the event labels
        top = max((y for y in series[0][1] if y is not None), default=1.0) or 1.0
        axes[0].set_ylim(0, top * 1.45)
    end = (t[-1] + step) if t else 0.0
    events = [ev for ev in events if ev["at"] <= end]  # a shorter run never reached the rest
    for i, ev in enumerate(events):
        right = ev["at"] > 0.8 * end
        for ax in axes:
            ax.axvline(ev["at"], color="#555555", ls="--", lw=1)
            if ev.get("duration"):  # origin outage, slow origin, flash crowd: shade it
                ax.axvspan(ev["at"], min(ev["at"] + ev["duration"], end), color="#999999",
                           alpha=0.15, lw=0)  # fmt: skip
        axes[0].annotate(ev["label"], xy=(ev["at"], 1.0), xycoords=("data", "axes fraction"),
                         xytext=(-3 if right else 3, -3 - 11 * (i % 3)), textcoords="offset points",
                         fontsize=9, va="top", ha="right" if right else "left", color="#333333",
                         bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none"})  # fmt: skip
    axes[-1].set_xlabel(f"simulated time (s; {step:g} s intervals)")
    fig.suptitle(title)
    return fig


def fig_mapping_distance(resolvers: dict[str, list], title: str) -> Figure:
    """CDF of the client-to-edge distance per resolver kind."""
    fig, ax = plt.subplots(figsize=SIZE, dpi=DPI, layout="constrained")
    order = [k for k in KIND_LABELS if k in resolvers] + sorted(set(resolvers) - set(KIND_LABELS))
    styles = ["-", "--", "-."]
    # widest first, so kinds with identical distances (ISP and ECS often are) stay visible
    for i, k in enumerate(order):
        xs, ys = cdf(resolvers[k])
        xs, ys = [0.0, *xs], [0.0, *ys]
        ax.step(xs, ys, where="post", color=OKABE_ITO[i % len(OKABE_ITO)],
                ls=styles[i % 3], lw=max(1.0, 3.4 - 1.1 * i), label=KIND_LABELS.get(k, k))  # fmt: skip
    ax.set_xlim(left=0)
    ax.set_ylim(0, 1.0)
    ax.set_xlabel("great-circle distance from client city to the edge it was sent to (km)")
    ax.set_ylabel("fraction of requests at or below")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title(title)
    return fig


# ---------------------------------------------------------------------- cache


def edge_hit_rows(edges: dict[str, dict]) -> list[tuple[str, float, int, bool]]:
    """(edge, hit ratio, requests, is shield tier) for edges that served anything."""
    out = []
    for name, e in edges.items():
        if e.get("requests") and e.get("hit_ratio") is not None:
            out.append((name, e["hit_ratio"], e["requests"], False))
        elif e.get("from_children") and e["from_children"].get("hit_ratio") is not None:
            fc = e["from_children"]
            out.append((name, fc["hit_ratio"], fc["requests"], True))
    return out


def fig_edge_hit_ratio(edges: dict[str, dict], title: str) -> Figure:
    rows = sorted(edge_hit_rows(edges), key=lambda r: (r[3], -r[1], r[0]))
    fig, ax = plt.subplots(figsize=(10, max(3.2, 0.3 * len(rows) + 1.4)), dpi=DPI,
                           layout="constrained")  # fmt: skip
    ys = list(range(len(rows)))[::-1]
    colors = [OKABE_ITO[1] if r[3] else OKABE_ITO[0] for r in rows]
    ax.barh(ys, [r[1] for r in rows], color=colors)
    ax.set_yticks(ys, [f"{r[0]} (shield)" if r[3] else r[0] for r in rows])
    for y, r in zip(ys, rows, strict=True):
        ax.text(r[1] + 0.01, y, f"{r[1]:.0%} of {r[2]:,}", va="center", fontsize=9)
    ax.set_xlim(0, 1.15)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _p: f"{x:.0%}" if x <= 1 else ""))
    ax.set_xlabel("hit ratio (share of requests served from the cache)")
    ax.grid(True, axis="x", alpha=0.3)
    ax.set_title(title)
    return fig


def fig_sweep_capacity(curves: dict[str, list[tuple[float, float]]], title: str) -> Figure:
    """Hit ratio against cache capacity, one curve per eviction policy."""
    from cdn.units import format_size

    fig, ax = plt.subplots(figsize=SIZE, dpi=DPI, layout="constrained")
    markers = "osD^v"
    for i, (policy, pts) in enumerate(sorted(curves.items())):
        pts = sorted(pts)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=markers[i % 5], lw=1.6,
                color=OKABE_ITO[i % len(OKABE_ITO)], label=policy)  # fmt: skip
    from matplotlib.ticker import FixedLocator, NullLocator

    ax.set_xscale("log")
    ticks = sorted({p[0] for pts in curves.values() for p in pts})
    ax.xaxis.set_major_locator(FixedLocator(ticks))  # the capacities tried, nothing else
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _p: format_size(x)))
    ax.set_xlabel("cache capacity per edge (bytes, log scale)")
    ax.set_ylabel("hit ratio")
    ax.set_ylim(0, 1)
    sec = ax.secondary_yaxis("right", functions=(lambda y: 1 - y, lambda m: 1 - m))
    sec.set_ylabel("miss ratio")
    ax.grid(True, alpha=0.3)
    ax.legend(title="eviction policy", loc="upper left")
    ax.set_title(title)
    return fig


def fig_sweep_p95(variants: list[tuple[str, float]], title: str) -> Figure:
    fig, ax = plt.subplots(figsize=(10, max(3.2, 0.32 * len(variants) + 1.4)), dpi=DPI,
                           layout="constrained")  # fmt: skip
    ys = list(range(len(variants)))[::-1]
    ax.barh(ys, [v[1] for v in variants], color=OKABE_ITO[0])
    ax.set_yticks(ys, [v[0] for v in variants])
    for y, v in zip(ys, variants, strict=True):
        ax.text(v[1], y, f" {v[1]:,.0f}", va="center", fontsize=9)
    ax.set_xlabel("p95 request latency (ms)")
    ax.grid(True, axis="x", alpha=0.3)
    ax.set_title(title)
    return fig


# ---------------------------------------------------------------------- comparison


def comparison_rows(a: dict, b: dict, hit_a: dict, hit_b: dict) -> list[tuple]:
    """(region, dp50 ms, dp95 ms, d hit ratio or None) for regions in both runs."""
    rows = []
    for r in sorted(set(a["regions"]) & set(b["regions"])):
        ra, rb = a["regions"][r], b["regions"][r]
        d = [None if ra[k] is None or rb[k] is None else rb[k] - ra[k] for k in ("p50", "p95")]
        dh = hit_b[r] - hit_a[r] if r in hit_a and r in hit_b else None
        rows.append((region_name(r), d[0], d[1], dh))
    all_a, all_b = a["latency_ms"], b["latency_ms"]
    dh = (b["hit_ratio"] - a["hit_ratio"]) if a["hit_ratio"] is not None and b[
        "hit_ratio"] is not None else None  # fmt: skip
    rows.append(("all", _sub(all_b["p50"], all_a["p50"]), _sub(all_b["p95"], all_a["p95"]), dh))
    return rows


def _sub(x, y):
    return None if x is None or y is None else x - y


def fig_comparison(rows: list[tuple], label_a: str, label_b: str) -> Figure:
    """Diverging bars of B - A per region: p50, p95 (ms) and hit ratio (points)."""
    fig, axes = plt.subplots(1, 3, figsize=(12, max(3.5, 0.4 * len(rows) + 1.6)), dpi=DPI,
                             sharey=True, layout="constrained")  # fmt: skip
    ys = list(range(len(rows)))[::-1]
    panels = [("p50 latency change (ms)", 1, 1.0, True), ("p95 latency change (ms)", 2, 1.0,
              True), ("hit ratio change (percentage points)", 3, 100.0, False)]  # fmt: skip
    for ax, (label, col, mult, lower_better) in zip(axes, panels, strict=True):
        vals = [None if r[col] is None else r[col] * mult for r in rows]
        shown = [v or 0.0 for v in vals]
        colors = [BETTER if (v < 0) == lower_better else WORSE for v in shown]
        ax.barh(ys, shown, color=colors)
        ax.axvline(0, color="black", lw=0.8)
        lim = max((abs(v) for v in shown), default=1.0) or 1.0
        ax.set_xlim(-lim * 1.7, lim * 1.7)
        for y, v in zip(ys, vals, strict=True):
            txt = "n/a" if v is None else f"{v:+,.1f}"
            ax.text(v or 0.0, y, f" {txt} " if (v or 0) >= 0 else f" {txt} ", va="center",
                    ha="left" if (v or 0) >= 0 else "right", fontsize=9)  # fmt: skip
        ax.set_xlabel(label)
        ax.grid(True, axis="x", alpha=0.3)
    axes[0].set_yticks(ys, [r[0] for r in rows])
    from matplotlib.patches import Patch

    fig.legend(handles=[Patch(color=BETTER, label="B better"), Patch(color=WORSE,
               label="B worse")], loc="outside lower center", ncols=2)  # fmt: skip
    fig.suptitle("Change per region, B minus A\n"  # one line per run, so long names fit
                 + "\n".join(textwrap.shorten(f"{k} = {v}", 130, placeholder="...")
                             for k, v in (("A", label_a), ("B", label_b))))  # fmt: skip
    return fig


# ---------------------------------------------------------------------- assembly


def figures(res) -> list[FigureSpec]:
    """Every figure a results directory supports (``res``: report_data.Results)."""
    s, dist = res.summary, res.dist
    name = f"{res.name} (seed {res.seed}, {s['requests']:,} requests)"
    out: list[FigureSpec] = []
    cities = s.get("cities", {})
    if dist:
        p50 = {n: c.get("p50") for n, c in cities.items()}
        out.append(FigureSpec(
            "map", "Client cities (size: requests; colour: median latency) and the edge that "
            "served most of each", fig_world_map(dist, p50, f"Where requests went: {name}")))  # fmt: skip
        if dist.get("regions"):
            out.append(FigureSpec(
                "latency-cdf", "Latency CDF per region; dotted: fiber round trip from the "
                "region's median client to its nearest edge",
                fig_latency_cdf(dist["regions"], f"Request latency by client region: {name}")))  # fmt: skip
    if cities:
        top = min(20, len(cities))
        out.append(FigureSpec(
            "cities", f"Median and 95th percentile latency of the {top} busiest cities",
            fig_city_percentiles(cities, f"Latency of the {top} busiest client cities (sorted "
                                 f"by p95): {res.name}", top)))  # fmt: skip
    if res.timeseries:
        events = dist.get("events", []) if dist else []
        out.append(FigureSpec(
            "timeseries", "Load, cache hit ratio, origin load and p95 latency over simulated "
            "time; dashed lines: scenario events",
            fig_timeseries(res.timeseries, events, f"Over time: {name}")))  # fmt: skip
    if dist and dist.get("resolvers"):
        out.append(FigureSpec(
            "mapping-distance", "How far the DNS sends clients, by resolver kind",
            fig_mapping_distance(dist["resolvers"], f"Client-to-edge distance by resolver "
                                 f"kind: {res.name}")))  # fmt: skip
    if edge_hit_rows(s.get("edges", {})):
        out.append(FigureSpec(
            "edge-hit-ratio", "Hit ratio of each edge (shields: of requests from child edges)",
            fig_edge_hit_ratio(s["edges"], f"Cache hit ratio per edge: {res.name}")))  # fmt: skip
    return out


def sweep_figures(sw) -> list[FigureSpec]:
    """Figures of a sweep (``sw``: report_data.Sweep)."""
    from cdn.units import UnitError, parse_size

    out: list[FigureSpec] = []
    cap_key = next((k for k in sw.keys if k.split(".")[-1] == "capacity"), None)
    pol_key = next((k for k in sw.keys if k.split(".")[-1] == "policy" and "edge" in k), None)
    if cap_key:
        curves: dict[str, list[tuple[float, float]]] = {}
        for r in sw.rows:
            try:
                cap = float(parse_size(r[cap_key]))
            except (UnitError, ValueError):
                continue
            if r.get("hit_ratio") in (None, ""):
                continue
            curves.setdefault(r[pol_key] if pol_key else "as configured", []).append(
                (cap, float(r["hit_ratio"]))
            )
        if curves:
            out.append(FigureSpec(
                "sweep-capacity", f"Hit ratio against {cap_key}, one curve per policy",
                fig_sweep_capacity(curves, "Hit ratio against cache capacity (a miss-ratio "
                                   "curve per eviction policy)")))  # fmt: skip
    short = {r["variant"]: ", ".join(f"{k.split('.')[-1]}={r[k]}" for k in sw.keys) or
             r["variant"] for r in sw.rows}  # fmt: skip
    p95 = [(short.get(label, label), v.summary["latency_ms"]["p95"])
           for label, v in sw.variants.items()
           if v.summary["latency_ms"].get("p95") is not None]  # fmt: skip
    if p95:
        out.append(
            FigureSpec(
                "sweep-p95",
                "p95 latency of each variant",
                fig_sweep_p95(p95, "p95 request latency per sweep variant"),
            )
        )
    return out


def save(spec: FigureSpec, out_dir: Path) -> dict[str, Path]:
    """Write ``<name>.png`` and ``<name>.svg`` (temporary name, then rename)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for fmt in ("png", "svg"):
        path = out_dir / f"{spec.name}.{fmt}"
        tmp = out_dir / f".{spec.name}.{os.getpid()}.tmp.{fmt}"
        meta = {"Software": None} if fmt == "png" else {"Date": None, "Creator": None}
        spec.figure.savefig(tmp, format=fmt, dpi=DPI, metadata=meta)
        os.replace(tmp, path)
        paths[fmt] = path
    return paths


def close(specs: Sequence[FigureSpec]) -> None:
    for s in specs:
        plt.close(s.figure)
