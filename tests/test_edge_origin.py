"""The edge in front of the project's real origin server (origin.server), over loopback:
validators, 304, Range and Surrogate-Key as the origin sends them, through the edge."""

from __future__ import annotations

import asyncio
import json
import os

import aiohttp
from yarl import URL

from edge.server import EdgeConfig, start_edge
from origin.rules import PathRules
from origin.server import STATS, OriginConfig, start_origin
from tests.conftest import free_port


def params(cache_status: str) -> list[str]:
    return [p.strip() for p in cache_status.split(",")[-1].split(";")]


def run(tmp_path, body) -> None:
    (tmp_path / "img").mkdir()
    (tmp_path / "page.txt").write_bytes(b"always revalidate me\n")
    (tmp_path / "img" / "logo.bin").write_bytes(os.urandom(5000))
    (tmp_path / "secret.txt").write_bytes(b"outside")
    rules = PathRules.create(
        cache_control=[("*.txt", "max-age=0"), ("/img/*", "max-age=600")],
        surrogate_keys=[("/img/*", "images"), ("*", "site")],
    )

    async def main():
        oport, eport = free_port(), free_port()
        origin = await start_origin(OriginConfig(root=tmp_path, rules=rules), "127.0.0.1", oport)
        edge = await start_edge(EdgeConfig(origin=f"http://127.0.0.1:{oport}", port=eport))
        try:
            async with aiohttp.ClientSession(auto_decompress=False) as client:

                async def get(path, method="GET", **kw):
                    url = URL(f"http://127.0.0.1:{eport}{path}", encoded=True)
                    async with client.request(method, url, **kw) as r:
                        return r, await r.read()

                stats = origin.app[STATS]
                await asyncio.wait_for(body(get, stats, edge.edge, tmp_path), 30)
        finally:
            await edge.cleanup()
            await origin.cleanup()

    asyncio.run(main())


def test_revalidation_and_conditionals_against_the_real_origin(tmp_path):
    async def body(get, stats, edge, root):
        r, b = await get("/page.txt")
        assert b == b"always revalidate me\n" and "stored" in params(r.headers["Cache-Status"])
        etag = r.headers["ETag"]
        r, b = await get("/page.txt")  # max-age=0: every reuse is validated with a 304
        assert r.status == 200 and b == b"always revalidate me\n"
        p = params(r.headers["Cache-Status"])
        assert "fwd=stale" in p and "fwd-status=304" in p
        assert stats.by_status.get(304) == 1
        r, b = await get("/page.txt", headers={"If-None-Match": etag})
        assert r.status == 304 and b == b""
        # The file changes: the next validation brings the new body.
        (root / "page.txt").write_bytes(b"changed!\n")
        os.utime(root / "page.txt", (1_800_000_000, 1_800_000_000))
        r, b = await get("/page.txt")
        assert b == b"changed!\n" and "fwd-status=200" in params(r.headers["Cache-Status"])

    run(tmp_path, body)


def test_ranges_through_the_edge_match_the_origin(tmp_path):
    async def body(get, stats, edge, root):
        data = (root / "img" / "logo.bin").read_bytes()
        r, b = await get("/img/logo.bin", headers={"Range": "bytes=100-199"})  # miss: forwarded
        assert r.status == 206 and b == data[100:200]
        assert r.headers["Content-Range"] == "bytes 100-199/5000"
        assert "stored" not in params(r.headers["Cache-Status"])
        for _ in range(1000):  # ... and the whole object is fetched in the background
            if not edge.inflight:
                break
            await asyncio.sleep(0.01)
        assert stats.requests == 2 and len(edge.store) == 1
        r, b = await get("/img/logo.bin")
        assert b == data and "hit" in params(r.headers["Cache-Status"])
        before = stats.requests
        for spec, expect, status in (
            ("bytes=100-199", data[100:200], 206),
            ("bytes=-10", data[-10:], 206),
            ("bytes=4990-", data[4990:], 206),
            ("bytes=9000-", b"", 416),
        ):
            r, b = await get("/img/logo.bin", headers={"Range": spec})
            assert (r.status, b) == (status, expect), spec
            assert "hit" in params(r.headers["Cache-Status"])
        assert stats.requests == before  # all from memory

    run(tmp_path, body)


def test_surrogate_keys_from_the_origin_and_traversal_refused(tmp_path):
    async def body(get, stats, edge, root):
        await get("/img/logo.bin")
        await get("/page.txt")
        assert len(edge.store) == 2
        r, b = await get("/", method="PURGE", headers={"Surrogate-Key": "images"})
        assert json.loads(b)["purged"] == 1
        assert [k[0] for k in edge.store] == ["/page.txt"]
        for evil in ("/../secret.txt", "/img/..%2f..%2fetc%2fpasswd", "/%2e%2e/%2e%2e/etc/passwd"):
            r, b = await get(evil)
            assert r.status in (400, 404), evil
            assert b"root:" not in b

    run(tmp_path, body)
