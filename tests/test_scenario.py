"""Scenario files: the bundled ones load, units convert, and bad input gets
messages that name the file, the key path and what is allowed."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import pytest

from cdn.errors import UserError
from cdn.places import resolve_place, top_cities
from cdn.scenario import (
    DEFAULT_CONTENT,
    DIURNAL_SHAPES,
    EDGE_POLICIES,
    ROUTING_POLICIES,
    ScenarioError,
    bundled_scenarios,
    find_scenario,
    load_scenario,
    scenario_from_text,
)
from tests.conftest import DATA, SCENARIOS, run_cdn

MINIMAL = """
[origin]
place = "IAD"
[[edges]]
name = "fra"
place = "FRA"
[[clients]]
place = "Paris"
"""


def problems_of(text: str, tmp_path: Path | None = None) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        scenario_from_text(text, "inline.toml", base_dir=tmp_path)
    return info.value.problems


def load_error(name: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        load_scenario(DATA / name)
    return info.value


# -- bundled scenarios ---------------------------------------------------------


def test_the_four_bundled_scenarios_are_there():
    assert {"quickstart", "global", "public-resolvers", "failover"} <= set(bundled_scenarios())


@pytest.mark.parametrize("name", sorted(p.stem for p in SCENARIOS.glob("*.toml")))
def test_every_bundled_scenario_loads(name):
    s = load_scenario(name)
    raw = (SCENARIOS / f"{name}.toml").read_bytes()
    assert s.name == name
    assert s.path == f"<bundled>/{name}.toml"
    assert s.text_sha256 == hashlib.sha256(raw).hexdigest()
    assert s.text == raw.decode()
    assert s.edges and s.clients and s.description
    assert math.isclose(sum(g.share for g in s.resolvers), 1.0)
    assert math.isclose(sum(c.share for c in s.workload.content), 1.0)


def test_find_scenario_by_name_file_name_and_path(tmp_path):
    assert find_scenario("quickstart") == find_scenario("quickstart.toml")
    assert find_scenario("quickstart").read_bytes() == (SCENARIOS / "quickstart.toml").read_bytes()
    own = tmp_path / "mine.toml"
    own.write_text(MINIMAL)
    assert find_scenario(own) == own
    s = load_scenario(str(own))
    assert s.path == str(own) and s.name == "mine"
    with pytest.raises(
        UserError, match=r"no-such-thing: no such scenario file.*bundled: .*quickstart"
    ):
        find_scenario("no-such-thing")


def test_quickstart_units_convert():
    s = load_scenario("quickstart")
    assert s.dns.ttl == 30.0 and s.dns.policy == "latency"
    assert s.origin.place.code == "IAD"
    assert [e.place.code for e in s.edges] == ["IAD", "FRA", "SIN", "GRU", "JNB"]
    assert all(e.capacity == 2 * 2**30 for e in s.edges)  # "2GiB" from [edge_defaults]
    assert s.workload.rate == 2000.0 and s.workload.duration == 100.0
    assert s.workload.expected_requests == 200_000
    assert s.origin.service_time.kind == "lognormal"
    assert s.origin.service_time.value == pytest.approx(0.008)  # "8ms"
    assert s.network.bandwidth == 100e6  # "100Mbit/s"
    lagos = next(c for c in s.clients if c.place == resolve_place("Lagos"))
    assert lagos.access_delay == pytest.approx(0.020)
    assert {c.place.continent for c in s.clients} == {"NA", "SA", "EU", "AF", "AS", "OC"}
    assert 10 <= len(s.clients) <= 14


def test_global_clients_are_weighted_by_population():
    s = load_scenario("global")
    cities = top_cities(150)
    assert len(s.clients) == 150
    assert {c.place for c in s.clients} == set(cities)
    weights = {c.place: c.weight for c in s.clients}
    for city in cities[:10]:
        assert weights[city] == pytest.approx(city.population / 1e6)
    assert 18 <= sum(e.tier == "edge" for e in s.edges) <= 22
    assert {e.place.continent for e in s.edges} == {"NA", "SA", "EU", "AF", "AS", "OC"}
    public = [g for g in s.resolvers if g.kind == "public"]
    assert 0.25 <= sum(g.share for g in public) <= 0.30
    assert {g.ecs for g in public} == {True, False}
    assert all(6 <= len(g.places) <= 10 for g in public)
    assert 900_000 <= s.workload.expected_requests <= 1_100_000
    assert s.workload.diurnal == 0.5
    # [network.access_delays] reaches the matching client places
    lagos = next(c for c in s.clients if c.place == resolve_place("Lagos"))
    assert lagos.access_delay == pytest.approx(0.030)
    assert ("Lagos", pytest.approx(0.030)) in s.network.access_delays


def test_public_resolvers_scenario_shape():
    s = load_scenario("public-resolvers")
    assert {c.place.continent for c in s.clients} == {"AF", "SA", "AS", "OC"}
    public = [g for g in s.resolvers if g.kind == "public"]
    assert sorted(g.ecs for g in public) == [False, True]
    assert all(p.continent in ("NA", "EU") for g in public for p in g.places)
    assert any(g.kind == "isp" for g in s.resolvers)


def test_failover_scenario_events():
    s = load_scenario("failover")
    assert s.dns.ttl == 20.0 and s.dns.health_interval == 5.0
    assert [(e.at, e.kind, e.edge) for e in s.events] == [
        (60.0, "edge_down", "iad"),
        (180.0, "edge_up", "iad"),
    ]
    assert 200 <= s.workload.duration <= 300


def test_names_match_the_registries_that_use_them():
    from cdn import distributions
    from cdn.scenario import DISTRIBUTIONS
    from edge.store import POLICIES

    assert set(EDGE_POLICIES) == set(POLICIES)
    assert set(DISTRIBUTIONS) == set(distributions.DISTRIBUTIONS)
    routing = pytest.importorskip("cdn.routing")
    assert set(ROUTING_POLICIES) == set(routing.POLICIES)
    workload = pytest.importorskip("cdn.workload")
    assert set(DIURNAL_SHAPES) == set(workload.DIURNAL_SHAPES)


def test_default_content_mix():
    s = scenario_from_text(MINIMAL)
    assert s.workload.content == DEFAULT_CONTENT
    assert math.isclose(sum(c.share for c in DEFAULT_CONTENT), 1.0)
    by_name = {c.name: c for c in DEFAULT_CONTENT}
    assert "stale-while-revalidate" in by_name["html"].cache_control
    assert "immutable" in by_name["script"].cache_control
    assert by_name["video"].size.value > 100 * by_name["style"].size.value


def test_defaults_of_a_minimal_scenario():
    s = scenario_from_text(MINIMAL, "x/minimal.toml")
    assert s.name == "minimal" and s.seed == 0
    assert s.edges[0].capacity == 2**30 and s.edges[0].policy == "lru"
    assert [(g.name, g.share) for g in s.resolvers] == [("isp", 1.0)]
    assert s.events == () and s.network.nodes is None


def test_everything_else_converts(tmp_path):
    (tmp_path / "site").mkdir()
    (tmp_path / "trace.csv").write_text("time,client,key,size\n")
    text = """
name = "full"
seed = 9
[origin]
place = "48.85,2.35"
root = "site"
service_time = { distribution = "exponential", mean = "4ms", max = "1s" }
[[origin.cache_control]]
pattern = "*.html"
value = "max-age=60"
[[origin.surrogate_keys]]
pattern = "/img/*"
keys = ["images", "all"]
[[edges]]
name = "shield"
place = "IAD"
tier = "shield"
capacity = "10GB"
[[edges]]
name = "fra"
place = "FRA"
parent = "shield"
capacity = "512MiB"
policy = "sieve"
max_rps = "30000/min"
max_object_size = "8MiB"
[dns]
zone = "Example.COM."
hosts = "www"
ttl = "2m"
slack = "15ms"
answers = 1
fallback = "fra"
place = "LHR"
[[clients]]
place = "Paris"
weight = 2
[[clients]]
top = 3
country = "DE"
weight = 0.5
[resolvers]
isp = 0.5
isp_ecs = true
[[resolvers.public]]
name = "pub"
share = 0.5
places = "AMS"
cache = false
[workload]
requests = 5000
duration = "1h"
trace = "trace.csv"
start_hour_utc = 18.5
[[workload.content]]
type = "page"
share = 0.25
size = "14KB"
extension = ".html"
[[workload.content]]
type = "blob"
share = 0.75
size = { distribution = "pareto", scale = "1MB", shape = 1.5, max = "1GB" }
[[events]]
at = "20m"
kind = "purge"
prefix = "/img/"
[[events]]
at = "10m"
kind = "flash_crowd"
object = 7
factor = 20
duration = "1m"
[[events]]
at = "11m"
kind = "flash_crowd"
region = "DE"
factor = 3
duration = "30s"
[[events]]
at = "1m"
kind = "edge_down"
edge = "fra"
duration = "2m"
[[events]]
at = "5m"
kind = "origin_slow"
service_time = "250ms"
[network]
server_bandwidth = "1Gbps"
[[network.nodes]]
name = "paris"
place = "CDG"
[[network.nodes]]
name = "ashburn"
place = "IAD"
[[network.links]]
a = "paris"
b = "ashburn"
stretch = 1.3
bandwidth = "10Gbit/s"
"""
    s = scenario_from_text(text, "full.toml", base_dir=tmp_path)
    assert s.origin.place.lat == 48.85 and s.origin.root == (tmp_path / "site").resolve()
    assert s.origin.service_time.kind == "exponential"
    assert (
        s.origin.service_time.value == pytest.approx(0.004) and s.origin.service_time.maximum == 1.0
    )
    assert s.origin.surrogate_keys == (("/img/*", "images all"),)
    fra = s.edge("fra")
    assert (fra.capacity, fra.policy, fra.parent) == (512 * 2**20, "sieve", "shield")
    assert fra.max_rps == pytest.approx(500.0) and fra.max_object_size == 8 * 2**20
    assert s.edge("shield").capacity == 10**10
    assert (s.dns.zone, s.dns.hosts, s.dns.ttl) == ("example.com", ("www",), 120.0)
    assert s.dns.slack_ms == pytest.approx(15.0) and s.dns.place.code == "LHR"
    german = [c for c in s.clients if c.place.country == "DE"]
    assert len(german) == 3
    assert all(c.weight == pytest.approx(0.5 * c.place.population / 1e6) for c in german)
    isp, pub = s.resolvers
    assert isp.ecs and not pub.cache and pub.places[0].code == "AMS"
    assert s.workload.expected_requests == 5000
    assert s.workload.trace == (tmp_path / "trace.csv").resolve()
    page, blob = s.workload.content
    assert page.size.kind == "fixed" and page.size.value == 14_000
    assert (blob.size.kind, blob.size.value, blob.size.shape, blob.size.maximum) == (
        "pareto",
        1e6,
        1.5,
        1e9,
    )
    kinds = [e.kind for e in s.events]
    assert kinds == ["edge_down", "origin_slow", "flash_crowd", "flash_crowd", "purge"]  # by time
    assert s.events[0].duration == 120.0 and s.events[1].service_time == 0.25
    assert (s.events[2].object, s.events[2].factor, s.events[2].duration) == (7, 20.0, 60.0)
    assert (s.events[3].region, s.events[3].object) == ("DE", None)
    assert s.network.server_bandwidth == 1e9
    assert [n.name for n in s.network.nodes] == ["paris", "ashburn"]
    assert s.network.links[0].stretch == 1.3 and s.network.links[0].bandwidth == 1e10


def test_resolver_isp_share_defaults_to_the_rest():
    s = scenario_from_text(
        MINIMAL + '[[resolvers.public]]\nname = "g"\nshare = 0.25\nplaces = ["IAD"]\n'
    )
    assert [(g.name, g.share) for g in s.resolvers] == [("isp", 0.75), ("g", 0.25)]


# -- each class of error -------------------------------------------------------


def test_unknown_key_suggests_the_close_one():
    err = load_error("bad_unknown_key.toml")
    assert str(DATA / "bad_unknown_key.toml") in str(err)
    (p,) = err.problems
    assert p.startswith("edges[0].capcity: unknown key")
    assert 'did you mean "capacity"?' in p and "allowed: name, place, capacity" in p


def test_key_in_the_wrong_section_says_where_it_belongs():
    (p,) = problems_of('ttl = "30s"\n' + MINIMAL)
    assert p.startswith("ttl: unknown key; it belongs in [dns]")


def test_wrong_types():
    err = load_error("bad_type.toml")
    assert str(DATA / "bad_type.toml") in str(err)
    assert sorted(err.problems) == [
        "dns.ecs: expected true or false, got an integer 1",
        'edges[0].weight: expected a number, got a string "heavy"',
    ]


def test_bad_unit_lists_the_allowed_units():
    err = load_error("bad_unit.toml")
    (p,) = err.problems
    assert p.startswith('edges[1].capacity: "2 gigs" is not a size')
    assert err.lines == [12] and f"{DATA / 'bad_unit.toml'}:12: edges[1].capacity" in str(err)
    assert "GiB" in p and "MB" in p


def test_unknown_place():
    (p,) = load_error("bad_place_unknown.toml").problems
    assert p.startswith('clients[0].place: "Qwxyzville" is not a known place')
    assert "IATA" in p and "lat,lon" in p


def test_ambiguous_place_lists_candidates_and_how_to_pick():
    (p,) = load_error("bad_place_ambiguous.toml").problems
    assert p.startswith('clients[0].place: "Portland" is ambiguous')
    assert "US-OR" in p and "US-ME" in p and "Pick one" in p


def test_out_of_range_values():
    err = load_error("bad_range.toml")
    assert sorted(err.problems) == [
        "edges[0].capacity: 0 is out of range; allowed: more than 0 bytes",
        "workload.keepalive: 1.5 is out of range; allowed: 0 to 1",
        "workload.zipf_alpha: 7.5 is out of range; allowed: 0 to 3",
    ]


def test_shares_not_summing_to_one_name_the_sum():
    (p,) = load_error("bad_shares.toml").problems
    assert p == "resolvers: shares sum to 1.1 (isp 0.7 + google-like 0.4); they must sum to 1"


def test_event_naming_an_unknown_edge():
    (p,) = load_error("bad_event_edge.toml").problems
    assert p == 'events[0].edge: "frankfurt" is not an edge; edges: fra'


def test_duplicate_edge_and_missing_parent():
    err = load_error("bad_duplicate_edge.toml")
    assert sorted(err.problems) == [
        'edges[1].name: duplicate edge name "fra" (also edges[0]); edge names must be unique',
        'edges[1].parent: "shield" is not an edge; edges: fra',
    ]


def test_toml_syntax_error_shows_file_line_and_column():
    err = load_error("bad_syntax.toml")
    assert str(DATA / "bad_syntax.toml") in str(err)
    (p,) = err.problems
    assert "TOML syntax error" in p and "line 6, column" in p


def test_all_problems_are_reported_at_once():
    err = load_error("bad_many.toml")
    paths = sorted(p.split(":")[0] for p in err.problems)
    assert paths == [
        "clients[0].weight",
        "dns.policy",
        "edges[0].policy",
        "origin.service_time",
        "seed",
        "ttl",
        "workload.diurnal",
    ]
    assert f"{len(paths)} problem(s)" in str(err)
    # in file order, each with its line (tomllib keeps none: located from the text)
    assert err.lines == [2, 3, 7, 12, 15, 19, 22]
    assert [p.split(":")[0] for p in err.problems][:3] == ["seed", "ttl", "origin.service_time"]
    assert 'did you mean "latency"?' in str(err)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            '[[edges]]\nname = "s"\nplace = "AMS"\nparent = "fra"\n',
            'edges[1].parent: "fra" has tier "edge"; a parent must have tier = "shield"',
        ),
        (
            '[[edges]]\nname = "s"\nplace = "AMS"\nparent = "s"\ntier = "shield"\n',
            'edges[1].parent: "s" is the edge itself',
        ),
        ('[[edges]]\nname = "a b"\nplace = "AMS"\n', 'edges[1].name: "a b" is not allowed'),
        ('[dns]\nttl = "1500ms"\n', 'dns.ttl: "1500ms" is not a whole number of seconds'),
        ("[dns]\nanswers = 3\n", 'dns.answers: 3 is more than the 1 edge(s) with tier "edge"'),
        ('[dns]\nfallback = "nrt"\n', 'dns.fallback: "nrt" is not an edge'),
        (
            '[[events]]\nat = "5s"\nkind = "edge_down"\n',
            'events[0].edge: missing; kind = "edge_down"',
        ),
        (
            '[[events]]\nat = "5s"\nkind = "origin_up"\nurl = "/x"\n',
            'events[0].url: does not apply to kind = "origin_up"',
        ),
        ('[[events]]\nat = "5s"\nkind = "purge"\n', "events[0]: a purge needs exactly one of"),
        (
            '[[events]]\nat = "5s"\nkind = "purge"\nurl = "/a"\nedge = "fra"\n',
            'events[0].edge: does not apply to kind = "purge"',
        ),
        (
            '[[events]]\nat = 1\nkind = "flash_crowd"\nfactor = 2\nduration = 5\n',
            "events[0]: a flash_crowd needs exactly one of object = N",
        ),
        (
            '[[events]]\nat = 1\nkind = "flash_crowd"\nfactor = 0.5\nduration = 5\nobject = 1\n',
            "events[0].factor: 0.5 is out of range; allowed: more than 1",
        ),
        (
            '[[events]]\nat = 1\nkind = "flash_crowd"\nfactor = 2\nobject = 1\n',
            'events[0].duration: missing; kind = "flash_crowd" needs factor, duration',
        ),
        (
            '[[events]]\nat = 1\nkind = "flash_crowd"\nfactor = 2\nduration = 5\nregion = "AS"\n',
            'events[0].region: no client place is in "AS"; client continents and countries: EU, FR',
        ),
        (
            '[[events]]\nat = 1\nkind = "flash_crowd"\nfactor = 2\nduration = 5\nobject = 10000\n',
            "events[0].object: 10000 is out of range; allowed: 0 to 9999",
        ),
        ('[[events]]\nat = "2h"\nkind = "origin_up"\n', 'events[0].at: "2h" is after the end'),
        ('[[events]]\nat = 1\nkind = "boom"\n', 'events[0].kind: "boom" is not allowed'),
        ('[workload]\ntrace = "missing.csv"\n', 'workload.trace: "missing.csv": no such file'),
        (
            '[[workload.content]]\ntype = "a"\nshare = 0.5\nsize = "1KB"\n',
            "workload.content: shares sum to 0.5; they must sum to 1",
        ),
        (
            '[[workload.content]]\ntype = "a"\nshare = 1\nsize = { distribution = "lognormal", median = "1KB" }\n',
            "workload.content[0].size.sigma: missing; lognormal needs median, sigma",
        ),
        (
            '[[workload.content]]\ntype = "a"\nshare = 1\nsize = { distribution = "zipf", value = 1 }\n',
            'workload.content[0].size: "zipf" is not allowed',
        ),
        ('[[clients]]\nplace = "Lagos"\ntop = 5\n', "clients[1]: give either place"),
        (
            '[[clients]]\ntop = 5\ncontinent = "Europe"\n',
            'clients[1].continent: "Europe" is not allowed',
        ),
        (
            '[[network.nodes]]\nname = "a"\nplace = "FRA"\n[[network.links]]\na = "a"\nb = "z"\n',
            'network.links[0].b: "z" is not a node',
        ),
        (
            '[[network.nodes]]\nname = "a"\nplace = "FRA"\n[[network.nodes]]\nname = "b"\nplace = "IAD"\n',
            "network.links: the backbone is not connected",
        ),
        ('[network.access_delays]\n"Qwxyzville" = "5ms"\n', "network.access_delays.Qwxyzville:"),
    ],
)
def test_more_problems(extra, expected):
    problems = problems_of(MINIMAL + extra)
    assert any(p.startswith(expected) for p in problems), problems


def test_edges_written_as_a_single_table():
    text = MINIMAL.replace("[[edges]]", "[edges]")
    assert problems_of(text) == [
        "edges: expected an array of tables, written [[edges]], got a single table [edges]"
    ]


def test_missing_sections():
    problems = problems_of('name = "empty"\n')
    assert sorted(problems) == [
        f"{k}: missing; a scenario needs [origin], [[edges]] and [[clients]] (see scenarios/README.md)"
        for k in ("clients", "edges", "origin")
    ]


def test_non_utf8_file(tmp_path):
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(MINIMAL.replace("Paris", "S\xe3o Paulo").encode("latin-1"))
    with pytest.raises(ScenarioError, match="not UTF-8"):
        load_scenario(bad)


# -- the command ---------------------------------------------------------------


def test_cdn_validate_bundled_name_from_another_directory(tmp_path):
    out = run_cdn("validate", "quickstart", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "quickstart" in out.stdout and "200,000 requests" in out.stdout
    for name in ("iad", "fra", "sin", "gru", "jnb"):
        assert f"  {name}  " in out.stdout
    assert "New York City" in out.stdout  # top client by weight


def test_cdn_validate_bad_file_exits_2_without_traceback():
    out = run_cdn("validate", str(DATA / "bad_many.toml"))
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and "Traceback" not in out.stdout
    assert "bad_many.toml: 7 problem(s)" in out.stderr
    assert 'bad_many.toml:15: dns.policy: "latncy" is not allowed' in out.stderr
    out = run_cdn("validate", str(DATA / "bad_syntax.toml"))
    assert out.returncode == 2 and "line 6, column" in out.stderr and "Traceback" not in out.stderr


def test_the_readme_examples_form_a_valid_scenario(tmp_path):
    """Every example in scenarios/README.md, minus the units cheat sheet, read
    as one file: the documentation cannot drift from the loader."""
    import re

    (tmp_path / "site").mkdir()
    (tmp_path / "trace.csv").write_text("time,client,key,size\n")
    readme = (SCENARIOS / "README.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)```", readme, re.S)
    text = "\n".join(b for b in blocks if 'size = "14KB"' not in b)
    s = scenario_from_text(text, "readme.toml", base_dir=tmp_path)
    assert s.name == "quickstart" and s.edge("fra").parent == "shield-ams"
    assert [e.kind for e in s.events] == ["edge_down", "flash_crowd", "purge"]
    assert s.network.links[0].latency == pytest.approx(0.038)


def test_diurnal_expected_requests_match_the_closed_form():
    """One client at longitude 0 (UTC), sine shape peaking at 21:00 local: over
    a whole day the shape averages out; over the hour from 21:00 its mean is
    (24 / 2 pi) sin(2 pi / 24)."""
    from cdn.commands.validate import diurnal_requests

    base = MINIMAL.replace('place = "Paris"', 'place = "10,0"')
    day = scenario_from_text(base + '[workload]\nrate = 10\nduration = "24h"\ndiurnal = 0.5\n')
    assert diurnal_requests(day, steps=2400) == pytest.approx(10 * 86400, rel=1e-6)
    text = base + '[workload]\nrate = 10\nduration = "1h"\ndiurnal = 0.5\nstart_hour_utc = 21\n'
    hour = scenario_from_text(text)
    mean_cos = 24 / (2 * math.pi) * math.sin(2 * math.pi / 24)
    assert diurnal_requests(hour) == pytest.approx(10 * 3600 * (1 + 0.5 * mean_cos), rel=1e-4)
    assert diurnal_requests(scenario_from_text(MINIMAL)) is None  # no diurnal shape


def test_lines_of_nested_keys_and_tables():
    text = MINIMAL + (
        "[[workload.content]]\n"  # line 9: MINIMAL has 8
        'type = "a"\n'
        "share = 1\n"
        'size = { distribution = "lognormal", median = "1KB", sigma = -1 }\n'  # line 12
        "[[events]]\n"  # line 13
        'at = "1s"\n'
        'kind = "purge"\n'
    )
    with pytest.raises(ScenarioError) as info:
        scenario_from_text(text, "inline.toml")
    got = dict(zip((p.split(":")[0] for p in info.value.problems), info.value.lines, strict=True))
    assert got == {"workload.content[0].size.sigma": 12, "events[0]": 13}


def test_misspelt_keys_inside_inline_tables_and_section_names():
    text = MINIMAL + (
        "[[workload.content]]\n"
        'type = "a"\n'
        "share = 1\n"
        'size = { distribution = "lognormal", median = "1KB", sigmma = 1 }\n'
        "[worklaod]\n"
        "rate = 5\n"
    )
    problems = problems_of(text)
    assert any(
        p.startswith('workload.content[0].size.sigmma: unknown key; did you mean "sigma"?')
        for p in problems
    )
    assert any(p.startswith("workload.content[0].size.sigma: missing") for p in problems)
    assert any(p.startswith('worklaod: unknown key; did you mean "workload"?') for p in problems)


def test_a_section_of_the_wrong_type():
    (p,) = problems_of("dns = 5\n" + MINIMAL)
    assert p == "dns: expected a table ([dns] or {...}), got an integer 5"


def test_cdn_validate_checks_and_summarises_a_trace(tmp_path):
    scenario = tmp_path / "traced.toml"
    scenario.write_text(MINIMAL + '[workload]\ntrace = "trace.csv"\n')
    trace = tmp_path / "trace.csv"
    trace.write_text("time,client,key,size\n0.5,Paris,/a,100\n1.5,Paris,/b,200\n2.0,FRA,/a,100\n")
    out = run_cdn("validate", str(scenario))
    assert out.returncode == 0, out.stderr
    assert "3 requests over 2.0 s from 2 clients, 2 distinct objects" in out.stdout
    trace.write_text("time,client,key,size\n0.5,Paris,/a,100\nsoon,Paris,/b,200\n")
    out = run_cdn("validate", str(scenario))
    assert out.returncode == 2 and "line 3" in out.stderr and "Traceback" not in out.stderr
