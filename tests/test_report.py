"""Reports: every figure renders to a real PNG and SVG, the page is offline, the
numbers behind the figures agree with summary.json, arcs split at the antimeridian."""

from __future__ import annotations

import json
import math
import re
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from matplotlib.text import Text

from cdn import report, worldmap
from cdn.geo import fiber_rtt_ms, great_circle_km
from cdn.report_data import distributions, load_results, region_hit_ratio
from cdn.report_html import write_comparison, write_report
from cdn.scenario import load_scenario, scenario_from_text
from cdn.simulate import simulate
from tests.conftest import run_cdn

FIGURES = {"map", "latency-cdf", "cities", "timeseries", "mapping-distance", "edge-hit-ratio"}

# Tokyo clients served from Los Angeles: their arcs cross the antimeridian.
PACIFIC = """
name = "pacific"
seed = 3
[origin]
place = "LAX"
[[edges]]
name = "lax"
place = "LAX"
capacity = "64MiB"
[[edges]]
name = "fra"
place = "FRA"
capacity = "64MiB"
[[clients]]
place = "Tokyo"
weight = 3
[[clients]]
place = "Berlin"
weight = 1
[[clients]]
place = "New York"
weight = 2
[resolvers]
isp = 0.6
[[resolvers.public]]
name = "far-dns"
share = 0.4
places = ["LAX"]
ecs = false
[workload]
duration = "8s"
rate = "1000/s"
catalog_size = 2000
[[events]]
at = "3s"
kind = "edge_down"
edge = "fra"
[[events]]
at = "5s"
kind = "purge"
prefix = "/img/"
"""


def run(scenario, out: Path, requests: int | None = None, seed: int | None = None) -> Path:
    res = simulate(scenario, out_dir=out, requests=requests, seed=seed)
    assert out / "distributions.json" in res.paths
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("runs")
    quick = run(load_scenario("quickstart"), base / "quick", requests=20000)
    pacific = run(scenario_from_text(PACIFIC, "pacific.toml"), base / "pacific")
    return {"quick": quick, "pacific": pacific}


@pytest.fixture(scope="module")
def quick_report(runs):
    paths = write_report(runs["quick"])
    return runs["quick"] / "report", paths


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def check_images(out: Path, names: set[str]) -> None:
    for name in names:
        png = out / f"{name}.png"
        assert png.stat().st_size > 10_000, f"{png} is too small to be a real figure"
        w, h = png_size(png)
        assert 800 <= w <= 2000 and 300 <= h <= 1500, (name, w, h)
        root = ET.parse(out / f"{name}.svg").getroot()
        assert root.tag.endswith("svg")
    assert not list(out.glob(".*tmp*")), "temporary files left behind"


def test_every_figure_is_a_real_image(quick_report):
    out, paths = quick_report
    check_images(out, FIGURES)
    assert {p.name for p in paths} == {f"{n}.{e}" for n in FIGURES for e in ("png", "svg")} | {
        "index.html"
    }


def test_page_states_the_run_first_and_is_offline(quick_report, runs):
    out, _ = quick_report
    page = (out / "index.html").read_text(encoding="utf-8")
    summary = json.loads((runs["quick"] / "summary.json").read_text())
    head = page[: page.index("<h2>Figures")]
    assert "quickstart" in head
    assert f"seed <b>{summary['scenario']['seed']}</b>" in head
    assert "20,000" in head and summary["requests"] == 20000
    # no external references outside the scenario text (which is shown verbatim)
    outside = re.sub(r"<pre>.*?</pre>", "", page, flags=re.S)
    assert not re.search(r"https?://", outside)
    assert not re.search(r"""(src|href)=["']?//""", outside)
    imgs = re.findall(r'<img src="([^"]+)"', page)
    assert len(imgs) == len(FIGURES) and all(s.startswith("data:image/png;base64,") for s in imgs)
    # the scenario text is there, escaped
    assert "name = &quot;quickstart&quot;" in page


def test_distributions_agree_with_the_summary(runs):
    res = load_results(runs["quick"])
    s, d = res.summary, res.dist
    for r, info in d["regions"].items():
        pairs = info["latency_ms"]
        served = s["regions"][r]["requests"] - s["regions"][r]["errors"]
        assert sum(c for _, c in pairs) == served
        # the summary's p50 is the centre of the bin whose upper edge reaches 50%
        total, acc = served, 0
        for upper, c in pairs:
            acc += c
            if acc >= math.ceil(total / 2):
                assert upper / 10**0.005 == pytest.approx(s["regions"][r]["p50"], rel=1e-3)
                break
        f = info["floor"]
        city = next(c for c in d["cities"] if c["name"] == f["city"])
        edge = next(e for e in d["edges"] if e["name"] == f["edge"])
        km = great_circle_km(city["lat"], city["lon"], edge["lat"], edge["lon"])
        assert f["rtt_ms"] == pytest.approx(fiber_rtt_ms(km), abs=0.01)
        assert f["rtt_ms"] < s["regions"][r]["p50"]  # nothing beats light
    # region hit ratios add up to the run's cache hits (hit, stale, collapsed outcomes)
    hits = sum(
        d["regions"][r]["hit_ratio"] * (v["requests"] - v["errors"])
        for r, v in s["regions"].items()
    )
    o = s["outcomes"]
    assert hits == pytest.approx(o["hit"] + o["stale"] + o["collapsed"], abs=0.01)
    assert region_hit_ratio(res) == {r: v["hit_ratio"] for r, v in d["regions"].items()}
    for kind, pairs in d["resolvers"].items():
        n = sum(c for _, c in pairs)
        mean = sum(km * c for km, c in pairs) / n
        assert mean == pytest.approx(s["resolvers"][kind]["mapping_distance_km"]["mean"], abs=0.2)
    for c in d["cities"]:
        sc = s["cities"][c["name"]]
        assert sum(c["edges"].values()) == sc["requests"] - sc["errors"]
        assert c["edges"][c["top_edge"]] == max(c["edges"].values())


def test_distributions_are_deterministic(runs, tmp_path):
    sc = load_scenario("quickstart")
    a = simulate(sc, out_dir=tmp_path / "a", requests=3000)
    b = simulate(sc, out_dir=tmp_path / "b", requests=3000, chunk=700)
    assert distributions(a.stats, sc) == distributions(b.stats, sc)


def test_events_and_antimeridian_arcs(runs):
    out = runs["pacific"] / "rep"
    write_report(runs["pacific"], out)
    check_images(out, FIGURES)
    res = load_results(runs["pacific"])
    assert [e["label"] for e in res.dist["events"]] == ["fra down", "purge /img/"]
    # the map draws Tokyo -> lax as two pieces meeting at the antimeridian
    tokyo = next(c for c in res.dist["cities"] if c["name"].startswith("Tokyo"))
    assert tokyo["top_edge"] == "lax"
    fig = report.fig_world_map(res.dist, {}, "t")
    xs_all = [line.get_xdata() for line in fig.axes[0].lines]
    for xs in xs_all:
        assert all(abs(b - a) < 180 for a, b in zip(xs, xs[1:], strict=False))
    ends = {round(float(x), 6) for xs in xs_all for x in (xs[0], xs[-1])}
    assert 180.0 in ends and -180.0 in ends
    report.close([report.FigureSpec("m", "", fig)])


def test_great_circle_split_matches_geometry():
    tokyo, la = (35.6895, 139.6917), (34.0522, -118.2437)
    pieces = worldmap.great_circle_segments(*tokyo, *la)
    assert len(pieces) == 2
    assert pieces[0][-1][0] == 180.0 and pieces[1][0][0] == -180.0
    assert pieces[0][-1][1] == pytest.approx(pieces[1][0][1])
    # the crossing lies on the great circle: its distances add up
    lat = pieces[0][-1][1]
    total = great_circle_km(*tokyo, *la)
    via = great_circle_km(*tokyo, lat, 180.0) + great_circle_km(lat, 180.0, *la)
    assert via == pytest.approx(total, rel=2e-3)


@pytest.mark.parametrize("name", ["quickstart", "global", "failover", "public-resolvers"])
def test_map_labels_never_overlap(name, tmp_path):
    sc = load_scenario(name)
    res = simulate(sc, out_dir=tmp_path, requests=2000)
    d = distributions(res.stats, sc)
    fig = report.fig_world_map(d, {}, name)
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    fig.canvas.draw()
    boxes = [Text.get_window_extent(t, renderer) for t in ax.texts]  # the text, not its leader
    words = {w for t in ax.texts for w in t.get_text().split(" + ")}
    assert words == {"origin", *(e.name for e in sc.edges)}  # every edge and the origin
    frame = ax.get_window_extent(renderer)
    for i, a in enumerate(boxes):
        assert frame.x0 - 1 <= a.x0 and a.x1 <= frame.x1 + 1
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b), (name, a, b)
    report.close([report.FigureSpec("m", "", fig)])


def test_comparison(runs, tmp_path):
    out = tmp_path / "cmp"
    write_comparison(runs["quick"], runs["pacific"], out)
    check_images(out, {"comparison", "a-map", "b-map"})
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "quickstart" in page and "pacific" in page
    assert page.count("<div class=pair>") >= len(FIGURES)
    a, b = load_results(runs["quick"]), load_results(runs["pacific"])
    rows = report.comparison_rows(a.summary, b.summary, region_hit_ratio(a), region_hit_ratio(b))
    by = {r[0]: r for r in rows}
    eu_a, eu_b = a.summary["regions"]["EU"], b.summary["regions"]["EU"]
    assert by["Europe"][1] == pytest.approx(eu_b["p50"] - eu_a["p50"])
    assert by["Europe"][2] == pytest.approx(eu_b["p95"] - eu_a["p95"])
    assert by["all"][3] == pytest.approx(b.summary["hit_ratio"] - a.summary["hit_ratio"])


def test_cli_report_and_errors(runs, tmp_path):
    out = tmp_path / "cli"
    r = run_cdn("report", str(runs["pacific"]), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert (out / "index.html").is_file() and "index.html" in r.stdout
    r = run_cdn("report", str(tmp_path / "nothing-here"))
    assert r.returncode == 2 and "not a directory" in r.stderr and "Traceback" not in r.stderr
    (tmp_path / "empty").mkdir()
    r = run_cdn("report", str(tmp_path / "empty"))
    assert r.returncode == 2 and "not a results directory" in r.stderr
    (tmp_path / "file").write_text("x")
    r = run_cdn("report", str(runs["pacific"]), "-o", str(tmp_path / "file"))
    assert r.returncode == 2 and "not a directory" in r.stderr
    r = run_cdn("report", "a", "b", "c")
    assert r.returncode == 2 and "two to compare" in r.stderr


def test_sweep_report(tmp_path):
    out = tmp_path / "sweep"
    r = run_cdn("sweep", "quickstart", "--set", "edge_defaults.capacity=16MiB,256MiB",
                "--set", "edge_defaults.policy=lru,sieve", "--requests", "4000", "-j", "1",
                "-o", str(out))  # fmt: skip
    assert r.returncode == 0, r.stderr
    paths = write_report(out)
    check_images(out / "report", {"sweep-capacity", "sweep-p95"})
    assert out / "report" / "index.html" in paths
    page = (out / "report" / "index.html").read_text(encoding="utf-8")
    assert page.count("<tr>") >= 1 + 4 and "edge_defaults.policy" in page


def test_results_without_distributions(runs, tmp_path):
    """A run written without distributions.json still gets the figures it supports."""
    old = tmp_path / "old"
    old.mkdir()
    for name in ("summary.json", "timeseries.csv"):
        (old / name).write_bytes((runs["quick"] / name).read_bytes())
    write_report(old)
    check_images(old / "report", {"cities", "timeseries", "edge-hit-ratio"})
    assert not (old / "report" / "map.png").exists()
    page = (old / "report" / "index.html").read_text(encoding="utf-8")
    assert "no distributions.json" in page
    # the bundled scenario with the summary's SHA-256 supplies the text
    assert "name = &quot;quickstart&quot;" in page


def test_simulate_writes_distributions_and_report(tmp_path):
    """``cdn simulate --report``: distributions.json beside summary.json, byte-identical
    for the same seed, and the report in <results>/report/."""
    a, b = tmp_path / "a", tmp_path / "b"
    r = run_cdn("simulate", "-o", str(a), "--requests", "5000", "--seed", "9", "--report")
    assert r.returncode == 0, r.stderr
    assert "report:" in r.stdout
    check_images(a / "report", FIGURES)
    simulate("quickstart", out_dir=b, requests=5000, seed=9, chunk=999)
    da = (a / "distributions.json").read_bytes()
    assert da == (b / "distributions.json").read_bytes()
    assert json.loads(da)["scenario"]["seed"] == 9
