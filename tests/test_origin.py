"""The origin server, over real sockets on 127.0.0.1: validators, 304, Range,
streaming, per-path headers, path safety, the synthetic catalog, the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import os
import signal
import subprocess
import sys
import time
from email.utils import formatdate

import aiohttp
import numpy as np
import pytest

from cdn.catalog import Catalog
from cdn.distributions import Sampler
from cdn.scenario import ContentType, Distribution, Workload
from origin.files import Refused, split_target
from origin.rules import PathRules, parse_rule
from origin.server import (
    CATALOG_EPOCH,
    SERVICE_TIME,
    STATS,
    UNSATISFIABLE,
    OriginConfig,
    ServiceTime,
    create_origin_app,
    evaluate_preconditions,
    parse_etags,
    select_range,
    start_origin,
)
from tests.conftest import free_port, run_cdn

HTML = b"<!doctype html><title>t</title>" + b"x" * 1000
TEXT = bytes(range(256)) * 4  # 1024 bytes, every offset distinguishable by position


@pytest.fixture
def site(tmp_path):
    """A root with a few files, a secret outside it and symlinks in and out."""
    root = tmp_path / "root"
    (root / "assets").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / "index.html").write_bytes(HTML)
    (root / "docs" / "index.html").write_bytes(b"<p>docs</p>")
    (root / "assets" / "app.js").write_text("console.log(1)\n")
    (root / "data.bin").write_bytes(TEXT)
    (root / "notes.txt").write_text("hello\n")
    (tmp_path / "secret.txt").write_text("TOPSECRET\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("TOPSECRET\n")
    os.symlink(tmp_path / "secret.txt", root / "evil_link")
    os.symlink(tmp_path / "outside", root / "link_out")
    os.symlink(root / "notes.txt", root / "good_link")
    os.symlink("../root/docs", root / "docs_link")  # leaves by name, lands inside
    (root / "trap").mkdir()
    os.symlink(tmp_path / "secret.txt", root / "trap" / "index.html")
    return root


async def _with_origin(config, body):
    port = free_port()
    runner = await start_origin(config, "127.0.0.1", port)
    try:
        async with aiohttp.ClientSession(auto_decompress=False) as session:
            return await body(session, f"http://127.0.0.1:{port}", port, runner.app)
    finally:
        await runner.cleanup()


def with_origin(config, body):
    return asyncio.run(_with_origin(config, body))


async def fetch(session, method, url, headers=None):
    async with session.request(method, url, headers=headers or {}) as r:
        return r.status, r.headers, await r.read()


async def raw_request(port: int, target: bytes, method: bytes = b"GET") -> tuple[int, bytes]:
    """Send a request line exactly as written (no client normalisation)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(method + b" " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    status = int(data.split(b" ", 2)[1]) if data.startswith((b"HTTP/1.1 ", b"HTTP/1.0 ")) else 0
    return status, data


# --- pure helpers --------------------------------------------------------------


def test_select_range_table():
    etag, lm = '"abc"', 1000
    cases = [
        ("bytes=0-9", None, (0, 9)),
        ("bytes=10-", None, (10, 99)),
        ("bytes=-10", None, (90, 99)),
        ("bytes=-500", None, (0, 99)),
        ("bytes=50-5000", None, (50, 99)),
        ("BYTES = 5-6", None, (5, 6)),  # the unit is case-insensitive; spaces are trimmed
        ("bytes=100-", None, UNSATISFIABLE),
        ("bytes=-0", None, UNSATISFIABLE),
        ("bytes=9-3", None, None),
        ("bytes=0-1,5-6", None, None),
        ("bytes=abc", None, None),
        ("items=0-1", None, None),
        ("bytes=0-9", '"abc"', (0, 9)),
        ("bytes=0-9", '"other"', None),
        ("bytes=0-9", 'W/"abc"', None),  # If-Range needs a strong match
        ("bytes=0-9", formatdate(1000, usegmt=True), (0, 9)),
        ("bytes=0-9", formatdate(999, usegmt=True), None),
    ]
    for rng, if_range, want in cases:
        assert select_range(rng, if_range, 100, etag, lm) == want, (rng, if_range)
    assert select_range(None, None, 100, etag, lm) is None
    assert select_range("bytes=0-", None, 0, etag, lm) == UNSATISFIABLE


def test_preconditions_table():
    e, lm = '"v1"', 10_000
    d = lambda t: formatdate(t, usegmt=True)  # noqa: E731
    cases = [
        ({"if-none-match": '"v1"'}, 304),
        ({"if-none-match": 'W/"v1"'}, 304),  # weak comparison
        ({"if-none-match": '"x", W/"v1"'}, 304),
        ({"if-none-match": "*"}, 304),
        ({"if-none-match": '"x"'}, None),
        ({"if-modified-since": d(lm)}, 304),
        ({"if-modified-since": d(lm + 5)}, 304),
        ({"if-modified-since": d(lm - 1)}, None),
        ({"if-modified-since": "garbage"}, None),
        ({"if-none-match": '"x"', "if-modified-since": d(lm + 5)}, None),  # INM wins
        ({"if-match": '"v1"'}, None),
        ({"if-match": 'W/"v1"'}, 412),  # If-Match uses strong comparison
        ({"if-match": '"x"'}, 412),
        ({"if-unmodified-since": d(lm - 1)}, 412),
        ({"if-unmodified-since": d(lm)}, None),
    ]
    for headers, want in cases:
        assert evaluate_preconditions("GET", headers, e, lm) == want, headers
    assert evaluate_preconditions("HEAD", {"if-none-match": '"v1"'}, e, lm) == 304
    assert parse_etags('"a", W/"b" ,junk, "c,d"') == [(False, "a"), (True, "b"), (False, "c,d")]
    assert parse_etags(" * ") is None


def test_split_target_table():
    assert split_target("/") == ("",)
    assert split_target("/a/b.txt?q=/../x") == ("a", "b.txt")
    assert split_target("/caf%C3%A9") == ("café",)
    for bad in ["/../x", "/a/..", "/%2e%2e/x", "/%2E./x", "/a%2f..%2fb", "/a%5cb", "/a\\b",
                "//etc/passwd", "/a//b", "/x%00y", "/x\x00y", "/%zz", "/%c0%ae", "etc/passwd",
                "/a%0d%0ab"]:  # fmt: skip
        assert isinstance(split_target(bad), Refused), bad


def test_rules_first_match_and_default():
    rules = PathRules.create(
        [("/assets/*", "max-age=31536000, immutable"), ("*.html", "max-age=60"), ("*", "no-cache")],
        [("*", "site"), ("/assets/*", "assets static"), ("*.js", "static js")],
        "max-age=300",
    )
    assert rules.cache_control_for("/assets/x.html") == "max-age=31536000, immutable"
    assert rules.cache_control_for("/a/b/c.html") == "max-age=60"
    assert rules.cache_control_for("/other") == "no-cache"
    assert rules.surrogate_key_for("/assets/app.js") == "site assets static js"
    assert PathRules.create([("*.css", "max-age=1")]).cache_control_for("/x") == "max-age=300"
    assert parse_rule("*.html=max-age=60, s-maxage=10") == ("*.html", "max-age=60, s-maxage=10")
    for bad in ["*.html", "=x", "*.html=", "a=b\r\nX: y"]:
        with pytest.raises(ValueError, match="PATTERN=VALUE|control"):
            parse_rule(bad)


# --- the server ----------------------------------------------------------------


def test_get_head_content_type_and_validators(site):
    async def body(s, base, port, app):
        st = os.stat(site / "index.html")
        status, h, data = await fetch(s, "GET", base + "/index.html")
        assert status == 200 and data == HTML
        assert h["Content-Type"] == "text/html; charset=utf-8"
        assert h["Content-Length"] == str(len(HTML))
        assert h["Accept-Ranges"] == "bytes"
        etag = h["ETag"]
        assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")
        assert h["Last-Modified"] == formatdate(int(st.st_mtime), usegmt=True)
        hs, hh, hdata = await fetch(s, "HEAD", base + "/index.html")
        assert hs == 200 and hdata == b""
        for k in ("ETag", "Last-Modified", "Content-Type", "Content-Length", "Cache-Control"):
            assert hh[k] == h[k], k
        status, h2, data = await fetch(s, "GET", base + "/")  # directory -> index.html
        assert status == 200 and data == HTML and h2["ETag"] == etag
        status, h3, data = await fetch(s, "GET", base + "/docs/")
        assert data == b"<p>docs</p>" and h3["Cache-Control"].startswith("max-age=60")
        status, h4, _ = await fetch(s, "GET", base + "/assets/app.js")
        assert h4["Content-Type"].startswith("text/javascript")
        status, h5, _ = await fetch(s, "GET", base + "/data.bin")
        assert h5["Content-Type"] == "application/octet-stream"
        assert (await fetch(s, "GET", base + "/nope.txt"))[0] == 404
        assert (await fetch(s, "GET", base + "/notes.txt/"))[0] == 404
        status, _, data = await fetch(s, "GET", base + "/good_link")  # symlink inside: fine
        assert status == 200 and data == b"hello\n"
        status, _, data = await fetch(s, "GET", base + "/docs_link/")
        assert status == 200 and data == b"<p>docs</p>"
        for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
            status, h, _ = await fetch(s, method, base + "/index.html")
            assert status == 405 and h["Allow"] == "GET, HEAD", method
        status, h, data = await fetch(s, "GET", base + "/.well-known/cdn/health")
        assert (status, data) == (200, b"ok")

    with_origin(OriginConfig(root=site), body)


def test_conditional_requests_give_304(site):
    async def body(s, base, port, app):
        _, h, _ = await fetch(s, "GET", base + "/notes.txt")
        etag, lm = h["ETag"], h["Last-Modified"]
        for headers in (
            {"If-None-Match": etag},
            {"If-None-Match": "W/" + etag},
            {"If-None-Match": f'"zzz", {etag}'},
            {"If-None-Match": "*"},
            {"If-Modified-Since": lm},
        ):
            for method in ("GET", "HEAD"):
                status, h304, data = await fetch(s, method, base + "/notes.txt", headers)
                assert status == 304 and data == b"", headers
                assert h304["ETag"] == etag and h304["Last-Modified"] == lm
                assert h304["Cache-Control"] == "max-age=300"
        past = formatdate(time.time() - 10 * 86400, usegmt=True)
        assert (await fetch(s, "GET", base + "/notes.txt", {"If-Modified-Since": past}))[0] == 200
        # If-Modified-Since is ignored when If-None-Match is present
        h = {"If-None-Match": '"other"', "If-Modified-Since": lm}
        assert (await fetch(s, "GET", base + "/notes.txt", h))[0] == 200
        # a changed file gets a new validator
        (site / "notes.txt").write_text("changed!\n")
        os.utime(site / "notes.txt", ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
        status, h2, data = await fetch(s, "GET", base + "/notes.txt", {"If-None-Match": etag})
        assert status == 200 and data == b"changed!\n" and h2["ETag"] != etag

    with_origin(OriginConfig(root=site), body)


def test_ranges(site):
    async def body(s, base, port, app):
        url = base + "/data.bin"
        n = len(TEXT)
        _, h, _ = await fetch(s, "GET", url)
        etag, lm = h["ETag"], h["Last-Modified"]
        for spec, a, b in [("0-9", 0, 9), ("300-599", 300, 599), ("-100", n - 100, n - 1),
                           ("1000-", 1000, n - 1), ("1020-99999", 1020, n - 1)]:  # fmt: skip
            status, h, data = await fetch(s, "GET", url, {"Range": f"bytes={spec}"})
            assert status == 206, spec
            assert h["Content-Range"] == f"bytes {a}-{b}/{n}"
            assert data == TEXT[a : b + 1] and h["Content-Length"] == str(b - a + 1)
            assert h["ETag"] == etag
        status, h, data = await fetch(s, "GET", url, {"Range": f"bytes={n}-"})
        assert status == 416 and h["Content-Range"] == f"bytes */{n}"
        status, h, data = await fetch(s, "GET", url, {"Range": "bytes=0-1,4-5"})
        assert status == 200 and data == TEXT  # several ranges: the whole, allowed
        assert (await fetch(s, "HEAD", url, {"Range": "bytes=0-9"}))[0] == 200
        # If-Range: a strong match or the exact date honours the range; else the whole
        for if_range, want in [(etag, 206), (lm, 206), ('"nope"', 200), ("W/" + etag, 200),
                               (formatdate(0, usegmt=True), 200)]:  # fmt: skip
            status, _, data = await fetch(
                s, "GET", url, {"Range": "bytes=5-9", "If-Range": if_range}
            )
            assert status == want, if_range
            assert data == (TEXT[5:10] if want == 206 else TEXT)

    with_origin(OriginConfig(root=site), body)


def test_large_file_streams_in_chunks(tmp_path):
    big = tmp_path / "big.bin"
    rng = np.random.default_rng(1)
    size = 20 * 1024 * 1024 + 12345
    digest = hashlib.sha256()
    with open(big, "wb") as f:
        for _ in range(20):
            block = rng.bytes(1024 * 1024)
            f.write(block)
            digest.update(block)
        tail = rng.bytes(12345)
        f.write(tail)
        digest.update(tail)

    async def body(s, base, port, app):
        async with s.get(base + "/big.bin") as r:
            assert r.status == 200 and r.headers["Content-Length"] == str(size)
            got, total = hashlib.sha256(), 0
            async for chunk in r.content.iter_chunked(65536):
                got.update(chunk)
                total += len(chunk)
        assert total == size and got.hexdigest() == digest.hexdigest()
        stats = app[STATS]
        # the body went out in pieces of at most chunk_size, never as one buffer
        assert stats.largest_write == 256 * 1024
        assert stats.body_bytes == size
        status, h, data = await fetch(s, "GET", base + "/big.bin", {"Range": "bytes=-1000"})
        assert status == 206 and len(data) == 1000

    with_origin(OriginConfig(root=tmp_path), body)


def test_cache_control_and_surrogate_key_by_pattern(site):
    rules = PathRules.create(
        [
            ("*.html", "max-age=60, stale-while-revalidate=30"),
            ("/assets/*", "max-age=31536000, immutable"),
        ],
        [("*", "site"), ("/assets/*", "assets")],
        "max-age=123",
    )

    async def body(s, base, port, app):
        want = {
            "/index.html": ("max-age=60, stale-while-revalidate=30", "site"),
            "/": ("max-age=60, stale-while-revalidate=30", "site"),
            "/assets/app.js": ("max-age=31536000, immutable", "site assets"),
            "/notes.txt": ("max-age=123", "site"),
        }
        for path, (cc, keys) in want.items():
            _, h, _ = await fetch(s, "GET", base + path)
            assert h["Cache-Control"] == cc and h["Surrogate-Key"] == keys, path

    with_origin(OriginConfig(root=site, rules=rules), body)

    async def no_keys(s, base, port, app):
        _, h, _ = await fetch(s, "GET", base + "/notes.txt")
        assert "Surrogate-Key" not in h and h["Cache-Control"] == "max-age=300"

    with_origin(OriginConfig(root=site), no_keys)


TRAVERSALS = [
    b"/../secret.txt",
    b"/../../../../etc/passwd",
    b"/assets/../../secret.txt",
    b"/%2e%2e/secret.txt",
    b"/%2E%2E/%2e%2e/etc/passwd",
    b"/.%2e/secret.txt",
    b"/assets/%2e%2e%2f%2e%2e%2fsecret.txt",
    b"/..%2fsecret.txt",
    b"/..%5csecret.txt",
    b"/..\\secret.txt",
    b"/assets\\..\\..\\secret.txt",
    b"//etc/passwd",
    b"/%2fetc/passwd",
    b"/%2Fetc%2Fpasswd",
    b"/index.html%00.txt",
    b"/%c0%ae%c0%ae/secret.txt",
    b"/evil_link",
    b"/link_out/secret.txt",
    b"/link_out/",
    b"/trap/",
    b"/trap",
    b"http://x/../secret.txt",
    b"/etc/passwd%00",
    b"/\x00",
]


def test_traversal_attempts_are_refused_and_logged(site, caplog):
    caplog.set_level(logging.WARNING, logger="origin")

    async def body(s, base, port, app):
        for target in TRAVERSALS:
            status, data = await raw_request(port, target)
            assert status in (400, 404), (target, data[:100])
            assert b"TOPSECRET" not in data and b"root:" not in data, target
            health, _ = await raw_request(port, b"/.well-known/cdn/health")
            assert health == 200, target  # still up
        # the same through a real client, which normalises some of them itself
        for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/evil_link", "/link_out/secret.txt"):
            status, _, data = await fetch(s, "GET", base + path)
            assert status in (400, 404) and b"TOPSECRET" not in data, path
        assert app[STATS].refused >= len(TRAVERSALS) - 2  # NUL ones may die in the HTTP parser
        assert (await fetch(s, "GET", base + "/index.html"))[0] == 200

    with_origin(OriginConfig(root=site), body)
    logged = " ".join(r.getMessage() for r in caplog.records)
    for reason in ("dot segment", "backslash", "encoded slash", "resolves outside the root"):
        assert reason in logged


CONTENT = (
    ContentType("page", 0.3, Distribution("lognormal", 5000, sigma=1.0), "max-age=60", ".html"),
    ContentType("image", 0.5, Distribution("lognormal", 30000, sigma=1.0), "max-age=86400", ".png"),
    ContentType("video", 0.2, Distribution("fixed", 600_000), "max-age=3600, public", ".mp4"),
)


def test_catalog_objects(tmp_path):
    workload = Workload(catalog_size=200, content=CONTENT)
    catalog = Catalog(workload, seed=42)
    config = OriginConfig(root=tmp_path, catalog=catalog, chunk_size=64 * 1024)
    ids = [0, 1, 2, 3, 50, 199] + [int(np.flatnonzero(catalog.type_index == 2)[0])]

    async def digests(s, base, port, app):
        out = {}
        for i in ids:
            status, h, data = await fetch(s, "GET", f"{base}/obj/{i}")
            assert status == 200
            assert len(data) == catalog.size(i) == int(h["Content-Length"])
            assert data == catalog.body_chunk(i, 0, catalog.size(i))
            ct = catalog.content_type(i)
            assert h["Cache-Control"] == ct.cache_control
            assert h["Content-Type"].startswith({"page": "text/html", "image": "image/png",
                                                 "video": "video/mp4"}[ct.name])  # fmt: skip
            assert h["Surrogate-Key"] == ct.name
            assert h["Last-Modified"] == formatdate(CATALOG_EPOCH, usegmt=True)
            out[i] = (h["ETag"], hashlib.sha256(data).hexdigest())
            s304, _, _ = await fetch(s, "GET", f"{base}/obj/{i}", {"If-None-Match": h["ETag"]})
            assert s304 == 304
            n = catalog.size(i)
            status, h, part = await fetch(s, "GET", f"{base}/obj/{i}", {"Range": "bytes=-7"})
            assert (
                status == 206
                and part == data[-7:]
                and h["Content-Range"] == f"bytes {n - 7}-{n - 1}/{n}"
            )
            status, _, _ = await fetch(s, "GET", f"{base}/obj/{i}", {"Range": f"bytes={n}-"})
            assert status == 416
        for bad in ("/obj/200", "/obj/-1", "/obj/x", "/obj/01", "/obj/"):
            assert (await fetch(s, "GET", base + bad))[0] == 404, bad
        return out

    first = with_origin(config, digests)
    # a second server, built from scratch with the same workload and seed
    second = with_origin(OriginConfig(root=tmp_path, catalog=Catalog(workload, seed=42)), digests)
    assert first == second


def test_service_time_uses_the_seeded_sampler(site):
    dist = Distribution("lognormal", 0.001, sigma=0.5)
    config = OriginConfig(root=site, service_time=dist, seed=9)

    async def body(s, base, port, app):
        service = app[SERVICE_TIME]
        assert service.distribution == dist
        for path in ("/", "/notes.txt", "/nope", "/../x"):
            await fetch(s, "GET", base + path)
        await fetch(s, "GET", base + "/.well-known/cdn/health")  # never delayed
        await fetch(s, "POST", base + "/")  # refused before any work
        assert service.drawn == 4
        service.set(Distribution("fixed", 0.002))  # an origin_slow event, while running
        await fetch(s, "GET", base + "/")
        assert service.drawn == 5 and service.distribution.value == 0.002
        service.set(None)
        await fetch(s, "GET", base + "/")
        assert service.drawn == 5

    with_origin(config, body)
    app = create_origin_app(OriginConfig(root=site))
    assert app[SERVICE_TIME].distribution is None and app[SERVICE_TIME]() == 0.0
    # the delays are the seeded sampler's values, in order
    service, ref = ServiceTime(dist, seed=9), Sampler(dist, seed=9)
    assert [service() for _ in range(5)] == [ref() for _ in range(5)]


def _vm_hwm_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_cli_serves_and_streams_without_reading_whole(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "index.html").write_text("<p>hi</p>")
    size = 96 * 1024 * 1024
    with open(root / "huge.bin", "wb") as f:  # sparse: reads back as zeros, costs no disk
        f.truncate(size)
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cdn",
            "origin",
            "--root",
            str(root),
            "--listen",
            f"127.0.0.1:{port}",
            "--cache-control",
            "*.html=max-age=5",
            "--surrogate-key",
            "*=demo",
            "--service-time",
            "0ms",
        ],  # fmt: skip
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert "origin: serving" in line, proc.stderr.read() if proc.poll() is not None else line

        async def body():
            async with aiohttp.ClientSession() as s:
                status, h, data = await fetch(s, "GET", f"http://127.0.0.1:{port}/")
                assert status == 200 and data == b"<p>hi</p>"
                assert h["Cache-Control"] == "max-age=5" and h["Surrogate-Key"] == "demo"
                before = _vm_hwm_kib(proc.pid)
                zeros = hashlib.sha256()
                async with s.get(f"http://127.0.0.1:{port}/huge.bin") as r:
                    total = 0
                    async for chunk in r.content.iter_chunked(1 << 20):
                        total += len(chunk)
                        zeros.update(chunk)
                assert total == size
                # reading the file whole would raise the peak by ~96 MiB
                growth = _vm_hwm_kib(proc.pid) - before
                assert growth < 32 * 1024, f"peak RSS grew by {growth} KiB"

        asyncio.run(body())
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0


def test_cli_rejects_bad_arguments(tmp_path, capsys):
    from cdn.cli import main  # in-process: the same code path as the command, minus startup

    for args, msg in [
        (["--root", str(tmp_path / "missing")], "not a directory"),
        (["--cache-control", "*.html"], "PATTERN=VALUE"),
        (["--surrogate-key", "=x"], "PATTERN=VALUE"),
        (["--service-time", "weibull:1:2"], "unknown distribution"),
        (["--service-time", "lognormal:5ms"], "takes 2"),
        (["--listen", "localhost"], "HOST:PORT"),
        (["--listen", "127.0.0.1:99999"], "HOST:PORT"),
    ]:
        assert main(["origin", *args]) == 2, args
        err = capsys.readouterr().err
        assert msg in err and err.startswith("cdn origin: error:"), (args, err)
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert main(["origin", "--root", str(tmp_path), "--listen", f"127.0.0.1:{port}"]) == 2
    assert "cannot listen" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["origin", "--help"])
    assert exit_.value.code == 0 and "--cache-control" in capsys.readouterr().out
    # and once through a real process: exit status 2, the message, no traceback
    out = run_cdn("origin", "--cache-control", "*.html", timeout=60)
    assert out.returncode == 2 and "PATTERN=VALUE" in out.stderr and "Traceback" not in out.stderr


def test_config_from_the_quickstart_scenario():
    from cdn.scenario import load_scenario
    from origin.server import origin_config

    sc = load_scenario("quickstart")
    config = origin_config(sc, cache_control=[("*.txt", "no-cache")])
    ref = Catalog(sc.workload, sc.seed)  # what the simulator builds
    assert config.catalog.n == sc.workload.catalog_size
    assert np.array_equal(config.catalog.sizes, ref.sizes)
    assert config.rules.cache_control_for("/robots.txt") == "no-cache"  # explicit rules first
    assert config.rules.cache_control == (("*.txt", "no-cache"), *sc.origin.cache_control)
    assert config.service_time == sc.origin.service_time  # lognormal 8 ms in quickstart
    assert config.seed == sc.seed
    zero = origin_config(sc, service_time=Distribution("fixed", 0.0))
    assert zero.service_time is None  # an explicit 0 overrides the scenario

    async def body(s, base, port, app):
        for i in (0, 1, 19_999):
            status, h, data = await fetch(s, "GET", f"{base}/obj/{i}")
            assert status == 200 and len(data) == ref.size(i)
            assert h["Cache-Control"] == ref.cache_control(i)
        status, _, data = await fetch(s, "GET", base + "/")  # the bundled demo site
        assert status == 200 and b"CDN in a box" in data

    with_origin(dataclasses.replace(config, service_time=None), body)


def test_client_leaving_mid_stream_leaves_server_up_and_closes_files(tmp_path):
    with open(tmp_path / "big.bin", "wb") as f:
        f.truncate(64 * 1024 * 1024)

    def open_fds() -> int:  # descriptors of this process open on big.bin
        n, target = 0, os.path.realpath(tmp_path / "big.bin")
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):  # fds come and go while we look
                n += os.readlink(f"/proc/self/fd/{fd}") == target
        return n

    async def body(s, base, port, app):
        for _ in range(5):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            await writer.drain()
            await reader.readexactly(100_000)  # some of it, then hang up
            assert open_fds() >= 1  # the server is sending from the file
            writer.close()
        status, _, data = await fetch(s, "GET", base + "/.well-known/cdn/health")
        assert (status, data) == (200, b"ok")
        for _ in range(100):  # the handlers notice the hang-up on their next write
            if open_fds() == 0:
                break
            await asyncio.sleep(0.05)
        assert open_fds() == 0
        assert app[STATS].body_bytes < 5 * 64 * 1024 * 1024

    with_origin(OriginConfig(root=tmp_path), body)
