"""Cache-hit throughput of the edge beside nginx proxy_cache and a bare aiohttp handler.

Each server runs as one process pinned to CPU 0 (taskset); wrk runs pinned to
CPU 1 and asks for the same 10 KB object over loopback keep-alive connections.
The edge and nginx sit in front of the same origin and are warmed first, so
every measured request is a cache hit. The bare handler returns the same
bytes from memory with no caching logic: the ceiling for an aiohttp server. It
runs twice: as people usually write it (web.Application with a route) and on
the low-level web.Server that the edge itself runs on.

    python benchmarks/bench_edge.py [--duration 10] [--connections 50]

Needs wrk and nginx (``apt-get install -y wrk nginx``) and taskset; skips
with a message when they are missing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BODY = bytes((i * 7 + 13) % 251 for i in range(10_000))
HEADERS = {
    "Content-Type": "application/octet-stream",
    "Cache-Control": "max-age=3600",
    "ETag": '"bench"',
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_bytes(port: int, low_level: bool = False) -> None:
    """A bare aiohttp handler returning BODY (also the origin of this benchmark): in a
    web.Application with a catch-all route, or on the low-level web.Server the edge uses."""
    from aiohttp import web

    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass

    async def handler(request):
        return web.Response(body=BODY, headers=HEADERS)

    if low_level:

        async def main():
            runner = web.ServerRunner(web.Server(handler, access_log=None))
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            await asyncio.Event().wait()

        asyncio.run(main())
        return
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def wait_up(url: str, timeout: float = 15.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                r.read()
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` and its descendants (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}  # pid -> (ppid, cpu seconds)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        stats[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        total += stats.get(p, (0, 0.0))[1]
        todo.extend(c for c, (pp, _) in stats.items() if pp == p)
    return total


def wrk(url: str, duration: int, connections: int) -> tuple[float, int]:
    out = subprocess.run(
        ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{duration}s", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    m = re.search(r"Requests/sec:\s*([\d.]+)", out)
    n = re.search(r"(\d+) requests in", out)
    if not m or not n:
        raise RuntimeError(f"cannot read wrk output:\n{out}")
    if "Non-2xx" in out or "Socket errors" in out:
        print(out, file=sys.stderr)
    return float(m.group(1)), int(n.group(1))


NGINX_CONF = """
worker_processes 1;
error_log {tmp}/error.log warn;
pid {tmp}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    proxy_cache_path {tmp}/cache levels=1:2 keys_zone=bench:10m max_size=100m inactive=1h;
    upstream origin {{ server 127.0.0.1:{origin}; keepalive 32; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache bench;
            add_header X-Cache-Status $upstream_cache_status;
        }}
    }}
}}
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; best of each")
    ap.add_argument("--json", metavar="FILE", help="also write the results here")
    ap.add_argument("--serve-bytes", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--low-level", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_bytes:
        serve_bytes(args.serve_bytes, args.low_level)
        return 0
    missing = [t for t in ("wrk", "nginx", "taskset") if not shutil.which(t)]
    if missing:
        print(f"skipped: {', '.join(missing)} not found (apt-get install -y wrk nginx)")
        return 0
    if (os.cpu_count() or 1) < 2:
        print("skipped: needs 2 CPUs (server on CPU 0, wrk on CPU 1)")
        return 0

    procs: list[subprocess.Popen] = []
    tmp = tempfile.mkdtemp(prefix="bench-edge-")
    os.chmod(tmp, 0o755)  # nginx workers drop root and must reach their cache directory
    me = [sys.executable, str(Path(__file__).resolve())]
    try:
        origin, bare, bare_ll, edge, nginx = (free_port() for _ in range(5))
        procs.append(subprocess.Popen([*me, "--serve-bytes", str(origin)]))  # unpinned origin
        procs.append(subprocess.Popen(["taskset", "-c", "0", *me, "--serve-bytes", str(bare)]))
        procs.append(
            subprocess.Popen(
                ["taskset", "-c", "0", *me, "--serve-bytes", str(bare_ll), "--low-level"]
            )
        )
        procs.append(
            subprocess.Popen(
                ["taskset", "-c", "0", sys.executable, "-m", "cdn", "edge",
                 "--origin", f"http://127.0.0.1:{origin}", "--listen", f"127.0.0.1:{edge}",
                 "--capacity", "64MiB"],
                cwd=REPO, stdout=subprocess.DEVNULL,
            )
        )  # fmt: skip
        conf = Path(tmp) / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=tmp, origin=origin, port=nginx))
        procs.append(
            subprocess.Popen(
                ["taskset", "-c", "0", "nginx", "-p", tmp, "-c", str(conf), "-g", "daemon off;"],
            )
        )
        urls = {
            "bare aiohttp": f"http://127.0.0.1:{bare}/obj",
            "bare low-level": f"http://127.0.0.1:{bare_ll}/obj",
            "edge": f"http://127.0.0.1:{edge}/obj",
            "nginx proxy_cache": f"http://127.0.0.1:{nginx}/obj",
        }
        for url in urls.values():
            wait_up(url)
            wait_up(url)  # second request: a cache hit from here on
        with urllib.request.urlopen(urls["edge"]) as r:
            assert "hit" in r.headers["Cache-Status"], r.headers["Cache-Status"]
            assert r.read() == BODY
        pids = {
            "bare aiohttp": procs[1].pid,
            "bare low-level": procs[2].pid,
            "edge": procs[3].pid,
            "nginx proxy_cache": procs[4].pid,
        }
        for url in urls.values():
            wrk(url, 2, args.connections)  # warm-up
        # Rounds interleave the servers so that background load hits them alike; best of each.
        # Requests per CPU-second of the server process is the steadier figure on a busy
        # machine: it does not count the time the server waited for a CPU.
        runs: dict[str, list[float]] = {name: [] for name in urls}
        per_cpu: dict[str, list[float]] = {name: [] for name in urls}
        for _ in range(args.rounds):
            for name, url in urls.items():
                before = cpu_seconds(pids[name])
                rps, n = wrk(url, args.duration, args.connections)
                used = cpu_seconds(pids[name]) - before
                runs[name].append(rps)
                per_cpu[name].append(n / used if used > 0 else float("nan"))
        results = {name: max(v) for name, v in runs.items()}
        efficiency = {name: sorted(v)[len(v) // 2] for name, v in per_cpu.items()}
        bare_rps, edge_rps, nginx_rps = (
            results["bare aiohttp"],
            results["edge"],
            results["nginx proxy_cache"],
        )
        print(
            f"10 KB cache hits, 1 server process on CPU 0, wrk -c{args.connections} on CPU 1, "
            f"best of {args.rounds} x {args.duration}s:"
        )
        for name, rps in results.items():
            each = " ".join(f"{r:.0f}" for r in runs[name])
            print(
                f"  {name:18s} {rps:8.0f} req/s  {efficiency[name]:8.0f} req/CPU-s   (runs: {each})"
            )
        eff = efficiency
        print(
            f"  edge / bare aiohttp = {edge_rps / bare_rps:.2f} req/s, "
            f"{eff['edge'] / eff['bare aiohttp']:.2f} per CPU-s   (target >= 0.85)"
        )
        low = results["bare low-level"]
        print(
            f"  edge / bare low-lvl = {edge_rps / low:.2f} req/s, "
            f"{eff['edge'] / eff['bare low-level']:.2f} per CPU-s   (same aiohttp server layer)"
        )
        print(
            f"  edge / nginx        = {edge_rps / nginx_rps:.2f} req/s, "
            f"{eff['edge'] / eff['nginx proxy_cache']:.2f} per CPU-s"
        )
        if args.json:
            doc = {"best_rps": results, "runs_rps": runs, "req_per_cpu_s": per_cpu}
            Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
        return 0
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
