"""Queries per second of ``cdn dns`` (and gdnsd beside it) under dnsperf.

Each server is pinned to one core (taskset -c 0), dnsperf to the other
(-c 1). The query mix is ECS-routed: for every client place of the scenario
(``--places N`` replaces the clients with the N most populous cities) one A
and one AAAA query for each CDN host, with an ECS option carrying the place's
IPv4 /24 or IPv6 /48 from the address plan. Queries go to dnsperf as
TCP-stream binary (-B), the only format that carries a different ECS option
per query. gdnsd, when installed, answers the same zone with its geoip plugin
on the same MaxMind DB, mapping each place to the nearest datacenter by
coordinates (gdnsd's auto_dc_coords).

    python benchmarks/bench_dns.py                       # quickstart, 10 s each
    python benchmarks/bench_dns.py --places 500 --seconds 20
    python benchmarks/bench_dns.py --places 500 --no-cache   # dnslib on every query

Measured on 2 cores (--places 500, 10 s): cdn dns ~135,000 answers per
CPU-second from the answer cache, ~6,600 on the full path (dnslib parse and
build every query); gdnsd ~270,000.

Needs dnsperf (apt-get install -y dnsperf gdnsd); exits 0 with a note if absent.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _scenario(name: str, places: int):
    from cdn.scenario import ClientPlace, load_scenario

    sc = load_scenario(name)
    if places:
        from cdn.places import top_cities

        clients = tuple(ClientPlace(p, 1.0) for p in top_cities(places))
        sc = dataclasses.replace(sc, clients=clients)
    return sc


def _query(qname: str, qtype: int, family: int, net) -> bytes:
    """A wire query (RD clear) with EDNS 1232 and an ECS option for ``net``."""
    src = net.prefixlen
    addr = net.network_address.packed[: (src + 7) // 8]
    ecs = struct.pack("!HBB", family, src, 0) + addr
    opt = b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 4 + len(ecs))
    opt += struct.pack("!HH", 8, len(ecs)) + ecs
    name = b"".join(bytes([len(x)]) + x.encode() for x in qname.split(".")) + b"\x00"
    return struct.pack("!HHHHHH", 0, 0, 1, 0, 0, 1) + name + struct.pack("!HH", qtype, 1) + opt


def write_queries(sc, path: Path) -> int:
    from cdn.addressing import client_blocks

    n = 0
    with open(path, "wb") as f:
        for v4, v6 in client_blocks(sc).values():
            for host in sc.dns.hosts:
                qname = f"{host}.{sc.dns.zone}"
                for msg in (_query(qname, 1, 1, v4), _query(qname, 28, 2, v6)):
                    f.write(len(msg).to_bytes(2, "big") + msg)
                    n += 1
    return n


def _free_port() -> int:
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.bind(("127.0.0.1", port))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port")


def _wait_udp(port: int, timeout: float = 30.0) -> None:
    q = _query("probe.invalid", 1, 1, __import__("ipaddress").ip_network("127.0.0.0/24"))
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        while time.monotonic() < deadline:
            try:
                s.sendto(q, ("127.0.0.1", port))
                s.recvfrom(4096)
                return
            except OSError:
                time.sleep(0.1)
    raise RuntimeError(f"no DNS server answered on port {port}")


def _taskset(core: int) -> list[str]:
    return ["taskset", "-c", str(core)] if shutil.which("taskset") and os.cpu_count() > 1 else []


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process (all its threads) has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(pid: int, port: int, qfile: Path, seconds: float) -> tuple[float, float]:
    """(queries/s as dnsperf saw it, queries per CPU-second the server spent):
    the second is robust to other load on the machine."""
    dnsperf(port, qfile, 1, quiet=True)  # warm-up: one pass to fill every server's caches
    c0 = cpu_seconds(pid)
    qps, total = dnsperf(port, qfile, seconds)
    used = cpu_seconds(pid) - c0
    return qps, total / used if used > 0 else float("nan")


def dnsperf(port: int, qfile: Path, seconds: float, quiet: bool = False) -> tuple[float, int]:
    cmd = _taskset(1) + [
        "dnsperf", "-B", "-d", str(qfile), "-s", "127.0.0.1", "-p", str(port),
        "-l", str(seconds), "-c", "8", "-q", "500", "-t", "2",
    ]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60).stdout
    m = re.search(r"Queries per second:\s+([\d.]+)", out)
    lost = re.search(r"Queries lost:\s+(\d+)", out)
    if not m:
        raise RuntimeError(f"dnsperf output not understood:\n{out}")
    done = re.search(r"Queries completed:\s+(\d+)", out)
    codes = re.search(r"Response codes:\s+(.*)", out)
    if codes and not codes.group(1).startswith("NOERROR") or codes and "," in codes.group(1):
        print(f"    response codes: {codes.group(1)}")  # every benchmark query should succeed
    if lost and int(lost.group(1)) and not quiet:
        print(f"    ({lost.group(1)} queries lost)")
    return float(m.group(1)), int(done.group(1)) if done else 0


def serve_child(args) -> None:
    """Run the server in this process (the benchmark starts it pinned)."""
    import asyncio

    from cdn.dns_server import DnsServer
    from cdn.geoip import Locator

    sc = _scenario(args.scenario, args.places)
    places = [c.place for c in sc.clients] + [p for r in sc.resolvers for p in r.places]
    server = DnsServer(sc, Locator(args.db, places), check_health=False, cache=not args.no_cache)

    async def main():
        await server.start("127.0.0.1", args.port)
        await asyncio.Event().wait()

    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())


def gdnsd_config(sc, db: Path, port: int, root: Path) -> Path:
    from cdn.addressing import edge_addresses

    edges = edge_addresses(sc)
    places = {e.name: e.place for e in sc.edges if e.name in edges}
    dcs = " ".join(edges)
    coords = "\n".join(f"        {n} => [ {p.lat}, {p.lon} ]" for n, p in places.items())
    dcmap = "\n".join(
        f"          {n} => {{ addrs_v4 => {{ a => {a[0]} }}, addrs_v6 => {{ a => {a[1]} }} }}"
        for n, a in edges.items()
    )
    cfg = root / "etc"
    (cfg / "zones").mkdir(parents=True, exist_ok=True)
    (cfg / "geoip").mkdir(exist_ok=True)
    shutil.copy(db, cfg / "geoip" / "clients.mmdb")
    (cfg / "config").write_text(f"""
options => {{
  listen => [ 127.0.0.1:{port} ]
  udp_threads => 1
  tcp_threads => 1
  edns_client_subnet => true
}}
plugins => {{
  geoip => {{
    maps => {{
      cdn => {{
        geoip2_db => clients.mmdb
        datacenters => [ {dcs} ]
        auto_dc_coords => {{
{coords}
        }}
      }}
    }}
    resources => {{
      www => {{ map => cdn, dcmap => {{
{dcmap}
      }} }}
    }}
  }}
}}
""")
    zone = sc.dns.zone
    ttl = int(sc.dns.ttl)
    lines = [
        f"$TTL {ttl}",
        f"@ SOA ns1 hostmaster 1 3600 600 86400 {ttl}",
        "@ NS ns1",
        "ns1 A 127.0.0.1",
    ]
    for h in sc.dns.hosts:
        lines.append(f"{h} DYNA geoip!www")
    (cfg / "zones" / zone).write_text("\n".join(lines) + "\n")
    return cfg


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", default="quickstart")
    ap.add_argument("--places", type=int, default=0, help="use the N most populous cities")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--no-gdnsd", action="store_true")
    ap.add_argument("--no-cache", action="store_true", help="measure the full path")
    ap.add_argument("--serve-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--db", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_child:
        serve_child(args)
        return 0
    if not shutil.which("dnsperf"):
        print("dnsperf not installed (apt-get install -y dnsperf gdnsd): skipping")
        return 0
    from cdn.geoip import build_mmdb

    sc = _scenario(args.scenario, args.places)
    with tempfile.TemporaryDirectory(prefix="bench-dns-") as tmp:
        tmpd = Path(tmp)
        db = build_mmdb(sc, tmpd / "clients.mmdb")
        qfile = tmpd / "queries.bin"
        n = write_queries(sc, qfile)
        print(f"scenario {sc.name}: {len(sc.clients)} client places, {n} distinct ECS queries")
        results = {}
        port = _free_port()
        cmd = _taskset(0) + [sys.executable, __file__, "--serve-child", "--db", str(db)]
        cmd += ["--port", str(port), "--scenario", args.scenario, "--places", str(args.places)]
        if args.no_cache:
            cmd.append("--no-cache")
        proc = subprocess.Popen(cmd)
        try:
            _wait_udp(port)
            label = "cdn dns (full path, no cache)" if args.no_cache else "cdn dns"
            results[label] = measure(proc.pid, port, qfile, args.seconds)
        finally:
            proc.terminate()
            proc.wait(10)
        gd = shutil.which("gdnsd") or (
            "/usr/sbin/gdnsd" if Path("/usr/sbin/gdnsd").exists() else None
        )
        if gd and not args.no_gdnsd:
            gport = _free_port()
            cfg = gdnsd_config(sc, db, gport, tmpd / "gdnsd")
            gcmd = _taskset(0) + [gd, "-c", str(cfg), "-R", "start"]
            gp = subprocess.Popen(gcmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            try:
                _wait_udp(gport, 20)
                results["gdnsd (geoip plugin)"] = measure(gp.pid, gport, qfile, args.seconds)
            except RuntimeError as exc:
                gp.terminate()
                err = gp.communicate(timeout=10)[1].decode(errors="replace")[-1500:]
                print(f"gdnsd did not start: {exc}\n{err}")
            finally:
                if gp.poll() is None:
                    gp.terminate()
                    gp.wait(10)
        elif not args.no_gdnsd:
            print("gdnsd not installed: measuring cdn dns alone")
    print(f"{'server':<32} {'queries/s':>10}  {'per CPU-second':>14}")
    for k, (qps, per_cpu) in results.items():
        print(f"{k:<32} {qps:>10,.0f}  {per_cpu:>14,.0f}")
    print("(each server pinned to one core; per CPU-second = answers / CPU time it used)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
