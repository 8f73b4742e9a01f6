"""The edge server against a real, controllable origin, over loopback.

The origin here is a small aiohttp app (the origin side of each test): each
path answers with the status, header fields and body a test sets, counts its
requests and records what arrived, so tests can see exactly what the edge
forwarded. Every server runs on 127.0.0.1 on a free port and is stopped.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from email.utils import formatdate

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families
from yarl import URL

from edge.server import EDGE_KEY, Edge, EdgeConfig, create_edge_app, start_edge
from tests.conftest import REPO, free_port, run_cdn


class Origin:
    """A test origin: per-path responses, request counts and a request log."""

    def __init__(self) -> None:
        self.routes: dict[str, object] = {}
        self.count: collections.Counter[str] = collections.Counter()
        self.log: list[tuple[str, str, dict, bytes]] = []
        self.runner: web.AppRunner | None = None
        self.port = free_port()

    def set(self, path: str, body: bytes = b"", status: int = 200, headers=()) -> None:
        self.routes[path] = (status, list(headers), body)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.count[request.path] += 1
        self.log.append((request.method, request.raw_path, request.headers.copy(), body))
        spec = self.routes.get(request.path)
        if spec is None:
            return web.Response(status=404, body=b"not found")
        if callable(spec):
            return await spec(request)
        status, headers, payload = spec
        resp = web.Response(status=status, body=payload)
        for k, v in headers:
            resp.headers.add(k, v)
        return resp

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class T:
    """What a test body gets: the origin, the edge and a client."""

    def __init__(self, origin: Origin, runner: web.AppRunner, port: int, client):
        self.origin = origin
        self.runner = runner
        self.edge = runner.edge
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.client: aiohttp.ClientSession = client

    async def get(
        self, path: str, method: str = "GET", **kw
    ) -> tuple[aiohttp.ClientResponse, bytes]:
        url = URL(self.base + path, encoded=True)  # the target exactly as written
        async with self.client.request(method, url, **kw) as r:
            return r, await r.read()


def run(body: Callable[[T], Awaitable[None]], **edge_kw) -> None:
    async def main() -> None:
        origin = Origin()
        await origin.start()
        port = free_port()
        runner = await start_edge(EdgeConfig(origin=origin.url, port=port, **edge_kw))
        try:
            conn = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(connector=conn, auto_decompress=False) as client:
                await asyncio.wait_for(body(T(origin, runner, port, client)), 30)
        finally:
            await runner.cleanup()
            await origin.stop()

    asyncio.run(main())


def params(cache_status: str) -> list[str]:
    """Our entry of a Cache-Status field (the last one), split into its parameters."""
    return [p.strip() for p in cache_status.split(",")[-1].split(";")]


FRESH = [("Cache-Control", "max-age=100"), ("ETag", '"v1"')]


def test_miss_then_hit_with_age_via_and_cache_status():
    async def body(t: T):
        t.origin.set(
            "/a.txt", b"hello", headers=[*FRESH, ("Age", "7"), ("Content-Type", "text/plain")]
        )
        r1, b1 = await t.get("/a.txt")
        assert r1.status == 200 and b1 == b"hello"
        p1 = params(r1.headers["Cache-Status"])
        assert (
            p1[0] == "edge" and "fwd=uri-miss" in p1 and "fwd-status=200" in p1 and "stored" in p1
        )
        assert int(r1.headers["Age"]) >= 7  # the upstream Age is not ignored
        assert "1.1 edge" in r1.headers["Via"]
        r2, b2 = await t.get("/a.txt")
        assert b2 == b"hello" and r2.headers["Content-Type"] == "text/plain"
        p2 = params(r2.headers["Cache-Status"])
        assert "hit" in p2 and not any(p.startswith("fwd") for p in p2)
        ttl = int(next(p for p in p2 if p.startswith("ttl="))[4:])
        assert 90 <= ttl <= 93 and int(r2.headers["Age"]) >= 7
        assert r2.headers["ETag"] == '"v1"' and r2.headers["Via"] == "1.1 edge"
        assert t.origin.count["/a.txt"] == 1
        # HEAD is answered from the stored GET response.
        r3, b3 = await t.get("/a.txt", method="HEAD")
        assert r3.status == 200 and b3 == b"" and r3.headers["Content-Length"] == "5"
        assert "hit" in params(r3.headers["Cache-Status"])
        assert t.origin.count["/a.txt"] == 1

    run(body)


def test_collapsing_many_concurrent_requests_make_one_origin_request():
    async def body(t: T):
        gate = asyncio.Event()

        async def slow(request):
            await gate.wait()
            return web.Response(body=b"x" * 10_000, headers={"Cache-Control": "max-age=60"})

        t.origin.routes["/cold"] = slow
        n = 400
        tasks = [asyncio.create_task(t.get("/cold")) for _ in range(n)]
        # Release the origin once every other request waits on the one fetch in flight.
        for _ in range(3000):
            flight = t.edge.inflight.get("/cold")
            if flight is not None and flight.followers == n - 1:
                break
            await asyncio.sleep(0.01)
        gate.set()
        results = await asyncio.gather(*tasks)
        assert t.origin.count["/cold"] == 1
        assert all(r.status == 200 and b == b"x" * 10_000 for r, b in results)
        statuses = [params(r.headers["Cache-Status"]) for r, _ in results]
        collapsed = [p for p in statuses if "collapsed" in p]
        assert sum("stored" in p for p in statuses) == 1
        assert len(collapsed) == n - 1
        assert all("fwd=uri-miss" in p and "fwd-status=200" in p for p in collapsed)

    run(body)


def test_revalidation_with_304_keeps_the_body():
    async def body(t: T):
        async def cond(request):
            if request.headers.get("If-None-Match") == '"v1"':
                return web.Response(
                    status=304, headers={"ETag": '"v1"', "Cache-Control": "max-age=0"}
                )
            return web.Response(
                body=b"payload", headers={"ETag": '"v1"', "Cache-Control": "max-age=0"}
            )

        t.origin.routes["/r"] = cond
        r1, b1 = await t.get("/r")
        assert b1 == b"payload" and "stored" in params(r1.headers["Cache-Status"])
        r2, b2 = await t.get("/r")
        assert r2.status == 200 and b2 == b"payload"
        p2 = params(r2.headers["Cache-Status"])
        assert "fwd=stale" in p2 and "fwd-status=304" in p2
        assert t.origin.count["/r"] == 2
        assert t.origin.log[-1][2].get("If-None-Match") == '"v1"'
        # A client's own conditional is answered by the edge from the validated copy.
        r3, b3 = await t.get("/r", headers={"If-None-Match": '"v1"'})
        assert r3.status == 304 and b3 == b""

    run(body)


def test_vary_keeps_variants_apart():
    async def body(t: T):
        async def negotiate(request):
            lang = request.headers.get("Accept-Language", "none")
            return web.Response(
                body=f"hello in {lang}".encode(),
                headers={"Vary": "Accept-Language", "Cache-Control": "max-age=100"},
            )

        t.origin.routes["/v"] = t.origin.routes["/v2"] = negotiate
        r, b = await t.get("/v", headers={"Accept-Language": "en"})
        assert b == b"hello in en" and "fwd=uri-miss" in params(r.headers["Cache-Status"])
        r, b = await t.get("/v", headers={"Accept-Language": "fr"})
        assert b == b"hello in fr" and "fwd=vary-miss" in params(r.headers["Cache-Status"])
        r, b = await t.get("/v", headers={"Accept-Language": "en"})
        assert b == b"hello in en" and "hit" in params(r.headers["Cache-Status"])
        r, b = await t.get("/v", headers={"Accept-Language": "fr"})
        assert b == b"hello in fr" and "hit" in params(r.headers["Cache-Status"])
        r, b = await t.get("/v")
        assert b == b"hello in none" and "fwd=vary-miss" in params(r.headers["Cache-Status"])
        assert t.origin.count["/v"] == 3
        # A variant stored for a request without the field (empty secondary key) is not
        # reused for a request that has it.
        r, b = await t.get("/v2")
        assert b == b"hello in none"
        r, b = await t.get("/v2", headers={"Accept-Language": "de"})
        assert b == b"hello in de" and "fwd=vary-miss" in params(r.headers["Cache-Status"])
        r, b = await t.get("/v2")
        assert b == b"hello in none" and "hit" in params(r.headers["Cache-Status"])

    run(body)


@pytest.mark.parametrize(
    "headers",
    [
        [("Cache-Control", "no-store"), ("ETag", '"a"')],
        [("Cache-Control", "private, max-age=100")],
        [("Cache-Control", "max-age=100"), ("Cache-Control", "no-store")],  # second line counts
        [("Content-Type", "text/plain")],  # no freshness, no validator: no default TTL
        [("Cache-Control", "max-age=100"), ("Vary", "*")],
    ],
    ids=["no-store", "private", "two-lines", "no-freshness", "vary-star"],
)
def test_not_stored(headers):
    async def body(t: T):
        t.origin.set("/n", b"data", headers=headers)
        for _ in range(3):
            r, b = await t.get("/n")
            assert r.status == 200 and b == b"data"
            assert "stored" not in params(r.headers["Cache-Status"])
        assert t.origin.count["/n"] == 3
        assert len(t.edge.store) == 0

    run(body)


def test_request_no_cache_revalidates_and_only_if_cached_gives_504():
    async def body(t: T):
        t.origin.set("/f", b"fresh", headers=FRESH)
        await t.get("/f")
        r, b = await t.get("/f", headers={"Cache-Control": "no-cache"})
        assert b == b"fresh"
        assert "fwd=request" in params(r.headers["Cache-Status"])
        assert t.origin.count["/f"] == 2
        assert t.origin.log[-1][2].get("If-None-Match") == '"v1"'
        r, b = await t.get("/f", headers={"Cache-Control": "only-if-cached"})
        assert r.status == 200 and "hit" in params(r.headers["Cache-Status"])
        r, b = await t.get("/never", headers={"Cache-Control": "only-if-cached"})
        assert r.status == 504
        assert t.origin.count["/never"] == 0

    run(body)


STALE_SIE = [("Cache-Control", "max-age=10, stale-if-error=3600"), ("Age", "100"), ("ETag", '"e"')]


def test_stale_if_error_when_origin_answers_5xx_and_when_it_is_stopped():
    async def body(t: T):
        t.origin.set("/s", b"old", headers=STALE_SIE)
        t.origin.set("/plain", b"old", headers=[("Cache-Control", "max-age=10"), ("Age", "100")])
        await t.get("/s")
        await t.get("/plain")
        t.origin.set("/s", b"broken", status=503)
        t.origin.set("/plain", b"broken", status=503)
        r, b = await t.get("/s")
        assert r.status == 200 and b == b"old"
        p = params(r.headers["Cache-Status"])
        assert "fwd=stale" in p and "fwd-status=503" in p and "detail=stale-if-error" in p
        r, b = await t.get("/plain")  # no stale-if-error: the error passes through
        assert r.status == 503 and b == b"broken"
        await t.origin.stop()
        r, b = await t.get("/s")
        assert r.status == 200 and b == b"old"
        assert "detail=stale-if-error" in params(r.headers["Cache-Status"])
        r, b = await t.get("/plain")
        assert r.status == 502
        assert "detail=origin-error" in params(r.headers["Cache-Status"])
        r, b = await t.get("/other")
        assert r.status == 502

    run(body)


def test_stale_while_revalidate_answers_before_the_origin_does():
    async def body(t: T):
        gate = asyncio.Event()
        version = {"n": 1}

        async def swr(request):
            if version["n"] > 1:
                await gate.wait()  # revalidation blocks until the test has its answer
            headers = {
                "Cache-Control": "max-age=10, stale-while-revalidate=3600",
                "ETag": f'"{version["n"]}"',
            }
            if version["n"] == 1:
                headers["Age"] = "100"  # arrives stale, inside the SWR window
            return web.Response(body=f"v{version['n']}".encode(), headers=headers)

        t.origin.routes["/w"] = swr
        r, b = await t.get("/w")
        assert b == b"v1"
        version["n"] = 2
        r, b = await t.get("/w")  # would deadlock if the edge waited for the origin
        assert b == b"v1"
        p = params(r.headers["Cache-Status"])
        assert "hit" in p and "fwd=stale" in p and "detail=stale-while-revalidate" in p
        assert not gate.is_set()
        for _ in range(1000):  # the background revalidation reached the origin
            if t.origin.count["/w"] == 2:
                break
            await asyncio.sleep(0.01)
        assert t.origin.count["/w"] == 2
        assert t.origin.log[-1][2].get("If-None-Match") == '"1"'
        gate.set()
        for _ in range(1000):
            if not t.edge.inflight:
                break
            await asyncio.sleep(0.01)
        r, b = await t.get("/w")
        assert b == b"v2" and "hit" in params(r.headers["Cache-Status"])
        assert t.origin.count["/w"] == 2

    run(body)


def test_unsafe_methods_are_forwarded_and_invalidate():
    async def body(t: T):
        t.origin.set("/doc", b"doc", headers=FRESH)
        t.origin.set("/other", b"other", headers=FRESH)
        await t.get("/doc")
        await t.get("/other")
        t.origin.set("/doc", b"created", status=201, headers=[("Location", "/other")])
        r, b = await t.get("/doc?x=1", method="POST", data=b"form=1")
        assert r.status == 201 and b == b"created"
        assert "fwd=method" in params(r.headers["Cache-Status"])
        method, target, headers, sent = t.origin.log[-1]
        assert (method, target, sent) == ("POST", "/doc?x=1", b"form=1")
        await t.get("/doc")  # the POST target "/doc?x=1" is a different key than "/doc"
        assert t.origin.count["/doc"] == 2  # POST only
        t.origin.set("/doc", b"new", headers=FRESH)
        r, b = await t.get("/other")
        assert t.origin.count["/other"] == 2  # Location was invalidated
        await t.get("/doc", method="DELETE")
        r, b = await t.get("/doc")
        assert b == b"new" and "fwd=uri-miss" in params(r.headers["Cache-Status"])
        r, b = await t.get("/doc", method="M-SEARCH")  # a method of unknown safety invalidates
        assert t.origin.log[-1][0] == "M-SEARCH"
        r, b = await t.get("/doc")
        assert b == b"new" and "fwd=uri-miss" in params(r.headers["Cache-Status"])
        # A failed unsafe request invalidates nothing.
        t.origin.set("/doc", b"no", status=500)
        await t.get("/doc", method="PUT", data=b"z")
        r, b = await t.get("/doc")
        assert b == b"new" and "hit" in params(r.headers["Cache-Status"])

    run(body)


def test_forwarding_is_unchanged_except_hop_by_hop():
    async def body(t: T):
        t.origin.set("/echo", b"ok")
        r, _ = await t.get(
            "/echo?q=%41b&z",
            method="PATCH",
            data=b"payload",
            headers={
                "Connection": "keep-alive, X-Secret",
                "X-Secret": "1",
                "X-Keep": "2",
                "Host": "cdn.example",
            },
        )
        assert r.status == 200
        method, target, headers, sent = t.origin.log[-1]
        assert (method, target, sent) == ("PATCH", "/echo?q=%41b&z", b"payload")
        assert "X-Secret" not in headers and headers["X-Keep"] == "2"
        assert headers["Host"] == "cdn.example"
        assert headers["Via"].endswith("1.1 edge")
        assert r.headers["Age"] == "0" and r.headers["Via"] == "1.1 edge"

    run(body)


def test_purge_url_prefix_and_surrogate_key_from_loopback():
    async def body(t: T):
        for path, tag in (("/img/a", "imgs"), ("/img/b", "imgs"), ("/css/c", "style"), ("/x", "")):
            t.origin.set(path, b"z", headers=[*FRESH, ("Surrogate-Key", f"{tag} all")])
            await t.get(path)
        assert len(t.edge.store) == 4
        r, b = await t.get("/x", method="PURGE")
        assert r.status == 200 and json.loads(b)["purged"] == 1
        assert t.origin.count["/x"] == 1  # PURGE is not forwarded
        r, b = await t.get("/x")
        assert "fwd=uri-miss" in params(r.headers["Cache-Status"])
        r, b = await t.get("/img/*", method="PURGE")
        assert json.loads(b)["purged"] == 2
        r, b = await t.get("/", method="PURGE", headers={"Surrogate-Key": "style"})
        assert json.loads(b)["purged"] == 1
        assert sorted(k[0] for k in t.edge.store) == ["/x"]
        r, b = await t.get("/", method="PURGE", headers={"Surrogate-Key": "all"})
        assert json.loads(b)["purged"] == 1 and len(t.edge.store) == 0

    run(body)


def test_purge_refused_outside_allowed_networks_and_with_a_wrong_token():
    async def body(t: T):
        t.origin.set("/p", b"z", headers=FRESH)
        await t.get("/p")
        for headers in ({}, {"X-Purge-Token": "wrong"}, {"Authorization": "Bearer nope"}):
            r, b = await t.get("/p", method="PURGE", headers=headers)
            assert r.status == 403 and "not allowed" in json.loads(b)["error"]
            r, b = await t.get("/p*", method="PURGE", headers={**headers, "Surrogate-Key": "x"})
            assert r.status == 403
        r, _ = await t.get("/p")
        assert "hit" in params(r.headers["Cache-Status"])  # nothing was purged
        r, b = await t.get("/p", method="PURGE", headers={"Authorization": "Bearer s3cret"})
        assert r.status == 200 and json.loads(b)["purged"] == 1
        assert t.origin.count["/p"] == 1

    run(body, purge_allow=("10.0.0.0/8",), purge_token="s3cret")


def test_metrics_parse_and_count():
    async def body(t: T):
        t.origin.set("/m", b"y" * 1000, headers=FRESH)
        await t.get("/m")
        await t.get("/m")
        await t.get("/m")
        r, b = await t.get("/.well-known/cdn/metrics")
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain")
        families = {f.name: f for f in text_string_to_metric_families(b.decode())}
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for f in families.values()
            for s in f.samples
        }
        assert samples[("cdn_edge_requests_total", (("cache_status", "hit"),))] == 2
        assert samples[("cdn_edge_requests_total", (("cache_status", "miss"),))] == 1
        assert samples[("cdn_edge_hit_ratio", ())] == pytest.approx(2 / 3)
        assert samples[("cdn_edge_bytes_served_total", ())] == 3000
        assert samples[("cdn_edge_bytes_from_origin_total", ())] == 1000
        assert samples[("cdn_edge_objects_stored", ())] == 1
        assert samples[("cdn_edge_bytes_stored", ())] >= 1000
        assert samples[("cdn_edge_origin_latency_seconds_count", ())] == 1
        assert samples[("cdn_edge_origin_latency_seconds_bucket", (("le", "+Inf"),))] == 1
        assert families["cdn_edge_origin_latency_seconds"].type == "histogram"
        assert ("cdn_edge_evictions_total", ()) in samples
        r, b = await t.get("/.well-known/cdn/health")
        assert r.status == 200 and json.loads(b)["status"] == "ok"
        assert t.origin.count["/.well-known/cdn/metrics"] == 0

    run(body)


def test_malformed_requests_get_400_and_the_server_stays_up():
    async def body(t: T):
        t.origin.set("/ok", b"fine", headers=FRESH)
        bad = [
            b"GARBAGE\r\n\r\n",
            b"GET /ok HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n",
            b"GET /ok HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n",
            b"GET /ok HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        ]
        for raw in bad:
            reader, writer = await asyncio.open_connection("127.0.0.1", t.port)
            writer.write(raw)
            await writer.drain()
            status_line = await reader.readline()
            writer.close()
            assert status_line.split()[1] in (b"400", b"431"), (raw[:40], status_line)
        r, b = await t.get("/ok")
        assert r.status == 200 and b == b"fine"

    run(body)


def test_big_objects_stream_through_uncached():
    big = os.urandom(300_000)

    async def body(t: T):
        t.origin.set("/big", big, headers=FRESH)

        async def chunked(request):
            resp = web.StreamResponse(headers={"Cache-Control": "max-age=100"})
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            for i in range(0, len(big), 30_000):
                await resp.write(big[i : i + 30_000])
            await resp.write_eof()
            return resp

        t.origin.routes["/chunked"] = chunked
        t.origin.set("/small", b"s" * 100, headers=FRESH)
        for path in ("/big", "/chunked"):
            for _ in range(2):
                r, b = await t.get(path)
                assert r.status == 200 and b == big
                p = params(r.headers["Cache-Status"])
                assert "stored" not in p and any("maximum object size" in x for x in p)
            assert t.origin.count[path] == 2
        await t.get("/small")
        r, b = await t.get("/small")
        assert "hit" in params(r.headers["Cache-Status"])

    run(body, max_object_size=50_000)


def test_eviction_under_a_small_capacity():
    async def body(t: T):
        for i in range(6):
            t.origin.set(f"/o{i}", bytes([65 + i]) * 1000, headers=FRESH)
            r, b = await t.get(f"/o{i}")
            assert b == bytes([65 + i]) * 1000
        assert t.edge.store.used == 3000  # bodies only, as the simulator counts
        assert len(t.edge.store) == 3
        assert t.edge.metrics.evictions.total() == 3
        assert set(t.edge.variants) == {k[0] for k in t.edge.store}  # index in step
        assert sorted(k[0] for k in t.edge.store) == ["/o3", "/o4", "/o5"]  # LRU kept the newest
        r, b = await t.get("/o3")
        assert "hit" in params(r.headers["Cache-Status"])
        r, b = await t.get("/o0")
        assert b == b"A" * 1000 and "fwd=uri-miss" in params(r.headers["Cache-Status"])

    run(body, capacity=3000, policy="lru")


def test_cdn_edge_command_serves_and_stops():
    assert run_cdn("edge", "--help").returncode == 0
    bad = run_cdn("edge", "--origin", "http://127.0.0.1:1", "--capacity", "lots")
    assert bad.returncode == 2 and "size" in bad.stderr

    async def main():
        origin = Origin()
        origin.set("/c", b"cli", headers=FRESH)
        await origin.start()
        port = free_port()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cdn",
                "edge",
                "--origin",
                origin.url,
                "--listen",
                f"127.0.0.1:{port}",
                "--capacity",
                "10MiB",
                "--policy",
                "sieve",
                "--name",
                "cli-edge",
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            async with aiohttp.ClientSession() as client:
                for _ in range(600):
                    try:
                        async with client.get(
                            f"http://127.0.0.1:{port}/.well-known/cdn/health"
                        ) as r:
                            if r.status == 200:
                                break
                    except aiohttp.ClientError:
                        await asyncio.sleep(0.05)
                statuses = []
                for _ in range(2):
                    async with client.get(f"http://127.0.0.1:{port}/c") as r:
                        assert await r.read() == b"cli"
                        statuses.append(r.headers["Cache-Status"])
                assert statuses[0].startswith("cli-edge; fwd=uri-miss")
                assert statuses[1].startswith("cli-edge; hit")
        finally:
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=10)
            await origin.stop()
        assert proc.returncode == 0, err
        assert b"listening on" in out

    asyncio.run(main())


def test_ranges_and_conditionals_on_stored_responses():
    data = bytes(range(256)) * 4  # 1024 bytes

    async def body(t: T):
        t.origin.set(
            "/r.bin", data, headers=[*FRESH, ("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT")]
        )
        # A conditional request on a cold cache: the edge fetches the whole response
        # (without the client's validators), stores it and answers the client's 304 itself.
        r, b = await t.get("/r.bin", headers={"If-None-Match": '"v1"'})
        assert r.status == 304 and b == b"" and r.headers["ETag"] == '"v1"'
        assert "stored" in params(r.headers["Cache-Status"])
        assert "If-None-Match" not in t.origin.log[-1][2]
        r, b = await t.get("/r.bin", headers={"If-Modified-Since": "Tue, 02 Jan 2024 00:00:00 GMT"})
        assert r.status == 304
        r, b = await t.get("/r.bin", headers={"If-None-Match": '"other"'})
        assert r.status == 200 and b == data
        cases = [
            ("bytes=0-9", 206, data[:10], "bytes 0-9/1024"),
            ("bytes=1000-", 206, data[1000:], "bytes 1000-1023/1024"),
            ("bytes=-4", 206, data[-4:], "bytes 1020-1023/1024"),
            ("bytes=10-5000", 206, data[10:], "bytes 10-1023/1024"),
            ("bytes=2000-", 416, b"", "bytes */1024"),
            ("bytes=0-1,5-6", 200, data, None),  # several ranges: the whole object
        ]
        for spec, status, expect, content_range in cases:
            r, b = await t.get("/r.bin", headers={"Range": spec})
            assert (r.status, b, r.headers.get("Content-Range")) == (
                status,
                expect,
                content_range,
            ), spec
            assert "hit" in params(r.headers["Cache-Status"])
        r, b = await t.get("/r.bin", headers={"Range": "bytes=0-3", "If-Range": '"v1"'})
        assert r.status == 206 and b == data[:4]
        r, b = await t.get("/r.bin", headers={"Range": "bytes=0-3", "If-Range": '"old"'})
        assert r.status == 200 and b == data
        assert t.origin.count["/r.bin"] == 1
        # A Range request that misses goes to the origin as it is; the 206 is not stored.
        # (A background fetch without Range tries to fill the cache: this origin answers
        # it with a 206 too, which is never stored.)
        t.origin.set(
            "/cold.bin", data, status=206, headers=[("Content-Range", "bytes 0-1023/2048")]
        )
        r, b = await t.get("/cold.bin", headers={"Range": "bytes=0-1023"})
        assert r.status == 206 and b == data
        for _ in range(1000):
            if not t.edge.inflight:
                break
            await asyncio.sleep(0.01)
        sent = sorted(h.get("Range", "none") for m, p, h, _ in t.origin.log if p == "/cold.bin")
        assert sent == ["bytes=0-1023", "none"]
        assert len(t.edge.store) == 1

    run(body)


def test_workers_share_one_address():
    async def main():
        origin = Origin()
        origin.set("/w", b"w", headers=FRESH)
        await origin.start()
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "cdn", "edge", "--origin", origin.url,
             "--listen", f"127.0.0.1:{port}", "--workers", "2"],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        pids = set()
        try:
            health = f"http://127.0.0.1:{port}/.well-known/cdn/health"
            for _ in range(1500):  # about 30 s for both workers to start, on a slow machine
                # A new connection each time, so the kernel spreads them over the workers.
                async with aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(force_close=True)
                ) as c:
                    try:
                        async with c.get(health) as r:
                            pids.add(json.loads(await r.read())["pid"])
                    except aiohttp.ClientError:
                        pass
                if len(pids) == 2:
                    break
                await asyncio.sleep(0.02)
        finally:
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=15)
            await origin.stop()
        assert len(pids) == 2, pids
        assert proc.returncode == 0, err
        assert out.count(b"listening on") == 2

    asyncio.run(main())


def test_origin_timeouts_give_504_or_stale_and_broken_bodies_are_cut():
    async def body(t: T):
        release = asyncio.Event()  # set at the end, so the origin's handlers finish

        async def hang_headers(request):
            await release.wait()
            return web.Response(body=b"late")

        async def hang_body(request):
            length = "1000" if "big" in request.path else "400"  # above / below the object limit
            resp = web.StreamResponse(
                headers={"Cache-Control": "max-age=100", "Content-Length": length}
            )
            await resp.prepare(request)
            await resp.write(b"x" * 10)
            await release.wait()
            return resp

        t.origin.routes["/slow"] = hang_headers
        t.origin.routes["/stall"] = hang_body
        r, b = await t.get("/slow")
        assert r.status == 504 and "detail=origin-timeout" in params(r.headers["Cache-Status"])
        r, b = await t.get("/stall")
        assert r.status == 504
        # A stored response with stale-if-error stands in when the origin times out.
        t.origin.set("/sie", b"kept", headers=STALE_SIE)
        await t.get("/sie")
        t.origin.routes["/sie"] = hang_headers
        r, b = await t.get("/sie")
        assert r.status == 200 and b == b"kept"
        assert "detail=stale-if-error" in params(r.headers["Cache-Status"])
        # Too big to store, so streamed: a body that breaks off cuts the client connection.
        t.origin.routes["/stall-big"] = hang_body
        with pytest.raises(aiohttp.ClientPayloadError):
            await t.get("/stall-big")
        r, b = await t.get("/.well-known/cdn/health")
        assert r.status == 200
        release.set()

    run(body, read_timeout=0.3, max_object_size=500)


def test_client_conditionals_on_an_uncacheable_response_are_answered():
    async def body(t: T):
        t.origin.set(
            "/u", b"never stored", headers=[("Cache-Control", "no-store"), ("ETag", '"u1"')]
        )
        r, b = await t.get("/u", headers={"If-None-Match": '"u1"'})
        assert r.status == 304 and b == b"" and r.headers["ETag"] == '"u1"'
        assert "Content-Type" not in r.headers
        r, b = await t.get("/u", headers={"If-None-Match": '"u0"'})
        assert r.status == 200 and b == b"never stored"
        assert t.origin.count["/u"] == 2 and len(t.edge.store) == 0

    run(body)


def test_config_for_a_scenario_edge_and_bad_configs():
    from cdn.places import Place
    from cdn.scenario import Edge
    from edge.server import Edge as EdgeCache
    from edge.server import validate_config

    edge = Edge(
        "fra", Place("Frankfurt", 50.1, 8.7), capacity=3000, policy="sieve", max_object_size=100
    )
    config = EdgeConfig.for_edge(edge, "http://127.0.0.1:9", "127.0.0.2", 8080)
    assert (config.name, config.capacity, config.policy, config.object_limit) == (
        "fra",
        3000,
        "sieve",
        100,
    )
    assert EdgeCache(config).store.capacity == 3000
    for bad, words in (
        (dict(origin="ftp://x"), "http://"),
        (dict(policy="arc"), "allowed"),
        (dict(purge_allow=("10.0.0.0/33",)), "CIDR"),
        (dict(name="a b"), "token"),
        (dict(read_timeout=0), "positive"),
    ):
        with pytest.raises(ValueError, match=words):
            validate_config(EdgeConfig(**{"origin": "http://127.0.0.1:9", **bad}))


def test_request_targets_and_the_mountable_app():
    async def body(t: T):
        t.origin.set("/x", b"x", headers=FRESH)
        for raw, status in (
            (b"GET http://elsewhere.example/x HTTP/1.1\r\nHost: elsewhere.example\r\n\r\n", b"200"),
            (b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", b"400"),
            (b"CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n", b"400"),
        ):
            reader, writer = await asyncio.open_connection("127.0.0.1", t.port)
            writer.write(raw)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            writer.close()
            assert head.split()[1] == status, (raw, head)
            assert b"Cache-Status: edge" in head and b"Via: 1.1 edge" in head
        # absolute-form goes to our origin, by path, never to the named host
        assert t.origin.log[-1][1] == "/x" and t.origin.count["/x"] == 1
        # The same edge as a web.Application, for mounting in another aiohttp server.
        app = create_edge_app(EdgeConfig(origin=t.origin.url))
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            for expect in ("fwd=uri-miss", "hit"):
                async with t.client.get(f"http://127.0.0.1:{port}/x") as r:
                    assert await r.read() == b"x" and expect in params(r.headers["Cache-Status"])
            assert app[EDGE_KEY].store.used > 0
        finally:
            await runner.cleanup()

    run(body)


def test_bodies_expect_continue_and_get_with_a_body():
    async def body(t: T):
        t.origin.set("/up", b"stored it", status=201)
        t.origin.set("/g", b"g", headers=FRESH)
        r, b = await t.get("/up", method="PUT", data=b"A" * 70_000, expect100=True)
        assert r.status == 201 and b == b"stored it"
        assert t.origin.log[-1][0] == "PUT" and t.origin.log[-1][3] == b"A" * 70_000

        async def chunks():
            for i in range(5):
                yield bytes([48 + i]) * 1000

        r, b = await t.get("/up", method="POST", data=chunks())  # chunked request body
        assert r.status == 201 and t.origin.log[-1][3] == b"".join(
            bytes([48 + i]) * 1000 for i in range(5)
        )
        # A GET with a body: the body is not forwarded (and the origin is not left waiting).
        r, b = await t.get("/g", data=b"ignored")
        assert r.status == 200 and b == b"g" and t.origin.log[-1][3] == b""
        assert "Content-Length" not in t.origin.log[-1][2]

    run(body)


def test_if_modified_since_without_last_modified_uses_the_stored_date():
    async def body(t: T):
        now = time.time()
        date = formatdate(now, usegmt=True)
        t.origin.set("/d", b"dated", headers=[("Cache-Control", "max-age=100"), ("Date", date)])
        await t.get("/d")
        later, earlier = formatdate(now + 86400, usegmt=True), formatdate(now - 86400, usegmt=True)
        r, b = await t.get("/d", headers={"If-Modified-Since": later})
        assert r.status == 304 and "hit" in params(r.headers["Cache-Status"])
        r, b = await t.get("/d", headers={"If-Modified-Since": earlier})
        assert r.status == 200 and b == b"dated"

    run(body)


def test_a_client_leaving_mid_stream_leaves_the_edge_serving():
    big = os.urandom(2_000_000)

    async def body(t: T):
        t.origin.set("/huge", big, headers=FRESH)
        for _ in range(3):
            reader, writer = await asyncio.open_connection("127.0.0.1", t.port)
            writer.write(b"GET /huge HTTP/1.1\r\nHost: x\r\n\r\n")
            await writer.drain()
            await reader.readexactly(1000)
            writer.transport.abort()
        r, b = await t.get("/huge")
        assert r.status == 200 and b == big
        assert t.edge.metrics.origin_requests.get(outcome="broken-body") == 0
        assert t.origin.count["/huge"] == 4

    run(body, max_object_size=100_000)


def test_host_set_to_the_origin_and_via_of_an_http10_request():
    async def body(t: T):
        t.origin.set("/h", b"h")
        reader, writer = await asyncio.open_connection("127.0.0.1", t.port)
        writer.write(b"GET /h HTTP/1.0\r\nHost: www.example\r\nVia: 1.1 proxy-a\r\n\r\n")
        await writer.drain()
        head = await reader.read()  # HTTP/1.0: the edge closes after the response
        writer.close()
        assert head.startswith(b"HTTP/1.0 200") or head.startswith(b"HTTP/1.1 200")
        headers = t.origin.log[-1][2]
        assert headers["Host"] == f"127.0.0.1:{t.origin.port}"
        assert headers["Via"] == "1.1 proxy-a, 1.0 edge"

    run(body, host_header="origin")


@pytest.mark.parametrize("policy", ["lru", "fifo", "sieve", "s3fifo"])
def test_live_hits_equal_the_store_replaying_the_same_trace(policy):
    """The adapter adds no decisions of its own: the live edge's hits on a trace are the
    store's hits on the same (key, size) sequence, as the simulator replays it."""
    import random

    from edge.store import make_store

    rng = random.Random(7)
    objects = {f"/t/{i}": 100 + (i * 337) % 1400 for i in range(40)}
    weights = [1 / (i + 1) for i in range(40)]
    trace = rng.choices(list(objects), weights=weights, k=300)
    capacity = 12_000
    reference = make_store(policy, capacity)
    expected = [reference.request(path, objects[path]) for path in trace]

    async def body(t: T):
        for path, size in objects.items():
            t.origin.set(path, b"z" * size, headers=FRESH)
        got = []
        for path in trace:
            r, b = await t.get(path)
            assert len(b) == objects[path]
            got.append("hit" in params(r.headers["Cache-Status"]))
        assert got == expected
        assert sum(got) == reference.hits and t.edge.store.used == reference.used

    run(body, capacity=capacity, policy=policy)


def test_health_can_be_taken_down_and_up_from_allowed_networks_only():
    async def body(t: T):
        t.origin.set("/k", b"k", headers=FRESH)
        health = "/.well-known/cdn/health"
        r, b = await t.get(health + "?state=down", method="PUT")
        assert r.status == 403  # loopback is not in the allowed networks here
        r, b = await t.get(health + "?state=down", method="PUT", headers={"X-Purge-Token": "tk"})
        assert r.status == 503 and json.loads(b)["status"] == "down"
        r, b = await t.get(health)
        assert r.status == 503
        r, b = await t.get("/k")  # still serving while out of rotation
        assert r.status == 200 and b == b"k"
        r, b = await t.get(
            health + "?state=sideways", method="PUT", headers={"X-Purge-Token": "tk"}
        )
        assert r.status == 400
        r, b = await t.get(health + "?state=up", method="PUT", headers={"X-Purge-Token": "tk"})
        assert r.status == 200 and json.loads(b)["status"] == "ok"
        r, b = await t.get("/.well-known/cdn/metrics", method="POST")
        assert r.status == 405
        r, b = await t.get("/.well-known/cdn/nothing")
        assert r.status == 404 and t.origin.count["/.well-known/cdn/nothing"] == 0

    run(body, purge_allow=("192.0.2.0/24",), purge_token="tk")


def test_followers_share_a_failed_origin_fetch():
    async def body(t: T):
        async def drop(request):
            # Cut the connection once every other request waits on this one fetch.
            for _ in range(3000):
                flight = t.edge.inflight.get("/down")
                if flight is not None and flight.followers == 19:
                    break
                await asyncio.sleep(0.01)
            request.transport.abort()
            return web.Response(body=b"never sent")

        t.origin.routes["/down"] = drop
        results = await asyncio.gather(*(t.get("/down") for _ in range(20)))
        assert [r.status for r, _ in results] == [502] * 20
        # One origin fetch for twenty clients (aiohttp's client may retry a GET once on a
        # connection the peer dropped, hence the origin may count two attempts).
        assert t.edge.metrics.origin_requests.total() == 1
        assert t.origin.count["/down"] <= 2

    run(body)


def test_a_head_response_freshens_the_stored_get():
    async def body(t: T):
        state = {"cc": "max-age=0", "etag": '"h1"', "extra": "one"}

        async def h(request):
            headers = {
                "Cache-Control": state["cc"],
                "ETag": state["etag"],
                "X-Extra": state["extra"],
            }
            return web.Response(body=b"head me", headers=headers)

        t.origin.routes["/head"] = h
        await t.get("/head")  # stored, stale at once (max-age=0, validator)
        state.update(cc="max-age=600", extra="two")
        r, b = await t.get("/head", method="HEAD")  # forwarded: the stored copy is stale
        assert r.status == 200 and b == b"" and t.origin.log[-1][0] == "HEAD"
        r, b = await t.get("/head")
        assert b == b"head me" and r.headers["X-Extra"] == "two"
        assert "hit" in params(r.headers["Cache-Status"])
        assert t.origin.count["/head"] == 2
        # A HEAD describing another representation (new ETag) leaves the stored one alone.
        state.update(cc="max-age=0", etag='"h2"', extra="three")
        await t.get("/head", method="HEAD", headers={"Cache-Control": "no-cache"})
        r, b = await t.get("/head")
        assert r.headers["X-Extra"] == "two" and "hit" in params(r.headers["Cache-Status"])

    run(body)


def test_uncacheable_targets_are_not_serialised_behind_one_fetch():
    async def body(t: T):
        gate = asyncio.Event()
        waiting = {"n": 0}

        async def api(request):
            if request.headers.get("X-Phase") == "load":
                waiting["n"] += 1
                await gate.wait()
            return web.Response(body=b"fresh every time", headers={"Cache-Control": "no-store"})

        t.origin.routes["/api"] = api
        r, _ = await t.get("/api")  # the first answer says no-store
        assert "stored" not in params(r.headers["Cache-Status"])
        tasks = [asyncio.create_task(t.get("/api", headers={"X-Phase": "load"})) for _ in range(10)]
        for _ in range(1000):  # all ten reach the origin at once: none waits on another
            if waiting["n"] == 10:
                break
            await asyncio.sleep(0.01)
        assert waiting["n"] == 10
        gate.set()
        results = await asyncio.gather(*tasks)
        assert all(b == b"fresh every time" for _, b in results)
        # Once the answer may be stored again, misses collapse again.
        t.origin.set("/api", b"now cacheable", headers=FRESH)
        r, b = await t.get("/api")
        assert "stored" in params(r.headers["Cache-Status"]) and "/api" not in t.edge.passes

    run(body)


def test_idempotent_requests_are_resent_when_a_pooled_origin_connection_died():
    # RFC 9110 9.2.2: a client may resend an idempotent request automatically when the
    # connection fails before the answer. This origin answers one request per connection
    # and closes the next one unanswered, as an origin does when an idle keep-alive
    # timer fires just as the edge reuses the connection.
    received: list[tuple[str, bytes]] = []

    async def conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            for n in range(2):
                head = await reader.readuntil(b"\r\n\r\n")
                if n == 1:
                    break  # dies under the second request, unanswered
                lines = head.decode("latin-1").split("\r\n")
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                data = await reader.readexactly(length)
                received.append((lines[0].split(" ")[0], data))
                out = lines[0].split(" ")[0].encode() + b" " + data
                writer.write(
                    b"HTTP/1.1 200 OK\r\nCache-Control: no-store\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(out), out)
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(conn, "127.0.0.1", 0)
        origin = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        port = free_port()
        runner = await start_edge(EdgeConfig(origin=origin, port=port))
        try:
            async with aiohttp.ClientSession() as client:
                base = f"http://127.0.0.1:{port}"
                for method, data in [("GET", None), ("GET", None), ("PUT", b"put-body")]:
                    async with client.request(method, base + "/x", data=data) as r:
                        assert r.status == 200, (method, r.status)
                        assert await r.read() == method.encode() + b" " + (data or b"")
                # A POST is not resent: the PUT's fresh connection dies under it -> 502.
                async with client.post(base + "/x", data=b"once") as r:
                    assert r.status == 502
        finally:
            await runner.cleanup()
            server.close()
            await server.wait_closed()
        assert [m for m, _ in received] == ["GET", "GET", "PUT"]
        assert received[2][1] == b"put-body"

    asyncio.run(main())


def test_a_304_with_another_strong_etag_updates_nothing_and_is_refetched():
    # RFC 9111 4.3.4: when a 304's strong validator matches no stored response, the cache
    # MUST NOT use it to update one; the edge fetches the representation again.
    async def body(t: T):
        seen: list[str | None] = []

        async def h(request):
            seen.append(request.headers.get("If-None-Match"))
            if len(seen) == 1:
                return web.Response(
                    body=b"old", headers={"Cache-Control": "max-age=0", "ETag": '"v1"'}
                )
            if "If-None-Match" in request.headers:
                return web.Response(status=304, headers={"ETag": '"v2"', "X-From": "304"})
            return web.Response(body=b"new", headers={"Cache-Control": "max-age=0", "ETag": '"v2"'})

        t.origin.routes["/e"] = h
        r, b = await t.get("/e")
        assert b == b"old"
        r, b = await t.get("/e")
        assert r.status == 200 and b == b"new" and r.headers["ETag"] == '"v2"'
        assert "X-From" not in r.headers
        assert seen == [None, '"v1"', None]

    run(body)


# ---------------------------------------------------------------- Surrogate-Control
# W3C Edge Architecture Specification 1.0: a surrogate announces itself upstream with
# Surrogate-Capability, obeys Surrogate-Control (after CDN-Cache-Control, before
# Cache-Control), ignores directives targeted at other devices and keeps the field from
# clients that are not surrogates.

CAP = "Surrogate-Capability"


def test_surrogate_control_governs_the_edge_and_is_kept_from_clients():
    async def body(t: T):
        sc = "Surrogate-Control"
        t.origin.set("/long", b"a", headers=[("Cache-Control", "no-store"), (sc, "max-age=100")])
        t.origin.set(
            "/aged",  # Age 100 > Surrogate-Control max-age 60, though Cache-Control says 3600
            b"b",
            headers=[("Cache-Control", "max-age=3600"), (sc, "max-age=60"), ("Age", "100")],
        )
        t.origin.set(
            "/nostore", b"c", headers=[("Cache-Control", "max-age=3600"), (sc, "no-store")]
        )
        t.origin.set(
            "/other",  # aimed at another device: Cache-Control (no-store) decides
            b"d",
            headers=[("Cache-Control", "no-store"), (sc, "max-age=3600;other")],
        )
        t.origin.set(
            "/mine",  # aimed at this edge's device token (its name, "edge")
            b"e",
            headers=[("Cache-Control", "no-store"), (sc, "no-store, max-age=3600;edge"), *FRESH],
        )
        for path in ("/long", "/aged", "/nostore", "/other", "/mine"):
            for _ in range(2):
                r, _ = await t.get(path)
                assert r.status == 200 and sc not in r.headers, path
                assert r.headers["Cache-Control"] == t.origin.routes[path][1][0][1]  # untouched
        assert [t.origin.count[p] for p in ("/long", "/aged", "/nostore", "/other", "/mine")] == [
            1,
            2,
            2,
            2,
            2,  # untargeted no-store and targeted max-age: both apply, no-store wins
        ]
        r, _ = await t.get("/long")
        assert "hit" in params(r.headers["Cache-Status"]) and sc not in r.headers
        # every forwarded request announced this surrogate
        assert {h[CAP] for _, _, h, _ in t.origin.log} == {'edge="Surrogate/1.0"'}
        r, _ = await t.get("/nostore")
        assert 'detail="surrogate-control no-store"' in params(r.headers["Cache-Status"])

        # a surrogate below us gets the field, on hits, passes and 304s alike
        down = {CAP: 'child="Surrogate/1.0"'}
        r, _ = await t.get("/long", headers=down)
        assert "hit" in params(r.headers["Cache-Status"]) and r.headers[sc] == "max-age=100"
        r, _ = await t.get("/nostore", headers=down)
        assert r.headers[sc] == "no-store"
        assert t.origin.log[-1][2][CAP] == 'child="Surrogate/1.0", edge="Surrogate/1.0"'
        t.origin.set("/v", b"v", headers=[*FRESH, (sc, "max-age=50")])
        await t.get("/v")
        r, _ = await t.get("/v", headers={"If-None-Match": '"v1"'})
        assert r.status == 304 and sc not in r.headers
        r, _ = await t.get("/v", headers={"If-None-Match": '"v1"', **down})
        assert r.status == 304 and r.headers[sc] == "max-age=50"  # it guides the child's update
        t.origin.set("/n", b"n", headers=[*FRESH, (sc, "no-store")])  # not stored: passed on
        r, _ = await t.get("/n", headers={"If-None-Match": '"v1"'})
        assert r.status == 304 and sc not in r.headers
        r, _ = await t.get("/n", headers={"If-None-Match": '"v1"', **down})
        assert r.status == 304 and r.headers[sc] == "no-store"

    run(body)


def test_a_shield_passes_surrogate_control_to_its_edges_which_keep_it_from_clients():
    async def main() -> None:
        origin = Origin()
        await origin.start()
        sc = "Surrogate-Control"
        # per-tier targeting: the shield keeps /s, the edge keeps /e, and /both both keep
        origin.set("/s", b"s", headers=[("Cache-Control", "max-age=100"), (sc, "no-store;edge1")])
        origin.set("/e", b"e", headers=[("Cache-Control", "no-store"), (sc, "max-age=100;edge1")])
        origin.set("/both", b"b", headers=[("Cache-Control", "no-store"), (sc, "max-age=100")])
        shield_port, edge_port = free_port(), free_port()
        shield = await start_edge(EdgeConfig(origin=origin.url, port=shield_port, name="shield"))
        try:
            edge = await start_edge(
                EdgeConfig(origin=f"http://127.0.0.1:{shield_port}", port=edge_port, name="edge1")
            )
            try:
                async with aiohttp.ClientSession() as client:
                    seen = {}
                    for path in ("/s", "/e", "/both"):
                        for _ in range(2):
                            url = f"http://127.0.0.1:{edge_port}{path}"
                            async with client.get(url) as r:
                                assert r.status == 200 and sc not in r.headers
                                seen[path] = r.headers["Cache-Status"]
                    # the edge obeyed the field the shield passed on (its no-store for edge1)
                    assert 'detail="surrogate-control no-store"' in seen["/s"]
                    assert seen["/s"].startswith("shield; hit")  # the shield kept it
                    assert params(seen["/e"])[:2] == ["edge1", "hit"]  # the edge kept it
                    assert params(seen["/both"])[:2] == ["edge1", "hit"]
                assert origin.count == {"/s": 1, "/e": 1, "/both": 1}
                assert origin.log[0][2][CAP] == 'edge1="Surrogate/1.0", shield="Surrogate/1.0"'
                assert shield.edge.store.peek(("/e", ())) is None  # CC no-store for the shield
            finally:
                await edge.cleanup()
        finally:
            await shield.cleanup()
            await origin.stop()

    asyncio.run(main())


def test_surrogate_token_from_the_command_line():
    from cdn.cli import build_parser
    from cdn.commands.edge import config_from_args
    from cdn.errors import UserError

    def config(*extra):
        args = build_parser().parse_args(["edge", "--origin", "http://o", "--name", "tyo", *extra])
        return config_from_args(args)

    assert config().device_token == "tyo"
    assert config("--surrogate-token", "cdn").device_token == "cdn"
    with pytest.raises(UserError, match="token"):
        config("--surrogate-token", "no spaces")


def test_surrogate_token_config():
    assert EdgeConfig(origin="http://o", name="tokyo").device_token == "tokyo"
    assert EdgeConfig(origin="http://o", name="t(1)").device_token == "t-1-"
    assert EdgeConfig(origin="http://o", surrogate_token="cdn").device_token == "cdn"
    for bad in ("", "a b", 'x"', "a;b"):
        with pytest.raises(ValueError, match="surrogate token must be an HTTP token"):
            Edge(EdgeConfig(origin="http://o", surrogate_token=bad))

    async def body(t: T):
        t.origin.set("/t", b"t", headers=[("Surrogate-Control", "max-age=9;cdn")])
        r, _ = await t.get("/t")
        r, _ = await t.get("/t")
        assert t.origin.count["/t"] == 1 and t.origin.log[0][2][CAP] == 'cdn="Surrogate/1.0"'

    run(body, surrogate_token="cdn")
