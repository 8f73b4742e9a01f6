"""Random and mutated packets never crash or stall the DNS server."""

from __future__ import annotations

import contextlib
import random
import socket
import struct
import time

import dns.edns
import dns.exception
import dns.message
import dns.query
import pytest

from cdn.addressing import client_blocks, edge_address
from cdn.dns_server import DnsServer
from cdn.places import resolve_place
from tests.test_dns_server import LoopThread, _start
from tests.test_routing import make_scenario


@pytest.fixture(scope="module")
def fuzz_env(tmp_path_factory):
    lt = LoopThread()
    sc = make_scenario()
    server = _start(
        lt,
        sc,
        tmp_path_factory.mktemp("fuzz"),
        check_health=False,
        tcp_idle_timeout=0.5,
        max_tcp_connections=8,
    )
    yield sc, server
    lt.run(server.stop())
    lt.close()


def _seeds(sc) -> list[bytes]:
    tokyo = client_blocks(sc)[resolve_place("Tokyo")]
    out = []
    for name, t, opts in [
        ("www.cdn.test", "A", [dns.edns.ECSOption(str(tokyo[0].network_address), 24)]),
        ("www.cdn.test", "AAAA", [dns.edns.ECSOption(str(tokyo[1].network_address), 48)]),
        ("cdn.test", "SOA", []),
        ("nope.cdn.test", "A", [dns.edns.GenericOption(10, b"12345678")]),
        ("example.org", "ANY", []),
    ]:
        q = dns.message.make_query(name, t, use_edns=0 if opts else None, options=opts)
        out.append(q.to_wire())
    return out


def _mutate(rng: random.Random, seed: bytes) -> bytes:
    b = bytearray(seed)
    kind = rng.randrange(6)
    if kind == 0:  # flip bits
        for _ in range(rng.randint(1, 6)):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
    elif kind == 1:  # truncate
        b = b[: rng.randrange(len(b))]
    elif kind == 2:  # insert random bytes
        i = rng.randrange(len(b) + 1)
        b[i:i] = rng.randbytes(rng.randint(1, 8))
    elif kind == 3:  # random section counts
        b[4:12] = struct.pack("!HHHH", *(rng.choice([0, 1, 2, 255, 65535]) for _ in range(4)))
    elif kind == 4:  # overwrite a byte with a boundary value
        b[rng.randrange(len(b))] = rng.choice([0, 1, 0x3F, 0x40, 0xC0, 0xFF])
    else:  # splice two seeds
        i = rng.randrange(len(b))
        b = b[:i] + bytearray(seed[rng.randrange(len(seed)) :])
    return bytes(b)


def _packets(sc, n: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    seeds = _seeds(sc)
    out = []
    for i in range(n):
        if i % 3 == 0:
            out.append(rng.randbytes(rng.randrange(0, 120)))
        else:
            out.append(_mutate(rng, rng.choice(seeds)))
    return out


def test_the_full_path_never_raises_and_replies_are_well_formed(fuzz_env):
    sc, server = fuzz_env
    full = DnsServer(sc, server.locator, check_health=False, cache=False)
    replies = 0
    for pkt in _packets(sc, 20_000, seed=1):
        for udp in (True, False):
            res = full.resolve(pkt, "127.0.0.1", udp=udp)
            if res is None:
                assert len(pkt) < 12 or pkt[2] & 0x80  # runts and responses only
                continue
            rep = res[0]
            replies += 1
            assert rep[:2] == pkt[:2] and rep[2] & 0x80  # the ID, and QR set
            msg = dns.message.from_wire(rep, ignore_trailing=False)  # well-formed
            if udp:  # small queries get small answers
                assert len(rep) <= 1232 and (len(rep) <= 512 or msg.edns >= 0)
    assert replies > 10_000


def test_the_live_server_survives_and_still_answers_right(fuzz_env):
    sc, server = fuzz_env
    packets = _packets(sc, 4000, seed=2)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setblocking(False)
        for i, pkt in enumerate(packets):
            s.sendto(pkt, ("127.0.0.1", server.port))
            if i % 50 == 0:  # drain replies now and then so nothing backs up
                time.sleep(0.001)
                try:
                    while True:
                        s.recv(65535)
                except BlockingIOError:
                    pass
    # garbage over TCP: random frames, then frames that never complete
    for pkt in packets[:200]:
        with socket.create_connection(("127.0.0.1", server.port), timeout=2) as c:
            c.sendall(len(pkt).to_bytes(2, "big") + pkt)
            c.settimeout(2)
            with contextlib.suppress(TimeoutError, ConnectionError):
                c.recv(65535)
    idle = [socket.create_connection(("127.0.0.1", server.port), timeout=2) for _ in range(20)]
    for c in idle[:10]:
        c.sendall(b"\x01\x00\x12")  # announces 256 bytes, sends 1
    tokyo = client_blocks(sc)[resolve_place("Tokyo")][0]
    q = dns.message.make_query(
        "www.cdn.test",
        "A",
        use_edns=0,
        options=[dns.edns.ECSOption(str(tokyo.network_address), 24)],
    )
    want = [str(edge_address(sc, "nrt")[0])]
    # UDP is unaffected by the connection cap
    r = dns.query.udp(q, "127.0.0.1", port=server.port, timeout=3)
    assert [a.address for a in r.answer[0]] == want
    # the idle connections are cut after the idle timeout; TCP serves again
    deadline = time.monotonic() + 15
    while True:
        try:
            r = dns.query.tcp(q, "127.0.0.1", port=server.port, timeout=2)
            break
        except (EOFError, ConnectionError, OSError, dns.exception.Timeout):
            assert time.monotonic() < deadline, "TCP never recovered"
            time.sleep(0.1)
    assert [a.address for a in r.answer[0]] == want
    for c in idle:
        c.close()
    assert len(server._tcp_writers) <= server.max_tcp_connections
