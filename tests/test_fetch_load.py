"""`cdn fetch` and `cdn load --live` against a live stack on free loopback ports."""

from __future__ import annotations

import asyncio

import pytest

from cdn.errors import UserError
from cdn.live_load import cache_hit, fetch, find_place, replay, report
from cdn.scenario import load_scenario
from cdn.serve import LiveStack, ServeOptions
from origin.server import CONFIG, STATS
from tests.conftest import free_port, run_cdn

SC = load_scenario("quickstart")
SCALE = 0.01  # a hundredth of the world's distances: fast, still exercised


def _options(**kw) -> ServeOptions:
    return ServeOptions(http_port=free_port(), dns_port=free_port(), **kw)


def test_cache_hit_reads_the_last_cache():
    assert cache_hit("sin; hit; ttl=5")
    assert cache_hit("shield; fwd=miss; stored, sin; hit")
    assert not cache_hit("sin; hit, edge2; fwd=uri-miss; fwd-status=200; stored")
    assert cache_hit("sin; fwd=uri-miss; fwd-status=200; collapsed; ttl=3")
    assert cache_hit("sin; hit; fwd=stale; ttl=-2; detail=stale-while-revalidate")
    assert not cache_hit("")


def test_find_place_by_name_code_or_city():
    assert find_place(SC, "Tokyo").name.startswith("Tokyo")
    assert find_place(SC, "new york").name.startswith("New York")
    assert find_place(SC, "FRA").code == "FRA"  # a public resolver site
    with pytest.raises(UserError, match="'Reykjavik' is not a client or resolver place.*Tokyo"):
        find_place(SC, "Reykjavik")


def test_fetch_miss_then_hit_with_prediction():
    async def main():
        async with LiveStack(SC, _options(emulation_scale=SCALE)) as stack:
            port = stack.options.http_port
            server = ("127.0.0.1", stack.dns.port)
            url = f"http://www.cdn.test:{port}/obj/21"
            tokyo = find_place(SC, "Tokyo")
            first = await fetch(SC, tokyo, url, server)
            second = await fetch(SC, tokyo, url, server)
            size = stack.origin_app[CONFIG].catalog.size(21)
            assert (first.edge, second.edge) == ("sin", "sin")
            assert first.source == "127.64.10.1"
            assert first.status == second.status == 200
            assert "fwd=uri-miss" in first.cache_status and "; hit" in second.cache_status
            assert first.nbytes == second.nbytes == size
            assert first.prediction.upstream_ms > 0 and second.prediction.upstream_ms == 0
            assert first.prediction.client_ms == second.prediction.client_ms
            with pytest.raises(UserError, match="REFUSED"):
                await fetch(SC, tokyo, f"http://www.example.org:{port}/", server)
            with pytest.raises(UserError, match="write http://"):
                await fetch(SC, tokyo, "ftp://www.cdn.test/", server)

    asyncio.run(main())


@pytest.mark.parametrize("concurrency", [1, 8])
def test_replay_hit_ratio_matches_the_simulator(concurrency):
    """Sequential: the same hits as the simulator, exactly (and the same origin
    requests); concurrent: within 2 points (collapsed misses, reordering)."""

    async def main():
        async with LiveStack(SC, _options(emulation_scale=SCALE)) as stack:
            before = stack.origin_app[STATS].requests
            res = await replay(
                SC,
                requests=250,
                concurrency=concurrency,
                http_port=stack.options.http_port,
                dns_server=("127.0.0.1", stack.dns.port),
                scale=SCALE,
            )
            return res, stack.origin_app[STATS].requests - before

    res, origin_requests = asyncio.run(main())
    assert res.requests == 250 and res.errors == 0, res.error_examples
    assert len(res.latency_ms) == 250
    pred = res.predicted
    assert pred["requests"] == 250 and pred["errors"] == 0
    assert 0 < res.hit_ratio < 1
    if concurrency == 1:
        assert res.hits == round(pred["hit_ratio"] * 250)
        assert origin_requests == pred["origin"]["requests"]
    else:
        assert abs(res.hit_ratio - pred["hit_ratio"]) <= 0.02
    assert res.dns_queries > 0 and res.new_connections > 0
    text = report(res)
    assert "hit ratio" in text and "p50 ms" in text


def test_load_cli_errors_and_a_small_run():
    r = run_cdn("load", "quickstart")
    assert r.returncode == 2 and "--live" in r.stderr
    r = run_cdn("load", "quickstart", "--live", "--requests", "0")
    assert r.returncode == 2 and "--requests must be at least 1" in r.stderr
    r = run_cdn("fetch", "--from", "Atlantis", "http://www.cdn.test/")
    assert r.returncode == 2 and "not a client or resolver place" in r.stderr
    http, dnsp = free_port(), free_port()
    r = run_cdn(
        "load", "quickstart", "--live", "--requests", "40", "--concurrency", "4",
        "--emulation-scale", str(SCALE), "--http-port", str(http),
        "--dns-listen", f"127.0.0.1:{dnsp}", timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "40 requests, concurrency 4" in r.stdout and "0 errors" in r.stdout
    assert "hit ratio" in r.stdout and "simulator" in r.stdout
