"""The geo-aware authoritative DNS server (UDP and TCP on one port).

Theory of operation
-------------------
The server is authoritative for one zone (``dns.zone``). For the CDN host
names it answers A with the edges the routing core picks for the client, and
AAAA the same way only when the edges really listen on their IPv6 plan
addresses (``ipv6=True``): otherwise AAAA for a host name is NODATA, as gdnsd
or PowerDNS answer a name without an address of that type, because a client
that prefers IPv6 would try an address nothing listens on first. Everything
else in the zone is static (SOA and NS at the apex, an A glue for ``ns1``),
and names outside the zone are REFUSED.

A query goes through one function, :meth:`DnsServer.resolve`, which turns the
query bytes, the source address and the transport's size limit into the reply
bytes. It reads the 4-byte start of the header by hand (to drop responses and
runts and answer other opcodes with NOTIMP), parses the rest with
``dnslib.DNSRecord.parse`` and builds the reply as a ``dnslib.DNSRecord``.
Parsing is strict: any exception from dnslib is FORMERR (so are names that
are not UTF-8, which dnslib refuses), and on top of dnslib: exactly one
question, no answer or authority records, at most one OPT owned by the root,
a well-formed ECS option (its payload is parsed here: dnslib hands over the
raw bytes), and each record packed alone and uncompressed must give back the
packet exactly (this rejects compression in the question, truncated EDNS
options and trailing bytes, which dnslib skips). Every malformed packet gets
FORMERR or silence, never an exception. dnslib is slow (about 11,000 parses
a second), which is why the caches below carry the load.

The reply is a deterministic function of (the query bytes after the ID, the
source address when the answer used it, the health generation). So the server
keeps two caches of wire replies without their ID: one keyed by the query
bytes alone (answers that did not look at the source: ECS-routed answers,
static records, errors) and one keyed by (query bytes, source address). A hit
costs two dict lookups and patching in the ID; a health change flushes both.
Because the key is the query itself, a cached reply is byte-for-byte the reply
the full path gives (the case of the name as asked, RD, DO, the payload size
and the ECS block are all part of the key).

Rules this file follows (RFC 1035, 6891, 7871, 8482, and DESIGN.md):
- AA on every answer from the zone (including NXDOMAIN and NODATA, which carry
  the SOA in the authority section, its TTL the negative TTL of RFC 2308:
  the SOA minimum, which is the zone's TTL); RD copied; Z, AD, CD, RA clear; TC only
  when truncating; the question echoed as asked.
- EDNS: version > 0 gets BADVERS with an OPT of version 0; unknown options and
  flags are ignored and never echoed; DO is copied; the requester's UDP size
  is honoured (at least 512); a reply that does not fit keeps its question and
  OPT, drops its records and sets TC so the client retries over TCP.
- ECS: the client is located by the ECS address when the option is present
  with a non-zero source prefix, else by the packet's source address. The
  option is echoed (family, source prefix and address as sent) with the scope
  the answer holds for: the wider of the GeoIP network's prefix and the
  prefix of the client key the routing policy hashed; 0 for answers that do
  not depend on the client at all and for SOURCE PREFIX-LENGTH 0.
- An unknown opcode gets NOTIMP with empty sections; a response (QR set) or a
  packet shorter than a header gets no reply at all (no reflection loops).
- ANY is answered minimally (RFC 8482): one HINFO "RFC8482" record.
- Unlocated clients get the router's fallback order (``dns.fallback``, then
  the edge nearest the origin).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import struct
from collections.abc import Mapping
from dataclasses import dataclass

from dnslib import AAAA, NS, RD, RR, SOA, A, DNSBuffer, DNSHeader, DNSLabel, DNSRecord, EDNSOption

from cdn.addressing import NS_ADDRESS_V4, edge_addresses
from cdn.health import (
    DEFAULT_HEALTH_PORT,
    HEALTH_PATH,
    HealthChecker,
    HealthTracker,
    Transition,
)
from cdn.routing import KEY_PREFIX_V4, KEY_PREFIX_V6, Router
from cdn.scenario import Scenario

log = logging.getLogger("cdn.dns")
qlog = logging.getLogger("cdn.dns.query")

# RR types and classes
T_A, T_NS, T_SOA, T_HINFO, T_AAAA, T_OPT, T_IXFR, T_AXFR, T_ANY = 1, 2, 6, 13, 28, 41, 251, 252, 255
C_IN = 1
# rcodes
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED, BADVERS = 0, 1, 2, 3, 4, 5, 16
OPT_ECS = 8
EDNS_PAYLOAD = 1232  # what we advertise (the DNS flag day 2020 size)
MIN_UDP = 512
MAX_TCP = 65535
DO_BIT = 0x8000


class FormErr(Exception):
    """The query is malformed; the message says how (for the query log)."""


@dataclass(frozen=True)
class Ecs:
    family: int
    source: int
    address: bytes  # as sent (ceil(source / 8) bytes)

    def ip(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        size = 4 if self.family == 1 else 16
        raw = self.address + b"\x00" * (size - len(self.address))
        return ipaddress.ip_address(raw)

    def option(self, scope: int) -> EDNSOption:
        return EDNSOption(
            OPT_ECS, struct.pack("!HBB", self.family, self.source, scope) + self.address
        )


@dataclass(frozen=True)
class Query:
    record: DNSRecord  # as dnslib parsed it (the question keeps the case as asked)
    labels: tuple[bytes, ...]  # lowercased
    qtype: int
    qclass: int
    edns: bool
    payload: int
    version: int
    do: bool
    ecs: Ecs | None


def _parse_ecs(data: bytes) -> Ecs:
    if len(data) < 4:
        raise FormErr("ECS option shorter than 4 bytes")
    family, source, _scope = struct.unpack_from("!HBB", data)
    if family not in (1, 2):
        raise FormErr(f"ECS family {family} (allowed: 1 IPv4, 2 IPv6)")
    bits = 32 if family == 1 else 128
    if source > bits:
        raise FormErr(f"ECS source prefix /{source} longer than {bits} bits")
    addr = data[4:]
    if len(addr) != (source + 7) // 8:
        raise FormErr(f"ECS address of {len(addr)} bytes for a /{source} prefix")
    if source % 8 and addr[-1] & (0xFF >> (source % 8)):
        raise FormErr("ECS address has bits set beyond the source prefix")
    return Ecs(family, source, addr)


def parse_query(data: bytes) -> Query:
    """Parse a query with dnslib, then hold it to the rules dnslib does not
    check; raise :class:`FormErr` when it is malformed (the caller has checked
    there is a 12-byte header)."""
    try:
        rec = DNSRecord.parse(data)
        # dnslib stops where the records end, follows pointers anywhere and
        # skips a short trailing option: packing every record alone, without
        # compression, must give back the packet exactly
        buf = DNSBuffer(data[:12])
        for rr in (*rec.questions, *rec.ar):
            one = DNSBuffer()
            rr.pack(one)
            buf.append(one.data)
    except Exception as exc:  # dnslib raises DNSError and others on garbage
        raise FormErr(f"unparseable: {exc}") from None
    h = rec.header
    if h.q != 1:
        raise FormErr(f"{h.q} questions (exactly 1 allowed)")
    if h.a or h.auth:
        raise FormErr("a query with answer or authority records")
    if bytes(buf.data) != data:
        raise FormErr("compression in the question, a bad option or bytes after the records")
    q = rec.q
    edns = False
    payload, version, do, ecs = MIN_UDP, 0, False, None
    for rr in rec.ar:
        if rr.rtype != T_OPT:
            continue
        if edns:
            raise FormErr("more than one OPT record")
        if rr.rname.label:
            raise FormErr("OPT record not owned by the root")
        edns = True
        payload = max(MIN_UDP, rr.rclass)
        version = (rr.ttl >> 16) & 0xFF
        do = bool(rr.ttl & DO_BIT)
        for opt in rr.rdata:
            if opt.code == OPT_ECS:
                if ecs is not None:
                    raise FormErr("more than one ECS option")
                ecs = _parse_ecs(opt.data)
    labels = tuple(x.lower() for x in q.qname.label)
    return Query(rec, labels, q.qtype, q.qclass, edns, payload, version, do, ecs)


@dataclass
class _Zone:
    """The static part of the zone, as dnslib records."""

    apex: tuple[bytes, ...]
    ns: tuple[bytes, ...]
    hosts: frozenset[tuple[bytes, ...]]
    empty_nonterminals: frozenset[tuple[bytes, ...]]
    ttl: int
    soa: RR
    ns_rr: RR
    glue: RR


def _build_zone(zone: str, hosts: tuple[str, ...], ttl: float, ns_address) -> _Zone:
    apex = tuple(x.encode("idna").lower() for x in zone.strip(".").split(".") if x)
    ns = (b"ns1", *apex)
    hostset = set()
    for h in hosts:
        h = h.strip(".")
        rel = (
            tuple(x.encode("idna").lower() for x in h.split(".") if x) if h not in ("", "@") else ()
        )
        hostset.add(rel + apex)
    ents = set()
    for h in (*hostset, ns):
        for i in range(1, len(h) - len(apex)):
            ents.add(h[i:])
    ttl_i = max(0, int(ttl))
    soa = SOA(DNSLabel(ns), DNSLabel((b"hostmaster", *apex)), (1, 3600, 600, 86400, ttl_i))
    return _Zone(
        apex=apex,
        ns=ns,
        hosts=frozenset(hostset),
        empty_nonterminals=frozenset(ents - hostset - {ns}),
        ttl=ttl_i,
        soa=RR(DNSLabel(apex), T_SOA, C_IN, ttl_i, soa),
        ns_rr=RR(DNSLabel(apex), T_NS, C_IN, ttl_i, NS(DNSLabel(ns))),
        glue=RR(DNSLabel(ns), T_A, C_IN, ttl_i, A(str(ipaddress.IPv4Address(ns_address)))),
    )


_HINFO_RFC8482 = RD(bytes([7]) + b"RFC8482" + bytes([0]))  # dnslib has no HINFO class


def _header(qid: int, rd: int, rcode: int, *, opcode: int = 0, aa: bool = False) -> DNSHeader:
    return DNSHeader(id=qid, bitmap=0, qr=1, opcode=opcode, aa=int(aa), rd=rd, rcode=rcode & 0xF)


class DnsServer:
    """Serve the scenario's zone: ``await start(host, port)`` / ``await stop()``.

    ``locator`` (a :class:`cdn.geoip.Locator`, or None: every client unlocated)
    places clients; ``router`` defaults to ``Router(scenario)``. Health checks
    run when ``check_health`` (URLs ``http://<edge v4>:<health_port>`` +
    ``/.well-known/cdn/health`` unless ``health_urls`` is given).
    ``ipv6`` says whether the edges listen on their IPv6 plan addresses
    (``fd00:cd::1:N``, :mod:`cdn.addressing`): when False, AAAA for a host
    name is NODATA (NOERROR, no answer, the SOA in authority) instead of an
    address nothing listens on. ``cdn serve`` and ``cdn dns`` pass False
    unless told otherwise; the default True keeps the plan's answers.
    """

    def __init__(
        self,
        scenario: Scenario,
        locator=None,
        *,
        router: Router | None = None,
        check_health: bool = True,
        health_port: int = DEFAULT_HEALTH_PORT,
        health_urls: Mapping[str, str] | None = None,
        health_interval: float | None = None,
        ns_address: str = str(NS_ADDRESS_V4),
        ipv6: bool = True,
        query_log: bool = False,
        cache: bool = True,
        cache_size: int = 200_000,
        tcp_idle_timeout: float = 10.0,
        max_tcp_connections: int = 128,
    ):
        self.scenario = scenario
        self.locator = locator
        self.router = router or Router(scenario)
        dns = scenario.dns
        self.zone = _build_zone(dns.zone, dns.hosts, dns.ttl, ns_address)
        self.use_ecs = dns.ecs
        self.ipv6 = ipv6
        self.addresses = {n: (a.packed, b.packed) for n, (a, b) in edge_addresses(scenario).items()}
        missing = [n for n in self.router.names if n not in self.addresses]
        if missing:
            raise ValueError(f"router edges without addresses: {missing}")
        self.tracker = HealthTracker(self.router.names, dns.health_failures, dns.health_successes)
        self.down: frozenset[str] = frozenset()
        self.check_health = check_health
        if health_urls is None:
            health_urls = {
                n: f"http://{ipaddress.IPv4Address(a[0])}:{health_port}{HEALTH_PATH}"
                for n, a in self.addresses.items()
                if n in self.router.names
            }
        self.health_urls = dict(health_urls)
        self.health_interval = health_interval if health_interval else dns.health_interval
        self.query_log = query_log
        self.use_cache = cache
        self.cache_size = cache_size
        self.tcp_idle_timeout = tcp_idle_timeout
        self.max_tcp_connections = max_tcp_connections
        # caches: query bytes after the ID [, source] -> (reply after the ID, stat slot)
        self._udp_q: dict[bytes, tuple] = {}
        self._udp_s: dict[tuple[bytes, str], tuple] = {}
        self._tcp_q: dict[bytes, tuple] = {}
        self._tcp_s: dict[tuple[bytes, str], tuple] = {}
        # counters: a stat key (transport, qtype, rcode, ECS used, edges) gets a
        # small id on a miss; the hot path bumps a list slot (no tuple hashing)
        self._stat_ids: dict[tuple, int] = {}
        self._stat_keys: list[tuple] = []
        self._counts: list[int] = []
        self.misses = 0  # replies computed by the full path
        self.dropped = 0
        self._udp_transport = None
        self._tcp_server = None
        self._tcp_writers: set = set()
        self._checker: HealthChecker | None = None
        self.host: str | None = None
        self.port: int | None = None

    # -- health --------------------------------------------------------------
    def set_down(self, down: frozenset[str]) -> None:
        """Adopt a new set of down edges and flush every cached answer."""
        self.down = frozenset(down)
        self.flush()

    def flush(self) -> None:
        for c in (self._udp_q, self._udp_s, self._tcp_q, self._tcp_s):
            c.clear()

    def _health_changed(self, t: Transition) -> None:
        self.set_down(self.tracker.down)
        if self.down >= set(self.router.names):
            log.warning("every edge is down: answering with all of them (all down = all up)")

    # -- the full path ---------------------------------------------------------
    def resolve(
        self, data: bytes, source: str, udp: bool = True
    ) -> tuple[bytes, bool, bool, tuple] | None:
        """Reply to one packet: ``(reply, used_source, cacheable, stat_key)``, or
        None for no reply. Over UDP a reply fits 512 bytes, or with EDNS the
        smaller of the requester's size and 1232; over TCP 65535."""
        if len(data) < 12:
            return None
        qid, flags = struct.unpack_from("!HH", data)
        if flags & 0x8000:  # a response: never answer (no loops, no reflection)
            return None
        opcode = (flags >> 11) & 0xF
        rd = (flags >> 8) & 1
        if opcode != 0:
            hdr = bytes(DNSRecord(_header(qid, rd, NOTIMP, opcode=opcode)).pack())
            return hdr, False, False, (None, NOTIMP, False, ())
        try:
            q = parse_query(data)
        except FormErr as exc:
            return self._formerr(qid, rd, str(exc))
        return self._answer(q, qid, rd, source, udp)

    def _formerr(self, qid: int, rd: int, why: str):
        # Echo nothing we could not parse: header only.
        if self.query_log:
            qlog.info("FORMERR id=%d: %s", qid, why)
        return (
            bytes(DNSRecord(_header(qid, rd, FORMERR)).pack()),
            False,
            False,
            (None, FORMERR, False, ()),
        )

    def _answer(self, q: Query, qid: int, rd: int, source: str, udp: bool):
        z = self.zone
        qt = q.qtype
        rep = DNSRecord(_header(qid, rd, REFUSED), q=q.record.q)
        if q.edns and q.version != 0:
            rep.header.rcode = 0  # BADVERS lives in the OPT's extended rcode
            return self._pack(q, rep, BADVERS, udp), False, True, (qt, BADVERS, False, ())
        ecs = q.ecs if self.use_ecs else None
        labels = q.labels
        in_zone = len(labels) >= len(z.apex) and labels[len(labels) - len(z.apex) :] == z.apex
        if q.qclass != C_IN or not in_zone or qt in (T_AXFR, T_IXFR):
            return self._pack(q, rep, REFUSED, udp), False, True, (qt, REFUSED, False, ())
        if qt == T_OPT:
            return self._formerr(qid, rd, "query for type OPT")
        rep.header.aa = 1
        rep.header.rcode = rcode = NOERROR
        qname = q.record.q.qname  # as asked
        scope = 0
        used_source = False
        edges: tuple[str, ...] = ()
        ttl = z.ttl
        if qt == T_ANY and (labels == z.apex or labels == z.ns or labels in z.hosts):
            rep.add_answer(RR(qname, T_HINFO, C_IN, ttl, _HINFO_RFC8482))
        elif labels in z.hosts and (qt == T_A or (qt == T_AAAA and self.ipv6)):
            edges, scope, used_source = self._route(ecs, source)
            fam, cls = (0, A) if qt == T_A else (1, AAAA)
            for e in edges:
                rep.add_answer(RR(qname, qt, C_IN, ttl, cls(tuple(self.addresses[e][fam]))))
        elif labels == z.apex and qt == T_SOA:
            rep.add_answer(RR(qname, T_SOA, C_IN, ttl, z.soa.rdata))
        elif labels == z.apex and qt == T_NS:
            rep.add_answer(RR(qname, T_NS, C_IN, ttl, z.ns_rr.rdata))
            rep.add_ar(z.glue)
        elif labels == z.ns and qt == T_A:
            rep.add_answer(RR(qname, T_A, C_IN, ttl, z.glue.rdata))
        elif (
            labels == z.apex
            or labels == z.ns
            or labels in z.hosts
            or labels in z.empty_nonterminals
        ):
            rep.add_auth(z.soa)  # NODATA (also AAAA for a host name without ipv6)
        else:
            rep.header.rcode = rcode = NXDOMAIN
            rep.add_auth(z.soa)
        opts = [ecs.option(scope)] if ecs is not None else []
        out = self._pack(q, rep, rcode, udp, opts)
        return out, used_source, True, (qt, rcode, ecs is not None and ecs.source > 0, edges)

    def _route(self, ecs: Ecs | None, source: str):
        """Locate the client and route: (edges, ECS scope, used the source address)."""
        if ecs is not None and ecs.source > 0:
            ip = ecs.ip()
            used_source = False
        else:
            ip = ipaddress.ip_address(source.split("%", 1)[0])
            used_source = True
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if self.locator is not None:
            loc = self.locator.lookup(ip)
            place, geo_prefix = loc.place, loc.prefix_len
        else:
            place, geo_prefix = None, 0
        kp = KEY_PREFIX_V4 if ip.version == 4 else KEY_PREFIX_V6
        key = ipaddress.ip_network(f"{ip}/{kp}", strict=False).network_address.packed
        ans = self.router.route(place, key, self.down)
        key_scope = ans.scope_v4 if ip.version == 4 else ans.scope_v6
        scope = max(geo_prefix, key_scope)
        if ecs is not None:
            if ecs.source == 0:
                scope = 0
            elif ecs.family == 2 and ip.version == 4:  # an IPv4-mapped ECS address
                scope += 96
        return ans.edges, scope, used_source

    def _pack(self, q: Query, rep: DNSRecord, rcode: int, udp: bool, opts=()) -> bytes:
        if q.edns:  # our OPT: version 0, DO copied, no unknown flags or options
            ttl = ((rcode >> 4) << 24) | (DO_BIT if q.do else 0)
            rep.add_ar(RR(DNSLabel(()), T_OPT, EDNS_PAYLOAD, ttl, list(opts)))
        out = rep.pack()
        # UDP: the smaller of the requester's size and ours (no fragments); 512 without EDNS
        size = min(q.payload, EDNS_PAYLOAD) if udp else MAX_TCP
        if len(out) > size:  # keep the question and OPT, set TC: retry over TCP
            rep.header.tc = 1
            rep.rr, rep.auth = [], []
            rep.ar = [rr for rr in rep.ar if rr.rtype == T_OPT]
            out = rep.pack()
        return bytes(out)

    # -- the hot path ------------------------------------------------------------
    def _miss(self, data: bytes, source: str, udp: bool):
        try:
            res = self.resolve(data, source, udp)
        except Exception:  # a bug must cost one query, never the server
            log.exception("internal error answering a query from %s", source)
            return None
        if res is None:
            self.dropped += 1
            return None
        reply, used_source, cacheable, stat = res
        self.misses += 1
        key = ("udp" if udp else "tcp", *stat)
        sid = self._stat_ids.get(key)
        if sid is None:
            sid = self._stat_ids[key] = len(self._stat_keys)
            self._stat_keys.append(key)
            self._counts.append(0)
        entry = (reply[2:], sid)
        if cacheable and self.use_cache:
            tail = data[2:]
            if used_source:
                cache, key = (self._udp_s if udp else self._tcp_s), (tail, source)
            else:
                cache, key = (self._udp_q if udp else self._tcp_q), tail
            if len(cache) >= self.cache_size:
                del cache[next(iter(cache))]
            cache[key] = entry
        return entry

    def _log(self, data: bytes, source: str, entry) -> None:
        from dnslib import QTYPE, RCODE

        transport, qt, rc, _ecs, edges = self._stat_keys[entry[1]]
        try:
            q = parse_query(data)
            name = b".".join(q.labels).decode("ascii", "replace") + "."
            subnet = f"{q.ecs.ip()}/{q.ecs.source}" if q.ecs else "-"
        except FormErr:
            name, subnet = "?", "-"
        qlog.info(
            "%s %s %s %s %s ecs=%s edges=%s",
            transport,
            source,
            name,
            QTYPE.get(qt, qt) if isinstance(qt, int) else "-",
            "BADVERS" if rc == BADVERS else RCODE.get(rc, rc),
            subnet,
            ",".join(edges) or "-",
        )

    # -- sockets -----------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 5353) -> None:
        loop = asyncio.get_running_loop()
        self._udp_transport, _ = await loop.create_datagram_endpoint(
            lambda: _UdpProtocol(self), local_addr=(host, port)
        )
        sock = self._udp_transport.get_extra_info("socket")
        with contextlib.suppress(OSError):  # absorb bursts instead of dropping them
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        port = self._udp_transport.get_extra_info("sockname")[1]
        try:
            self._tcp_server = await asyncio.start_server(
                self._tcp_client, host, port, reuse_address=True
            )
        except OSError:
            self._udp_transport.close()
            raise
        self.host, self.port = host, port
        if self.check_health and self.health_urls:
            self._checker = HealthChecker(
                self.tracker, self.health_urls, self.health_interval, self._health_changed
            )
            await self._checker.start()
        log.info("DNS for %s on %s port %d (UDP and TCP)", self.scenario.dns.zone, host, port)

    async def stop(self) -> None:
        if self._checker is not None:
            await self._checker.stop()
            self._checker = None
        if self._udp_transport is not None:
            self._udp_transport.close()
            self._udp_transport = None
        if self._tcp_server is not None:
            self._tcp_server.close()
            for w in list(self._tcp_writers):
                w.close()
            await self._tcp_server.wait_closed()
            self._tcp_server = None

    async def _tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        if len(self._tcp_writers) >= self.max_tcp_connections:
            writer.close()
            return
        self._tcp_writers.add(writer)
        peer = writer.get_extra_info("peername")
        source = peer[0] if peer else "0.0.0.0"
        try:
            while True:
                head = await asyncio.wait_for(reader.readexactly(2), self.tcp_idle_timeout)
                n = int.from_bytes(head, "big")
                data = await asyncio.wait_for(reader.readexactly(n), self.tcp_idle_timeout)
                tail = data[2:]
                entry = self._tcp_q.get(tail) or self._tcp_s.get((tail, source))
                if entry is None:
                    entry = self._miss(data, source, False)
                    if entry is None:
                        break  # garbage on a stream: close it
                self._count(entry)
                if self.query_log:
                    self._log(data, source, entry)
                reply = data[:2] + entry[0]
                writer.write(len(reply).to_bytes(2, "big") + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError, OSError):
            pass
        finally:
            self._tcp_writers.discard(writer)
            writer.close()

    @property
    def cache_hits(self) -> int:
        """Replies served from the answer cache."""
        return sum(self._counts) - self.misses

    @property
    def stats(self) -> dict[tuple, int]:
        """(transport, qtype, rcode, ECS used, edges) -> replies sent."""
        return dict(zip(self._stat_keys, list(self._counts), strict=False))

    def _count(self, entry) -> None:
        self._counts[entry[1]] += 1


class _UdpProtocol(asyncio.DatagramProtocol):
    """The hot path: two dict lookups, patch the ID, send, bump one counter."""

    def __init__(self, server: DnsServer):
        self.server = server
        self.transport = None
        # the caches are flushed with clear(), never replaced: safe to bind
        self._q = server._udp_q
        self._s = server._udp_s
        self._counts = server._counts
        self._sendto = None

    def connection_made(self, transport):
        self.transport = transport
        self._sendto = transport.sendto

    def datagram_received(self, data: bytes, addr) -> None:
        tail = data[2:]
        entry = self._q.get(tail)
        if entry is None:
            entry = self._s.get((tail, addr[0]))
            if entry is None:
                entry = self.server._miss(data, addr[0], True)
                if entry is None:
                    return
        self._sendto(data[:2] + entry[0], addr)
        self._counts[entry[1]] += 1
        if self.server.query_log:
            self.server._log(data, addr[0], entry)

    def error_received(self, exc) -> None:  # ICMP errors from earlier sends: ignore
        pass
