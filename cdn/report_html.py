"""The report page: one self-contained HTML file that opens offline.

Theory of operation: the page is a string built from escaped values; every image
is inlined as a base64 PNG (with a relative link to its SVG beside the page), the
style sheet is inline, and nothing refers to another host, so the file can be
mailed or opened from disk. The first thing on the page is what was run
(scenario, seed, request count) and its headline numbers; then the figures;
then the scenario text itself. A comparison page puts two runs side by side.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.5em auto;
max-width:1300px;padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;margin-top:1.6em;
border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:.25em .7em;text-align:right;
border-bottom:1px solid #eee}th:first-child,td:first-child{text-align:left}
figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.95em;color:#444}pre{background:#f6f6f6;padding:1em;overflow:auto;
font-size:.9em}.pair{display:grid;grid-template-columns:1fr 1fr;gap:1em}
.meta{color:#555}
"""


@dataclass(frozen=True)
class Image:
    """A rendered figure: file stem, caption, PNG bytes, SVG file name."""

    name: str
    caption: str
    png: bytes
    svg: str


def esc(x) -> str:
    return html.escape(str(x), quote=True)


def fmt(x, kind: str = "") -> str:
    if x is None:
        return "–"
    if kind == "pct":
        return f"{x:.1%}"
    if kind == "bytes":
        from cdn.units import format_size

        return format_size(x)
    if isinstance(x, float):
        return f"{x:,.1f}" if abs(x) >= 10 else f"{x:,.2f}"
    if isinstance(x, int):
        return f"{x:,}"
    return str(x)


def headline(s: dict) -> list[tuple[str, str]]:
    """(label, value) pairs of a summary's headline numbers."""
    lat, dist, org = s["latency_ms"], s.get("mapping_distance_km", {}), s.get("origin", {})
    return [
        ("scenario", s["scenario"]["name"]),
        ("seed", fmt(s["scenario"]["seed"])),
        ("requests", fmt(s["requests"])),
        ("simulated time (s)", fmt(s.get("simulated_seconds"))),
        ("hit ratio", fmt(s.get("hit_ratio"), "pct")),
        ("byte hit ratio", fmt(s.get("byte_hit_ratio"), "pct")),
        ("latency p50 (ms)", fmt(lat.get("p50"))),
        ("latency p90 (ms)", fmt(lat.get("p90"))),
        ("latency p95 (ms)", fmt(lat.get("p95"))),
        ("latency p99 (ms)", fmt(lat.get("p99"))),
        ("latency mean (ms)", fmt(lat.get("mean"))),
        ("client-to-edge distance, mean (km)", fmt(dist.get("mean"))),
        ("origin requests", fmt(org.get("requests"))),
        ("origin traffic", fmt(org.get("bytes"), "bytes")),
        ("errors", fmt(s.get("errors"))),
        ("retries", fmt(s.get("retries"))),
    ]


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    h = "".join(f"<th>{esc(c)}</th>" for c in head)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>"


def region_table(s: dict) -> str:
    from cdn.report import region_name

    rows = [
        [region_name(r), fmt(v["requests"]), fmt(v["p50"]), fmt(v["p95"]), fmt(v["p99"]),
         fmt(v["mapping_distance_km"]["mean"]), fmt(v["errors"])]
        for r, v in s.get("regions", {}).items()
    ]  # fmt: skip
    return _table(["client region", "requests", "p50 ms", "p95 ms", "p99 ms", "mean km",
                   "errors"], rows)  # fmt: skip


def figure_html(img: Image) -> str:
    data = base64.b64encode(img.png).decode("ascii")
    return (
        f'<figure id="{esc(img.svg.rsplit(".", 1)[0])}"><img src="data:image/png;base64,{data}" '
        f'alt="{esc(img.caption)}"><figcaption>{esc(img.caption)} '
        f'(<a href="{esc(img.svg)}">SVG</a>)</figcaption></figure>'
    )


def _doc(title: str, body: str, wide: bool = False) -> str:
    # side by side pages use the whole window, so each figure stays near its natural size
    css = CSS + ("body{max-width:none}" if wide else "")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{css}</style></head><body>\n{body}\n</body></html>\n"
    )


def _scenario_block(text: str | None, path: str | None) -> str:
    if not text:
        return ("<h2>Scenario</h2><p>The scenario text was not recorded with these results "
                "(no distributions.json).</p>")  # fmt: skip
    where = f" <span class=meta>({esc(path)})</span>" if path else ""
    return f"<h2>Scenario file{where}</h2><pre>{esc(text)}</pre>"


def page(summary: dict, images: Sequence[Image], scenario_text: str | None,
         scenario_path: str | None = None, description: str = "", notes: Sequence[str] = ()) -> str:  # fmt: skip
    """The report page of one run."""
    name, seed, n = summary["scenario"]["name"], summary["scenario"]["seed"], summary["requests"]
    parts = [
        f"<h1>CDN simulation report: {esc(name)}</h1>",
        f"<p class=meta>scenario <b>{esc(name)}</b>, seed <b>{esc(seed)}</b>, "
        f"<b>{n:,}</b> requests over {fmt(summary.get('simulated_seconds'))} s of simulated "
        f"time. {esc(description)}</p>",
        "<h2>Headline</h2>",
        _table(["measure", "value"], headline(summary)),
        region_table(summary),
    ]
    parts += [f"<p class=meta>{esc(x)}</p>" for x in notes]
    parts.append("<h2>Figures</h2>")
    parts += [figure_html(i) for i in images]
    parts.append(_scenario_block(scenario_text, scenario_path))
    return _doc(f"CDN report: {name}", "\n".join(parts))


def comparison_page(a: dict, b: dict, label_a: str, label_b: str, delta: Sequence[Image],
                    images_a: Sequence[Image], images_b: Sequence[Image],
                    text_a: str | None, text_b: str | None) -> str:  # fmt: skip
    """Two runs side by side: headline tables, the delta chart, each figure pair."""
    ha, hb = headline(a), headline(b)
    rows = [[la, va, vb] for (la, va), (_, vb) in zip(ha, hb, strict=True)]
    parts = [
        f"<h1>CDN simulation comparison: {esc(a['scenario']['name'])} vs "
        f"{esc(b['scenario']['name'])}</h1>",
        f"<p class=meta>A = {esc(label_a)} (scenario {esc(a['scenario']['name'])}, seed "
        f"{esc(a['scenario']['seed'])}, {a['requests']:,} requests)<br>B = {esc(label_b)} "
        f"(scenario {esc(b['scenario']['name'])}, seed {esc(b['scenario']['seed'])}, "
        f"{b['requests']:,} requests)</p>",
        "<h2>Headline</h2>",
        _table(["measure", "A", "B"], rows),
        "<h2>What changed</h2>",
        *(figure_html(i) for i in delta),
        "<h2>Side by side</h2>",
    ]
    by_b = {i.name: i for i in images_b}
    for ia in images_a:
        ib = by_b.get(ia.name)
        right = figure_html(ib) if ib else "<p>(not available for B)</p>"
        parts.append(f"<div class=pair><div><b>A</b>{figure_html(ia)}</div>"
                     f"<div><b>B</b>{right}</div></div>")  # fmt: skip
    parts.append("<div class=pair><div>" + _scenario_block(text_a, None) + "</div><div>"
                 + _scenario_block(text_b, None) + "</div></div>")  # fmt: skip
    return _doc("CDN comparison", "\n".join(parts), wide=True)


def sweep_page(name: str, keys: Sequence[str], rows: Sequence[dict], images: Sequence[Image]) -> str:  # fmt: skip
    """The report page of a sweep: its table and figures."""
    from cdn.commands.sweep import HEADLINE

    cols = ["variant", *keys, *HEADLINE]
    parts = [
        f"<h1>CDN sweep report: {esc(name)}</h1>",
        f"<p class=meta>{len(rows)} variant(s) over {esc(', '.join(keys) or 'no keys')}</p>",
        "<h2>Variants</h2>",
        _table(cols, [[r.get(c, "") for c in cols] for r in rows]),
        "<h2>Figures</h2>",
        *(figure_html(i) for i in images),
    ]
    return _doc(f"CDN sweep: {name}", "\n".join(parts))


# ---------------------------------------------------------------------- files


def _out_dir(path) -> None:
    from cdn.errors import UserError

    if path.exists() and not path.is_dir():
        raise UserError(f"{path}: exists and is not a directory; give -o a directory")


def _images(specs, out_dir) -> list[Image]:
    from cdn import report

    out = []
    for spec in specs:
        paths = report.save(spec, out_dir)
        out.append(Image(spec.name, spec.caption, paths["png"].read_bytes(), paths["svg"].name))
    report.close(specs)
    return out


def scenario_text(res) -> tuple[str | None, str | None]:
    """(text, path) of the scenario of a run: from distributions.json, else the
    bundled scenario of that name when its SHA-256 matches the summary's."""
    if res.dist and res.dist.get("scenario", {}).get("text"):
        sc = res.dist["scenario"]
        return sc["text"], sc.get("path")
    try:
        from cdn.scenario import bundled_scenarios, load_scenario

        if res.name in bundled_scenarios():
            sc = load_scenario(res.name)
            if sc.text_sha256 == res.summary["scenario"].get("sha256"):
                return sc.text, sc.path
    except Exception:  # noqa: BLE001 - the text is a nicety; the report stands without it
        pass
    return None, None


def write_report(results_dir, out_dir=None) -> list:
    """Figures (PNG + SVG) and index.html for a results or sweep directory;
    returns the paths written. Default ``out_dir``: ``<results_dir>/report``."""
    from pathlib import Path

    from cdn.report_data import is_sweep, load_results, load_sweep
    from cdn.results import atomic_write

    src = Path(results_dir)
    out = Path(out_dir) if out_dir is not None else src / "report"
    _out_dir(out)
    data = load_sweep(src) if is_sweep(src) else load_results(src)  # errors before matplotlib
    from cdn import report

    if is_sweep(src):
        sw = data
        images = _images(report.sweep_figures(sw), out)
        text = sweep_page(src.name, sw.keys, sw.rows, images)
    else:
        res = data
        images = _images(report.figures(res), out)
        notes = [] if res.dist else [
            "This run has no distributions.json (written by an older simulator): the map, "
            "the latency CDF and the mapping-distance CDF are left out."]  # fmt: skip
        txt, path = scenario_text(res)
        desc = res.dist["scenario"].get("description", "") if res.dist else ""
        text = page(res.summary, images, txt, path, desc, notes)
    atomic_write(out / "index.html", text)
    return [out / f"{i.name}.{ext}" for i in images for ext in ("png", "svg")] + [
        out / "index.html"
    ]


def write_comparison(dir_a, dir_b, out_dir=None) -> list:
    """A comparison of two runs: delta chart, both runs' figures, index.html."""
    from pathlib import Path

    from cdn.report_data import load_results, region_hit_ratio
    from cdn.results import atomic_write

    a, b = load_results(dir_a), load_results(dir_b)
    from cdn import report

    pa, pb = Path(dir_a), Path(dir_b)
    out = Path(out_dir) if out_dir is not None else pa.resolve().parent / (
        f"compare-{pa.resolve().name}-{pb.resolve().name}")  # fmt: skip
    _out_dir(out)
    la, lb = f"{a.name} ({pa})", f"{b.name} ({pb})"
    rows = report.comparison_rows(a.summary, b.summary, region_hit_ratio(a), region_hit_ratio(b))
    delta = report.FigureSpec(
        "comparison", "B minus A per client region: p50 and p95 latency (ms) and hit ratio of "
        "the region's requests; blue: B better, vermillion: B worse",
        report.fig_comparison(rows, a.name, b.name))  # fmt: skip
    d_img = _images([delta], out)
    ia = _images([report.FigureSpec("a-" + s.name, s.caption, s.figure)
                  for s in report.figures(a)], out)  # fmt: skip
    ib = _images([report.FigureSpec("b-" + s.name, s.caption, s.figure)
                  for s in report.figures(b)], out)  # fmt: skip
    # pair figures by their name without the a-/b- prefix
    ia = [Image(i.name[2:], i.caption, i.png, i.svg) for i in ia]
    ib = [Image(i.name[2:], i.caption, i.png, i.svg) for i in ib]
    text = comparison_page(a.summary, b.summary, la, lb, d_img, ia, ib, scenario_text(a)[0],
                           scenario_text(b)[0])  # fmt: skip
    atomic_write(out / "index.html", text)
    return sorted(p for p in out.iterdir() if not p.name.startswith("."))
