"""The geo-aware DNS server, against real clients (dnspython, dig) on 127.0.0.1."""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from cdn.addressing import client_blocks, edge_address
from cdn.dns_metrics import start_metrics
from cdn.dns_server import DnsServer
from cdn.geoip import Locator, build_mmdb
from cdn.places import resolve_place
from cdn.routing import Router
from tests.conftest import free_port
from tests.test_routing import make_scenario

BIG_EDGES = [
    "FRA",
    "NRT",
    "JFK",
    "GRU",
    "SYD",
    "JNB",
    "SIN",
    "LAX",
    "AMS",
    "CDG",
    "LHR",
    "MAD",
    "ORD",
    "DFW",
    "MIA",
    "SEA",
    "YYZ",
    "HKG",
    "ICN",
    "BOM",
    "DXB",
]


class LoopThread:
    """An asyncio loop in a thread, so synchronous clients can talk to servers on it."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def lt():
    t = LoopThread()
    yield t
    t.close()


def _start(lt, sc, tmp, **kw) -> DnsServer:
    db = build_mmdb(sc, tmp / f"{id(sc)}.mmdb")
    places = [c.place for c in sc.clients]
    server = DnsServer(sc, Locator(db, places), **kw)
    lt.run(server.start("127.0.0.1", free_port()))
    return server


@pytest.fixture(scope="module")
def env(lt, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dns")
    sc = make_scenario(ttl=30)
    server = _start(lt, sc, tmp, check_health=False, ipv6=True)  # AAAA answered
    full = DnsServer(sc, server.locator, check_health=False, cache=False)  # the full path
    yield sc, server, full
    lt.run(server.stop())


@pytest.fixture(scope="module")
def big(lt, tmp_path_factory):
    sc = make_scenario(edges=BIG_EDGES, answers=20)
    server = _start(lt, sc, tmp_path_factory.mktemp("big"), check_health=False)
    yield sc, server
    lt.run(server.stop())


@pytest.fixture(scope="module")
def v4only(lt, tmp_path_factory):
    """Edges without working IPv6 (as under ``cdn serve``), and the same zone with it."""
    sc = make_scenario(ttl=45, hosts=("www", "@", "img.static"))
    server = _start(lt, sc, tmp_path_factory.mktemp("v4only"), check_health=False, ipv6=False)
    dual = DnsServer(sc, server.locator, check_health=False, cache=False, ipv6=True)
    yield sc, server, dual
    lt.run(server.stop())


V4ONLY_HOSTS = ("www.cdn.test", "cdn.test", "img.static.cdn.test")


def ask(server, qname, rdtype="A", *, tcp=False, ecs=None, source=None, **kw):
    opts = list(kw.pop("options", []))
    if ecs is not None:
        opts.append(dns.edns.ECSOption(*ecs))
    if opts and "use_edns" not in kw:
        kw["use_edns"] = 0
    q = dns.message.make_query(qname, rdtype, options=opts, **kw)
    fn = dns.query.tcp if tcp else dns.query.udp
    return fn(q, "127.0.0.1", port=server.port, timeout=3, source=source)


def addr(sc, name, v6=False):
    return str(edge_address(sc, name)[1 if v6 else 0])


def ecs_of(resp):
    found = [o for o in resp.options if o.otype == dns.edns.ECS]
    assert len(found) <= 1
    return found[0] if found else None


def block(sc, city, v6=False):
    return client_blocks(sc)[resolve_place(city)][1 if v6 else 0]


@pytest.mark.parametrize("tcp", [False, True])
def test_ecs_routed_answers_with_echo_and_scope(env, tcp):
    sc, server, _ = env
    tokyo = block(sc, "Tokyo")
    r = ask(server, "www.cdn.test", ecs=(str(tokyo.network_address), 24), tcp=tcp)
    assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA
    assert [a.address for a in r.answer[0]] == [addr(sc, "nrt")]
    assert r.answer[0].ttl == 30
    e = ecs_of(r)
    assert (e.address, e.srclen, e.scopelen) == (str(tokyo.network_address), 24, 24)
    # a shorter source prefix is echoed as sent, with the scope of the answer (the /24)
    r = ask(server, "www.cdn.test", ecs=("127.64.0.0", 20), tcp=tcp)
    e = ecs_of(r)
    assert (e.srclen, e.scopelen) == (20, 24)
    lagos = Router(sc).route(resolve_place("Lagos")).edges  # 127.64.0.0 is Lagos' block
    assert [a.address for a in r.answer[0]] == [addr(sc, e) for e in lagos]
    # IPv6 ECS and AAAA
    sp6 = block(sc, "São Paulo", v6=True)
    r = ask(server, "www.cdn.test", "AAAA", ecs=(str(sp6.network_address), 48), tcp=tcp)
    assert [a.address for a in r.answer[0]] == [addr(sc, "gru", v6=True)]
    assert ecs_of(r).scopelen == 48


def test_located_by_source_address_without_ecs_and_with_source_prefix_zero(env):
    sc, server, _ = env
    sydney_src = str(block(sc, "Sydney")[7])
    r = ask(server, "www.cdn.test", source=sydney_src)
    assert [a.address for a in r.answer[0]] == [addr(sc, "syd")]
    assert ecs_of(r) is None
    # SOURCE PREFIX-LENGTH 0: "do not use my address": located by the source, scope 0
    r = ask(server, "www.cdn.test", ecs=("0.0.0.0", 0), source=sydney_src)
    assert [a.address for a in r.answer[0]] == [addr(sc, "syd")]
    e = ecs_of(r)
    assert (e.srclen, e.scopelen) == (0, 0)
    # unlocated (plain loopback): the edge nearest the origin (IAD -> jfk)
    r = ask(server, "www.cdn.test")
    assert [a.address for a in r.answer[0]] == [addr(sc, "jfk")]


@pytest.mark.parametrize("tcp", [False, True])
def test_zone_rcodes_and_sections(env, tcp):
    sc, server, _ = env
    r = ask(server, "nothing.cdn.test", tcp=tcp)
    assert r.rcode() == dns.rcode.NXDOMAIN and r.flags & dns.flags.AA
    assert not r.answer and r.authority[0].rdtype == dns.rdatatype.SOA
    assert r.authority[0].name.to_text() == "cdn.test."
    r = ask(server, "www.cdn.test", "MX", tcp=tcp)  # NODATA
    assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA
    assert not r.answer and r.authority[0].rdtype == dns.rdatatype.SOA
    r = ask(server, "www.example.com", tcp=tcp)
    assert r.rcode() == dns.rcode.REFUSED and not r.flags & dns.flags.AA and not r.answer
    r = ask(server, "cdn.test", "SOA", tcp=tcp)
    soa = r.answer[0][0]
    assert r.flags & dns.flags.AA and soa.mname.to_text() == "ns1.cdn.test." and soa.minimum == 30
    r = ask(server, "cdn.test", "NS", tcp=tcp)
    assert r.answer[0][0].target.to_text() == "ns1.cdn.test."
    assert (
        r.additional[0].name.to_text() == "ns1.cdn.test."
        and r.additional[0][0].address == "127.0.0.1"
    )
    r = ask(server, "ns1.cdn.test", "A", tcp=tcp)
    assert r.answer[0][0].address == "127.0.0.1"
    r = ask(server, "www.cdn.test", "ANY", tcp=tcp)  # RFC 8482: one small record
    assert len(r.answer) == 1 and r.answer[0].rdtype == dns.rdatatype.HINFO
    assert r.answer[0][0].cpu == b"RFC8482"
    r = ask(server, "x.www.cdn.test", "A", tcp=tcp)
    assert r.rcode() == dns.rcode.NXDOMAIN
    r = ask(server, "www.cdn.test", "A", rdclass="CH", tcp=tcp)
    assert r.rcode() == dns.rcode.REFUSED


@pytest.mark.parametrize("tcp", [False, True])
def test_aaaa_is_nodata_when_the_edges_have_no_ipv6(v4only, tcp):
    sc, server, _ = v4only
    tokyo, tokyo6 = block(sc, "Tokyo"), block(sc, "Tokyo", v6=True)
    for name in V4ONLY_HOSTS:
        for ecs in (None, (str(tokyo.network_address), 24), (str(tokyo6.network_address), 48)):
            r = ask(server, name, "AAAA", ecs=ecs, tcp=tcp)
            assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA, (name, ecs)
            assert not r.flags & dns.flags.TC and not r.answer and not r.additional
            [soa] = r.authority  # the zone's SOA, with the negative TTL (RFC 2308)
            assert soa.rdtype == dns.rdatatype.SOA and soa.name.to_text() == "cdn.test."
            assert soa.ttl == 45 and soa[0].minimum == 45
            e = ecs_of(r)  # echoed as sent, scope 0: the answer is the same for everyone
            if ecs is None:
                assert e is None
            else:
                assert (e.address, e.srclen, e.scopelen) == (*ecs, 0)
        # A still routes by the client subnet
        r = ask(server, name, "A", ecs=(str(tokyo.network_address), 24), tcp=tcp)
        assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA
        assert [a.address for a in r.answer[0]] == [addr(sc, "nrt")] and r.answer[0].ttl == 45
        assert ecs_of(r).scopelen == 24


def _with_qtype(wire: bytes, qname: str, qtype: int) -> bytes:
    """The message with the type of its (uncompressed) question replaced."""
    at = 12 + len(dns.name.from_text(qname).to_wire())
    return wire[:at] + struct.pack("!H", qtype) + wire[at + 2 :]


def test_only_aaaa_for_host_names_changes_without_ipv6(v4only):
    """Every reply of the IPv4-only server is byte for byte the dual-stack server's,
    except AAAA for a host name: that is the zone's existing NODATA reply (what the
    name gets for MX), with the question's type as asked."""
    sc, server, dual = v4only
    tokyo = (str(block(sc, "Tokyo").network_address), 24)
    names = (*V4ONLY_HOSTS, "WwW.CDN.test", "ns1.cdn.test", "static.cdn.test", "no.cdn.test")
    nodata = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        s.bind(("127.0.0.1", 0))
        for name in (*names, "example.org"):
            for t in ("A", "AAAA", "MX", "ANY", "SOA", "NS"):
                for ecs in (None, tokyo, ("0.0.0.0", 0)):
                    opts = [dns.edns.ECSOption(*ecs)] if ecs else []
                    q = dns.message.make_query(name, t, use_edns=0 if ecs else None, options=opts)
                    wire = q.to_wire()
                    s.sendto(wire, ("127.0.0.1", server.port))
                    got = s.recv(65535)
                    if t == "AAAA" and name.lower() in V4ONLY_HOSTS:
                        mx = dual.resolve(_with_qtype(wire, name, 15), "127.0.0.1")[0]
                        want = _with_qtype(mx, name, 28)
                        nodata += 1
                    else:
                        want = dual.resolve(wire, "127.0.0.1")[0]
                    assert got == want, (name, t, ecs)
    assert nodata == 4 * 3


def test_case_is_echoed_as_asked(env):
    sc, server, _ = env
    r = ask(server, "WwW.CdN.TeSt", ecs=(str(block(sc, "Tokyo").network_address), 24))
    assert r.question[0].name.to_text() == "WwW.CdN.TeSt."
    assert r.answer[0].name.to_text() == "WwW.CdN.TeSt."
    assert [a.address for a in r.answer[0]] == [addr(sc, "nrt")]
    r = ask(server, "NoPe.CDN.test")
    assert r.question[0].name.to_text() == "NoPe.CDN.test." and r.rcode() == dns.rcode.NXDOMAIN


def test_header_bits_edns_rules(env):
    sc, server, _ = env
    q = dns.message.make_query(
        "www.cdn.test",
        "A",
        use_edns=0,
        want_dnssec=True,
        ednsflags=0x4000,  # an unknown EDNS flag
        options=[dns.edns.GenericOption(65001, b"hello")],  # an unknown option
    )
    q.flags |= dns.flags.CD | dns.flags.AD
    assert q.ednsflags == 0x4000 | dns.flags.DO
    r = dns.query.udp(q, "127.0.0.1", port=server.port, timeout=3)
    assert r.flags & dns.flags.RD  # copied
    for bit in (dns.flags.RA, dns.flags.TC, dns.flags.AD, dns.flags.CD):
        assert not r.flags & bit
    assert r.flags & dns.flags.AA
    assert r.ednsflags == dns.flags.DO  # DO copied, the unknown flag not echoed
    assert not r.options  # the unknown option is not echoed
    assert r.edns == 0 and r.payload == 1232
    q = dns.message.make_query("www.cdn.test", "A", use_edns=0)
    q.flags &= ~dns.flags.RD
    r = dns.query.udp(q, "127.0.0.1", port=server.port, timeout=3)
    assert not r.flags & dns.flags.RD and not r.ednsflags & dns.flags.DO
    # EDNS version 1: BADVERS, with an OPT of version 0, no records
    r = ask(server, "www.cdn.test", use_edns=1)
    assert r.rcode() == dns.rcode.BADVERS and r.edns == 0 and not r.answer
    # another opcode: NOTIMP with empty sections
    q = dns.message.make_query("www.cdn.test", "A")
    q.set_opcode(dns.opcode.NOTIFY)
    r = dns.query.udp(q, "127.0.0.1", port=server.port, timeout=3)
    assert r.rcode() == dns.rcode.NOTIMP and r.opcode() == dns.opcode.NOTIFY
    assert not (r.question or r.answer or r.authority or r.additional)


def _raw(server, packet: bytes, timeout: float = 2.0) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(packet, ("127.0.0.1", server.port))
        try:
            return s.recv(65535)
        except TimeoutError:
            return None


def _wire(qname: str, qtype: int = 1, qd: int = 1, flags: int = 0x0100, qid: int = 0xBEEF) -> bytes:
    name = b"".join(bytes([len(x)]) + x.encode() for x in qname.split(".")) + b"\x00"
    return struct.pack("!HHHHHH", qid, flags, qd, 0, 0, 0) + name + struct.pack("!HH", qtype, 1)


@pytest.mark.parametrize(
    "payload",
    [
        struct.pack("!HBB", 3, 24, 0) + b"\x7f\x40\x01",  # family 3
        struct.pack("!HBB", 1, 33, 0) + b"\x7f\x40\x01\x00\x00",  # prefix longer than 32
        struct.pack("!HBB", 2, 129, 0) + bytes(17),  # prefix longer than 128
        struct.pack("!HBB", 1, 23, 0) + b"\x7f\x40\x01",  # a bit beyond the prefix
        struct.pack("!HBB", 1, 24, 0) + b"\x7f\x40",  # address too short for /24
        struct.pack("!HBB", 1, 16, 0) + b"\x7f\x40\x01",  # address too long for /16
        b"\x00\x01",  # option shorter than its fixed part
    ],
)
def test_malformed_ecs_is_formerr(env, payload):
    sc, server, _ = env
    q = dns.message.make_query(
        "www.cdn.test", "A", use_edns=0, options=[dns.edns.GenericOption(8, payload)]
    )
    q.id = 4242
    r = dns.query.udp(q, "127.0.0.1", port=server.port, timeout=3)
    assert r.rcode() == dns.rcode.FORMERR and r.id == 4242 and not r.answer


def test_malformed_queries_get_formerr_with_their_id_and_nonqueries_nothing(env):
    sc, server, _ = env

    def opt(rdata: bytes) -> bytes:  # an OPT record (EDNS 1232) with raw option bytes
        return b"\x00" + struct.pack("!HHIH", 41, 1232, 0, len(rdata)) + rdata

    bad = [
        _wire("www.cdn.test", qd=2),  # two questions announced, one present
        _wire("www.cdn.test", qd=0)[:12],  # no question
        _wire("www.cdn.test")[:-3],  # truncated question
        _wire("www.cdn.test")[:12]
        + b"\x03www\xc0\x0c"
        + b"\x00\x01\x00\x01",  # pointer in question
        _wire("www.cdn.test") + b"garbage",  # trailing bytes
        _wire("www.cdn.test", qtype=41),  # a question for OPT
        _wire("www.cdn.test").replace(b"www", b"w\xffw"),  # not UTF-8: dnslib refuses it
        # cases dnslib's parser lets through, caught by the repack check:
        _wire("www.cdn.test")[:11]
        + b"\x01"
        + _wire("www.cdn.test")[12:]
        + opt(b"\x00\x08\x00\x00"),
        _wire("www.cdn.test")[:11] + b"\x01" + _wire("www.cdn.test")[12:] + opt(b"\x00\x08"),
    ]
    for pkt in bad:
        rep = _raw(server, pkt)
        assert rep is not None, pkt
        qid, flags = struct.unpack("!HH", rep[:4])
        assert qid == 0xBEEF and flags & 0x8000 and flags & 0xF == 1, pkt
    # a response and a runt get no reply at all (no reflection, no loops)
    assert _raw(server, _wire("www.cdn.test", flags=0x8400), timeout=0.5) is None
    assert _raw(server, b"\x12\x34\x01", timeout=0.5) is None


def test_tc_over_udp_then_tcp_retry(big):
    sc, server = big
    paris = str(block(sc, "Paris").network_address)
    q = dns.message.make_query(
        "www.cdn.test", "AAAA", use_edns=0, payload=512, options=[dns.edns.ECSOption(paris, 24)]
    )
    r = dns.query.udp(q, "127.0.0.1", port=server.port, timeout=3)
    assert r.flags & dns.flags.TC and not r.answer and r.flags & dns.flags.AA
    assert ecs_of(r).scopelen == 24  # the OPT stays, with its ECS
    r, used_tcp = dns.query.udp_with_fallback(q, "127.0.0.1", port=server.port, timeout=3)
    assert used_tcp and not r.flags & dns.flags.TC
    assert len(r.answer[0]) == 20 and r.answer[0][0].address == addr(sc, "cdg", v6=True)
    # without EDNS the limit is 512 bytes
    r = dns.query.udp(
        dns.message.make_query("www.cdn.test", "AAAA"), "127.0.0.1", port=server.port, timeout=3
    )
    assert r.flags & dns.flags.TC
    # a requester that offers 1232 bytes gets it all over UDP
    q = dns.message.make_query("www.cdn.test", "AAAA", use_edns=0, payload=1232)
    r = dns.query.udp(q, "127.0.0.1", port=server.port, timeout=3)
    assert not r.flags & dns.flags.TC and len(r.answer[0]) == 20


def test_no_amplification_for_small_queries(env, big):
    for server in (env[1], big[1]):
        for name, t in [
            ("www.cdn.test", 1),
            ("www.cdn.test", 28),
            ("cdn.test", 255),
            ("cdn.test", 2),
            ("x.cdn.test", 1),
        ]:
            rep = _raw(server, _wire(name, t))
            assert rep is not None and len(rep) <= 512


def test_every_cached_reply_is_the_full_path_reply(env):
    sc, server, full = env
    tokyo = block(sc, "Tokyo")
    queries = []
    for name in ("www.cdn.test", "WWW.cdn.TEST", "cdn.test", "nope.cdn.test", "a.example"):
        for t in ("A", "AAAA", "SOA", "NS", "MX", "ANY"):
            for ecs in (
                None,
                (str(tokyo.network_address), 24),
                ("127.64.0.0", 16),
                ("fd00:cd:3::", 48),
                ("0.0.0.0", 0),
            ):
                opts = [dns.edns.ECSOption(*ecs)] if ecs else []
                q = dns.message.make_query(name, t, use_edns=0 if ecs else None, options=opts)
                queries.append(q.to_wire())
    queries.append(dns.message.make_query("www.cdn.test", "A", use_edns=1).to_wire())
    queries.append(dns.message.make_query("www.cdn.test", "A", want_dnssec=True).to_wire())
    hits = server.cache_hits
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        s.bind(("127.0.0.1", 0))
        for wire in queries:
            replies = []
            for qid in (1, 2, 3):
                pkt = struct.pack("!H", qid) + wire[2:]
                s.sendto(pkt, ("127.0.0.1", server.port))
                replies.append(s.recv(65535))
                expect = full.resolve(pkt, "127.0.0.1", udp=True)[0]
                assert replies[-1] == expect
    assert server.cache_hits - hits >= 2 * len(queries)


def test_metrics_endpoint(lt, env):
    sc, server, _ = env
    ask(server, "www.cdn.test", ecs=(str(block(sc, "Tokyo").network_address), 24))
    port = free_port()
    runner = lt.run(start_metrics(server, "127.0.0.1", port))
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    finally:
        lt.run(runner.cleanup())
    assert 'cdn_dns_queries_total{transport="udp",qtype="A",rcode="NOERROR"}' in text
    assert 'cdn_dns_queries_total{transport="tcp",qtype="A",rcode="NXDOMAIN"}' in text
    assert 'cdn_dns_edge_up{edge="fra"} 1' in text
    nrt = [
        line for line in text.splitlines() if line.startswith('cdn_dns_answers_total{edge="nrt"}')
    ]
    assert int(nrt[0].split()[-1]) >= 1
    assert (
        float(next(x for x in text.splitlines() if x.startswith("cdn_dns_ecs_share ")).split()[1])
        > 0
    )


def _wait_for(cond, timeout=15.0, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return False


def test_health_transitions_with_real_endpoints(lt, tmp_path, caplog):
    from aiohttp import web

    sc = make_scenario(
        edges=("FRA", "JFK", "NRT"), health_interval=0.2, health_failures=2, health_successes=2
    )
    port = free_port()

    async def health(_request):
        return web.Response(text="ok")

    async def up(name):
        app = web.Application()
        app.router.add_get("/.well-known/cdn/health", health)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, addr(sc, name), port).start()
        return runner

    runners = {n: lt.run(up(n)) for n in ("fra", "jfk", "nrt")}
    caplog.set_level("WARNING", logger="cdn.health")
    server = _start(lt, sc, tmp_path, health_port=port)
    paris = (str(block(sc, "Paris").network_address), 24)

    def answer():
        return [a.address for a in ask(server, "www.cdn.test", ecs=paris).answer[0]]

    try:
        assert answer() == [addr(sc, "fra")]
        assert _wait_for(lambda: server._checker.rounds >= 2)
        assert server.down == frozenset()
        lt.run(runners.pop("fra").cleanup())  # the Frankfurt edge dies
        assert _wait_for(lambda: "fra" in server.down)
        assert answer() != [addr(sc, "fra")] and len(answer()) == 1
        assert "edge fra is DOWN after 2 failures" in caplog.text
        runners["fra"] = lt.run(up("fra"))  # and comes back
        assert _wait_for(lambda: "fra" not in server.down)
        assert answer() == [addr(sc, "fra")]
        assert "edge fra is UP after 2 successes" in caplog.text
        assert server.tracker.generation >= 2
    finally:
        lt.run(server.stop())
        for r in runners.values():
            lt.run(r.cleanup())


def _wait_dns(port: int, proc, timeout=60.0) -> None:
    q = dns.message.make_query("www.cdn.test", "A")

    def ok():
        assert proc.poll() is None, proc.communicate()[1]
        try:
            dns.query.udp(q, "127.0.0.1", port=port, timeout=0.3)
            return True
        except dns.exception.Timeout:
            return False

    assert _wait_for(ok, timeout)


@pytest.mark.parametrize("aaaa", [False, True])
def test_cli_and_dig(aaaa):
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cdn",
            "dns",
            "quickstart",
            "--listen",
            f"127.0.0.1:{port}",
            "--no-health",
            *(["--aaaa"] if aaaa else []),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        import dns.exception  # noqa: F401

        _wait_dns(port, proc)
        # Tokyo is client 10 of quickstart: 127.64.10.0/24, nearest PoP Singapore (127.0.1.3)
        q = dns.message.make_query(
            "www.cdn.test", "A", use_edns=0, options=[dns.edns.ECSOption("127.64.10.0", 24)]
        )
        r = dns.query.tcp(q, "127.0.0.1", port=port, timeout=3)
        assert [a.address for a in r.answer[0]] == ["127.0.1.3"]
        # AAAA: `cdn edge` cannot listen on fd00:cd::1:N (on no interface), so by
        # default NODATA; with --aaaa the plan's address
        q = dns.message.make_query(
            "www.cdn.test", "AAAA", use_edns=0, options=[dns.edns.ECSOption("127.64.10.0", 24)]
        )
        for r in (dns.query.udp(q, "127.0.0.1", port=port, timeout=3),
                  dns.query.tcp(q, "127.0.0.1", port=port, timeout=3)):  # fmt: skip
            assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA
            if aaaa:
                assert [a.address for a in r.answer[0]] == ["fd00:cd::1:3"] and not r.authority
            else:
                assert not r.answer and r.authority[0].rdtype == dns.rdatatype.SOA
                assert ecs_of(r).scopelen == 0
        if shutil.which("dig") and not aaaa:
            out = subprocess.run(
                [
                    "dig",
                    "@127.0.0.1",
                    "-p",
                    str(port),
                    "+short",
                    "+subnet=127.64.10.0/24",
                    "www.cdn.test",
                ],
                capture_output=True,
                text=True,
                timeout=20,
            ).stdout
            assert out.split() == ["127.0.1.3"]
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_cli_stops_cleanly_on_sigint_and_sigterm(sig):
    # Without the handlers SIGINT ends in a KeyboardInterrupt traceback and
    # SIGTERM in returncode -15; with them both close the sockets and exit 0.
    port = free_port()
    cmd = [sys.executable, "-m", "cdn", "dns", "quickstart", "--no-health"]
    proc = subprocess.Popen(
        [*cmd, "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().startswith("cdn dns: cdn.test on 127.0.0.1:")
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0 and "Traceback" not in err, err


@pytest.mark.skipif(not shutil.which("dig"), reason="dig is not installed")
def test_dig_sees_aa_and_the_client_subnet(env):
    sc, server, _ = env
    out = subprocess.run(
        [
            "dig",
            "@127.0.0.1",
            "-p",
            str(server.port),
            f"+subnet={block(sc, 'Tokyo')}",
            "www.cdn.test",
            "AAAA",
        ],
        capture_output=True,
        text=True,
        timeout=20,
    ).stdout
    assert "status: NOERROR" in out and " aa" in out
    assert f"CLIENT-SUBNET: {block(sc, 'Tokyo')}/24" in out
    assert addr(sc, "nrt", v6=True) in out


def test_cli_rejects_bad_arguments(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "cdn", "dns", "quickstart", "--listen", "localhost"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and "ADDR:PORT" in r.stderr
    missing = tmp_path / "nope.mmdb"
    r = subprocess.run(
        [sys.executable, "-m", "cdn", "dns", "quickstart", "--geoip-db", str(missing)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and f"--geoip-db {missing}: no such file" in r.stderr


def test_hashing_policy_scope_is_the_client_key_prefix(lt, tmp_path):
    sc = make_scenario(policy="consistent", slack_ms=10_000, answers=2)
    server = _start(lt, sc, tmp_path, check_health=False)
    router = Router(sc)
    try:
        for city in ("Tokyo", "Paris", "Seattle"):
            v4, v6 = block(sc, city), block(sc, city, v6=True)
            r = ask(server, "www.cdn.test", ecs=(str(v4.network_address), 24))
            want = router.route(resolve_place(city), v4.network_address.packed).edges
            assert [a.address for a in r.answer[0]] == [addr(sc, e) for e in want]
            assert ecs_of(r).scopelen == 24
            r = ask(server, "www.cdn.test", "AAAA", ecs=(str(v6.network_address), 56))
            want = router.route(resolve_place(city), v6.network_address.packed).edges
            assert [a.address for a in r.answer[0]] == [addr(sc, e, v6=True) for e in want]
            assert (ecs_of(r).srclen, ecs_of(r).scopelen) == (56, 48)
    finally:
        lt.run(server.stop())
