"""`cdn serve`: the whole stack on loopback (free ports), in-process and as a subprocess."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time

import dns.edns
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from cdn.addressing import client_address, client_block, edge_addresses, located_places
from cdn.emulation import DelayModel, last_via_name
from cdn.errors import UserError
from cdn.live_load import Connection, cache_hit
from cdn.places import resolve_place
from cdn.scenario import load_scenario
from cdn.serve import ORIGIN_HOST, LiveStack, ServeOptions
from origin.server import CONFIG, STATS
from tests.conftest import REPO, free_port

SC = load_scenario("quickstart")
HOST = "www.cdn.test"
# Nearest PoP by geography: what any latency routing must answer for these cities.
EXPECTED = {"Tokyo": "sin", "London": "fra", "New York": "iad", "São Paulo": "gru"}


def _place(name):
    return resolve_place(name)


def _dig(port: int, place, source: str | None = None) -> tuple[list[str], int]:
    """A records and the ECS scope for HOST, asked with the place's block as ECS."""
    block = client_block(SC, place)[0]
    q = dns.message.make_query(
        HOST, "A", use_edns=0, options=[dns.edns.ECSOption(str(block.network_address), 24)]
    )
    r = dns.message.from_wire(
        dns.query.udp(q, "127.0.0.1", timeout=3, port=port, source=source).to_wire()
    )
    ecs = [o for o in r.options if isinstance(o, dns.edns.ECSOption)]
    return [a.address for rr in r.answer for a in rr], ecs[0].scopelen


def _assert_aaaa_nodata(port: int, place, tcp: bool = False) -> None:
    """The edges listen on IPv4 only: AAAA for HOST is NODATA (NOERROR, no
    answer, the SOA in authority), with the ECS echoed at scope 0."""
    block = client_block(SC, place)[0]
    q = dns.message.make_query(
        HOST, "AAAA", use_edns=0, options=[dns.edns.ECSOption(str(block.network_address), 24)]
    )
    r = (dns.query.tcp if tcp else dns.query.udp)(q, "127.0.0.1", timeout=3, port=port)
    assert r.rcode() == dns.rcode.NOERROR and not r.answer, r
    [soa] = r.authority
    assert soa.rdtype == dns.rdatatype.SOA and soa.name.to_text() == f"{SC.dns.zone}."
    assert soa.ttl == soa[0].minimum == int(SC.dns.ttl)
    [ecs] = [o for o in r.options if isinstance(o, dns.edns.ECSOption)]
    assert (ecs.srclen, ecs.scopelen) == (24, 0)


def _options(**kw) -> ServeOptions:
    return ServeOptions(http_port=free_port(), dns_port=free_port(), health_interval=0.5, **kw)


def test_stack_dns_cache_and_origin_in_process():
    async def main():
        async with LiveStack(SC, _options(emulation_scale=0.01)) as stack:
            port = stack.options.http_port
            addrs = {n: str(a[0]) for n, a in edge_addresses(SC).items()}
            # DNS: each place gets its nearest PoP, with a scope of its /24
            for city, edge in EXPECTED.items():
                answer, scope = await asyncio.to_thread(_dig, stack.dns.port, _place(city))
                assert answer == [addrs[edge]], city
                assert scope == 24
            for tcp in (False, True):  # no AAAA for addresses nothing listens on
                await asyncio.to_thread(_assert_aaaa_nodata, stack.dns.port, _place("Tokyo"), tcp)
            # Cache: miss, then hit, one origin request; from two places, two edges
            stats = stack.origin_app[STATS]
            for city in ("Tokyo", "London"):
                place = _place(city)
                edge = EXPECTED[city]
                src = client_address(SC, place)
                before = stats.requests
                statuses = []
                for _ in range(3):
                    conn = await Connection.open(addrs[edge], port, src, 10)
                    try:
                        reply = await conn.get("/obj/7", f"{HOST}:{port}")
                    finally:
                        conn.close()
                    assert reply.status == 200
                    assert reply.nbytes == stack.origin_app[CONFIG].catalog.size(7)
                    statuses.append(reply.headers["cache-status"])
                assert [cache_hit(s) for s in statuses] == [False, True, True], statuses
                assert statuses[0].startswith(f"{edge}; fwd=uri-miss; fwd-status=200; stored")
                assert stats.requests - before == 1
            # The demo site goes through the edge too, with validators from the origin
            conn = await Connection.open(addrs["iad"], port, None, 10)
            try:
                reply = await conn.get("/index.html", HOST)
                health = await conn.get("/.well-known/cdn/health", HOST)
            finally:
                conn.close()
            assert reply.status == 200 and "etag" in reply.headers
            assert health.status == 200
            assert stack.dns.tracker.down == frozenset()

    asyncio.run(main())


def test_emulated_delay_is_the_model_new_then_reused_connection():
    """The edge's Server-Timing says what it slept: the model's client time, with the
    handshake round trips only on a connection's first request (no wall clock asserted)."""
    scale = 0.01
    model = DelayModel(SC)

    async def main():
        async with LiveStack(SC, _options(emulation_scale=scale)) as stack:
            tokyo = _place("Tokyo")
            addr = str(edge_addresses(SC)["sin"][0])
            conn = await Connection.open(
                addr, stack.options.http_port, client_address(SC, tokyo), 10
            )
            try:
                first = await conn.get("/obj/3", HOST)
                second = await conn.get("/obj/3", HOST)
            finally:
                conn.close()
            n = first.nbytes
            for reply, new in ((first, True), (second, False)):
                want = model.client_ms(tokyo, "sin", n, new) * scale
                got = float(reply.headers["server-timing"].split("dur=")[1])
                assert got == pytest.approx(want, abs=0.06)
            # the difference is exactly the TCP + TLS handshakes: 2 RTT
            rtt = model.rtt_ms(tokyo, model.edge_place("sin"), 0.005)
            assert model.client_ms(tokyo, "sin", n, True) - model.client_ms(
                tokyo, "sin", n, False
            ) == pytest.approx(2 * rtt)
            # an unlocated client (127.0.0.1) is not delayed
            conn = await Connection.open(addr, stack.options.http_port, None, 10)
            try:
                plain = await conn.get("/obj/3", HOST)
            finally:
                conn.close()
            assert plain.headers["server-timing"] == "emulated;dur=0.0"

    asyncio.run(main())


def test_delay_model_against_transfer_arithmetic():
    from cdn.network import NetworkModel
    from cdn.transfer import fetch_time_ms

    m = DelayModel(SC)
    net = NetworkModel.from_config(SC.network)
    fra, iad = SC.edge("fra").place, SC.origin.place
    rtt = net.rtt_ms(fra, iad)
    # 14,600 bytes = one initial window: one RTT on a warm connection
    assert m.hop_ms("fra", None, 14_600) == pytest.approx(rtt)
    assert m.hop_ms("fra", None, 15_000) == pytest.approx(2 * rtt)
    lagos = _place("Lagos")
    p = m.predict(lagos, "jnb", 1000, hit=False, service_ms=8.0)
    assert p.client_ms == pytest.approx(
        fetch_time_ms(net.rtt_ms(lagos, SC.edge("jnb").place, 0.020), 1000, bandwidth_bps=100e6)
    )
    assert p.upstream_ms == pytest.approx(net.rtt_ms(SC.edge("jnb").place, iad))
    assert p.total_ms == pytest.approx(p.client_ms + p.upstream_ms + 8.0)
    assert m.predict(lagos, "jnb", 1000, hit=True).total_ms == pytest.approx(p.client_ms)
    # a tiered edge: up to the first tier that has it, or through every tier to the origin
    g = DelayModel(load_scenario("global"))
    lagos = g.edge_place("los")
    full = g.predict(lagos, "los", 5000, hit=False, service_ms=0.0)
    ams = g.hop_ms("los", "shield-ams", 5000)
    assert full.upstream_ms == pytest.approx(
        ams + g.hop_ms("shield-ams", "shield-iad", 5000) + g.hop_ms("shield-iad", None, 5000)
    )
    part = g.predict(lagos, "los", 5000, hit=False, hit_tiers=frozenset({"shield-ams"}))
    assert (part.upstream_ms, part.service_ms) == (pytest.approx(ams), 0.0)
    assert last_via_name(["1.1 child, 1.1 fra"]) == "fra"
    assert last_via_name([]) is None


def test_busy_port_is_a_clear_error_and_nothing_stays_up():
    opts = _options(emulate=False)
    with socket.socket() as s:
        s.bind((ORIGIN_HOST, opts.http_port))
        s.listen()

        async def main():
            stack = LiveStack(SC, opts)
            with pytest.raises(
                UserError, match=f"origin: cannot listen on {ORIGIN_HOST}:{opts.http_port}"
            ):
                await stack.start()
            assert stack._runners == [] and stack.dns is None

        asyncio.run(main())
    # DNS port taken: the HTTP servers started before it are stopped again
    opts = _options(emulate=False)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.bind(("127.0.0.1", opts.dns_port))

        async def main2():
            stack = LiveStack(SC, opts)
            with pytest.raises(
                UserError, match=f"DNS server: cannot listen on 127.0.0.1:{opts.dns_port}"
            ):
                await stack.start()

        asyncio.run(main2())
    with socket.socket() as s:  # the edge address is free again
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.1.1", opts.http_port))
        s.listen()


def _children(pid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return out


def _start_serve(*args: str, scenario: str = "quickstart") -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "cdn", "serve", scenario, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )


def _read_until(proc: subprocess.Popen, marker: str, timeout: float = 30.0) -> list[str]:
    """The lines ``proc`` prints up to the first one containing ``marker`` (or its end)."""
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if marker in line:
            break
    return lines


def test_serve_subprocess_fetch_and_sigint():
    http, dnsp = free_port(), free_port()
    proc = _start_serve(
        "--http-port", str(http), "--dns-listen", f"127.0.0.1:{dnsp}", "--no-emulate"
    )
    try:
        text = "".join(_read_until(proc, "Ctrl-C"))
        assert "Ctrl-C stops everything" in text, text + proc.stderr.read()
        for name in ("origin", "iad", "fra", "sin", "gru", "jnb", "dns"):
            assert f"\n{name} " in text
        assert f"dig @127.0.0.1 -p {dnsp} {HOST} +subnet=127.64.0.0/24" in text
        # DNS from several places
        for city, edge in EXPECTED.items():
            assert _dig(dnsp, _place(city))[0] == [str(edge_addresses(SC)[edge][0])]
        _assert_aaaa_nodata(dnsp, _place("London"))
        # cdn fetch, twice: miss then hit
        url = f"http://{HOST}:{http}/obj/11"
        outs = []
        for _ in range(2):
            r = subprocess.run(
                [sys.executable, "-m", "cdn", "fetch", "--from", "Sydney", url,
                 "--dns", f"127.0.0.1:{dnsp}"],
                capture_output=True, text=True, timeout=60, cwd=REPO,
            )  # fmt: skip
            assert r.returncode == 0, r.stderr
            outs.append(r.stdout)
        assert "source 127.64.11.1" in outs[0]
        assert "fwd=uri-miss" in outs[0] and "; hit;" in outs[1]
        assert "predicted" in outs[1] and "measured" in outs[1]
        assert _children(proc.pid) == []  # one process: nothing to leave behind
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
    assert proc.returncode == 0, err
    assert "cdn serve: stopped" in out
    with pytest.raises(ProcessLookupError):
        os.kill(proc.pid, 0)
    # every port is free again
    with socket.socket() as s:  # (SO_REUSEADDR: TIME_WAIT is fine, a listener is not)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.1.3", http))
        s.listen()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.bind(("127.0.0.1", dnsp))


def test_serve_busy_dns_port_exit_2_and_sigterm():
    http, dnsp = free_port(), free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.bind(("127.0.0.1", dnsp))
        proc = _start_serve("--http-port", str(http), "--dns-listen", f"127.0.0.1:{dnsp}")
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert f"cannot listen on 127.0.0.1:{dnsp}" in err and "Traceback" not in err
    proc = _start_serve(
        "--http-port", str(http), "--dns-listen", f"127.0.0.1:{dnsp}", "--no-emulate"
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "Ctrl-C" not in proc.stdout.readline():
            pass
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err


def test_every_located_place_is_answered():
    """Every client and resolver place of the plan resolves to an edge (no fallbacks)."""

    async def main():
        async with LiveStack(SC, _options(emulate=False)) as stack:
            addrs = {str(a[0]) for a in edge_addresses(SC).values()}
            for place in located_places(SC):
                answer, scope = await asyncio.to_thread(_dig, stack.dns.port, place)
                assert len(answer) == 1 and answer[0] in addrs, place.name

    asyncio.run(main())


# --- the scenario's events, played live ----------------------------------------------

EVENTS_TOML = """
name = "events-test"
seed = 3

[origin]
place = "IAD"

# the demo site's files stay fresh; the catalog's /obj/<id> go stale after 1 s
[[origin.cache_control]]
pattern = "/*"
value = "max-age=600"

[[edges]]
name = "iad"
place = "IAD"
[[edges]]
name = "fra"
place = "FRA"

[dns]
zone = "cdn.test"
hosts = ["www"]
ttl = "1s"
policy = "latency"
health_interval = "0.2s"
health_failures = 2
health_successes = 1

[[clients]]
place = "New York"
[[clients]]
place = "London"

[workload]
duration = "60s"
rate = "10/s"
catalog_size = 100
[[workload.content]]
type = "page"
share = 1
size = "2KB"
cache_control = "max-age=1, stale-if-error=600"

[[events]]
at = "0.5s"
kind = "edge_down"
edge = "fra"
duration = "3.5s"

[[events]]
at = "1s"
kind = "purge"
url = "/about.html"

[[events]]
at = "1.5s"
kind = "origin_down"
duration = "1.5s"

[[events]]
at = "1.5s"
kind = "origin_slow"
service_time = "50ms"
duration = "1.5s"

[[events]]
at = "2s"
kind = "flash_crowd"
object = 3
factor = 10
duration = "5s"
"""


def _events_scenario(tmp_path):
    path = tmp_path / "events.toml"
    path.write_text(EVENTS_TOML)
    return load_scenario(str(path)), str(path)


def test_event_steps_order_and_schedule(tmp_path):
    from cdn.serve import event_steps

    sc, _ = _events_scenario(tmp_path)
    steps = event_steps(sc.events)
    assert [(s.at, s.action) for s in steps] == [
        (0.5, "edge_down"), (1.0, "purge"), (1.5, "origin_down"), (1.5, "origin_slow"),
        (2.0, "flash_crowd"), (3.0, "origin_up"), (3.0, "origin_slow_end"), (4.0, "edge_up"),
    ]  # fmt: skip
    assert [s.ends for s in steps] == [False] * 5 + [True] * 3
    assert steps[-1].describe() == "edge_up fra (end of edge_down at 0.5 s)"
    # the banner lists the schedule, or says that it is off
    banner = LiveStack(sc, ServeOptions()).schedule()
    assert "     0.5 s  edge_down fra for 3.5 s" in banner
    assert "     4.0 s  edge_up fra (end of edge_down at 0.5 s)" in banner
    off = LiveStack(sc, ServeOptions(events=False))
    assert off.steps() == [] and "5 in the scenario, not played (--no-events)" in off.schedule()
    assert "none" in LiveStack(SC, ServeOptions()).schedule()
    # the flags: cdn serve plays them unless --no-events; cdn load never does
    from cdn.cli import build_parser
    from cdn.commands.serve import options_from_args

    parser = build_parser()
    assert options_from_args(parser.parse_args(["serve"])).events is True
    assert options_from_args(parser.parse_args(["serve", "--no-events"])).events is False
    assert options_from_args(parser.parse_args(["load", "quickstart"])).events is False


async def _until(what: str, cond, timeout: float = 15.0) -> None:
    """Poll ``cond`` (sync or async) until it is true; fail after a generous timeout."""
    deadline = time.monotonic() + timeout
    while True:
        ok = cond()
        if asyncio.iscoroutine(ok):
            ok = await ok
        if ok:
            return
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        await asyncio.sleep(0.05)


def _fired(stack, action: str) -> bool:
    return any(step.action == action for step, _, _ in stack.fired)


def test_events_played_live(tmp_path):
    """edge_down refuses connections, DNS notices on its own and takes the edge back
    after its duration (with its cache); purge makes a hit a miss; origin_down gives a
    fresh miss 502 while a stale-if-error copy is served; origin_slow swaps the
    origin's service time and back."""
    from cdn.scenario import Distribution
    from origin.server import SERVICE_TIME

    sc, _ = _events_scenario(tmp_path)
    lines: list[str] = []
    london = _place("London")
    opts = ServeOptions(http_port=free_port(), dns_port=free_port(), emulate=False)

    def dig() -> list[str]:
        block = client_block(sc, london)[0]
        q = dns.message.make_query(
            HOST, "A", use_edns=0, options=[dns.edns.ECSOption(str(block.network_address), 24)]
        )
        r = dns.query.udp(q, "127.0.0.1", timeout=3, port=opts.dns_port)
        return [a.address for rr in r.answer for a in rr]

    async def main():
        async with LiveStack(sc, opts, on_event=lines.append) as stack:
            port = opts.http_port
            addrs = {n: str(a[0]) for n, a in edge_addresses(sc).items()}

            async def get(edge: str, path: str):
                conn = await Connection.open(addrs[edge], port, None, 10)
                try:
                    return await conn.get(path, HOST)
                finally:
                    conn.close()

            assert await asyncio.to_thread(dig) == [addrs["fra"]]
            kept = await get("fra", "/index.html")  # in fra's cache when it goes down
            held = await Connection.open(addrs["fra"], port, None, 10)  # open when it dies
            assert (await held.get("/index.html", HOST)).status == 200
            warm = [await get("iad", "/about.html") for _ in range(2)]
            assert [cache_hit(r.headers["cache-status"]) for r in warm] == [False, True]
            assert (await get("iad", "/obj/6")).status == 200  # stored, stale after 1 s
            assert kept.status == 200 and not stack.fired, "the warm-up took too long"

            # edge_down: connects are refused; DNS notices by its health checks only
            await _until("edge_down fires", lambda: _fired(stack, "edge_down"))
            with pytest.raises(ConnectionRefusedError):
                await asyncio.open_connection(addrs["fra"], port)
            with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
                await held.get("/index.html", HOST)  # reset, as by a dead host
            held.close()
            await _until("DNS answers iad", lambda: _dig_is(dig, [addrs["iad"]]))
            assert stack.dns.tracker.down == frozenset({"fra"})

            # purge: the stored /about.html is gone from iad
            await _until("purge fires", lambda: _fired(stack, "purge"))
            after = (await get("iad", "/about.html")).headers["cache-status"]
            assert not cache_hit(after) and "fwd=uri-miss" in after, after

            # origin_down: the stale copy stands in (stale-if-error), a fresh miss is 502
            await _until("origin_down fires", lambda: _fired(stack, "origin_down"))
            with pytest.raises(ConnectionRefusedError):
                await asyncio.open_connection(ORIGIN_HOST, port)
            stale = await get("iad", "/obj/6")
            assert stale.status == 200
            assert "stale-if-error" in stale.headers["cache-status"], stale.headers
            miss = await get("iad", "/obj/7")
            assert miss.status == 502 and "origin-error" in miss.headers["cache-status"]
            assert stack.origin_app[SERVICE_TIME].distribution == Distribution("fixed", 0.05)
            assert not _fired(stack, "origin_up"), "the checks above took longer than 1.5 s"

            # back up after the durations: the origin answers in the scenario's service time
            await _until("origin_up fires", lambda: _fired(stack, "origin_up"))
            await _until("origin_slow ends", lambda: _fired(stack, "origin_slow_end"))
            assert stack.origin_app[SERVICE_TIME].distribution == sc.origin.service_time
            assert (await get("iad", "/obj/7")).status == 200

            # edge_up: fra listens again, with the cache it had (as the simulator keeps it)
            await _until("edge_up fires", lambda: _fired(stack, "edge_up"))
            back = await get("fra", "/index.html")
            assert cache_hit(back.headers["cache-status"]), back.headers
            await _until("DNS answers fra again", lambda: _dig_is(dig, [addrs["fra"]]))

    asyncio.run(main())
    joined = "\n".join(lines)
    assert len(lines) == 8, joined
    assert "edge_down fra for 3.5 s: " in lines[0]
    assert "refuses connections (" in lines[0]  # (ours and maybe a health check's reset)
    assert "purge url /about.html on every edge and shield: 1 stored responses removed" in joined
    assert "flash_crowd x10 on object 3 for 5 s: a workload event" in joined
    assert "edge_up fra (end of edge_down at 0.5 s): listening on" in lines[-1]


async def _dig_is(dig, want: list[str]) -> bool:
    return await asyncio.to_thread(dig) == want


def test_serve_subprocess_prints_schedule_and_events(tmp_path):
    """cdn serve lists the schedule in its banner, prints a line per event as it fires,
    and stops at once on SIGINT with events still pending."""
    path = tmp_path / "cli-events.toml"
    body = EVENTS_TOML.split("[[events]]")[0]
    path.write_text(
        body + '[[events]]\nat = "0.3s"\nkind = "edge_down"\nedge = "fra"\nduration = "50s"\n'
    )
    http, dnsp = free_port(), free_port()
    proc = _start_serve("--http-port", str(http), "--dns-listen", f"127.0.0.1:{dnsp}",
                        "--no-emulate", scenario=str(path))  # fmt: skip
    try:
        lines = _read_until(proc, "refuses connections")
        text = "".join(lines)
        assert "Events (seconds after start, wall clock; --no-events" in text, text
        assert "     0.3 s  edge_down fra for 50 s\n" in text
        assert "    50.3 s  edge_up fra (end of edge_down at 0.3 s)\n" in text
        assert text.index("Ctrl-C stops everything") < text.index("refuses connections")
        fra = edge_addresses(load_scenario(str(path)))["fra"][0]
        assert f"edge_down fra for 50 s: {fra}:{http} refuses connections" in lines[-1]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
    assert proc.returncode == 0, err
    assert "cdn serve: stopped" in out and "edge_up" not in out
