"""Live clients: ``cdn fetch`` (one request) and ``cdn load --live`` (a workload replay).

Theory of operation
-------------------
A live client stands where a scenario's client would: it binds its sockets to
an address of its place's block (:mod:`cdn.addressing`; any 127.x.y.z is
bindable on Linux loopback without root), asks our DNS server for the CDN host
name (with the block as EDNS Client Subnet), and fetches from the edge the
answer names, over a tiny HTTP/1.1 client (:class:`Connection`) whose
connections it opens and reuses itself, so that "new connection" and "reused
connection" mean exactly what the simulator means by them.

``cdn load`` replays the simulator's own request stream (:class:`cdn.simulate.
Simulation`, same generator, same seed; never a second generator). For each
request, in order, a replay worker:

1. asks the simulator's DNS cache model (:class:`cdn.dnscache.DnsModel`, the
   pure core) at the request's *live* send time whether the client's cache
   answers (level 0), the resolver's cache (1) or the authoritative (2). On
   levels 1 and 2 it sends a real query to our DNS server, as the authoritative
   would see it (the client's block as ECS, or the resolver site's block as the
   source when the resolver sends no ECS), and sleeps the modelled client ->
   resolver round trip (plus resolver -> authoritative on level 2): the live
   stack has no recursive resolver, so the client plays its path;
2. takes an idle connection to that edge from its source address when the
   request is marked reused (opening and warming one with an untimed health
   request when none is idle), or opens a new one; the edge then adds the
   handshake round trips itself (:mod:`cdn.emulation`);
3. times DNS + request + body, and reads the edge's ``Cache-Status``.

The prediction is the simulator run on the same requests with their times
replaced by the live send times (so TTLs and freshness expire at the same
moments in both), without events. Hit ratio counts hit, stale and collapsed,
as the simulator does.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import time
from dataclasses import dataclass, field, replace

import numpy as np

from cdn.addressing import client_address, client_block, edge_addresses, located_places
from cdn.errors import UserError
from cdn.places import Place
from cdn.scenario import Scenario

HEALTH_PATH = "/.well-known/cdn/health"
MAX_HEADER_BYTES = 64 * 1024


# --- DNS --------------------------------------------------------------------------------


async def resolve(
    name: str,
    server: tuple[str, int],
    source: str,
    ecs: ipaddress.IPv4Network | None,
    timeout: float = 2.0,
) -> list[str]:
    """A records for ``name`` from our DNS server, asked from ``source`` with ``ecs``."""
    import dns.asyncquery
    import dns.edns
    import dns.exception
    import dns.message
    import dns.rcode
    import dns.rdatatype

    options = [dns.edns.ECSOption(str(ecs.network_address), ecs.prefixlen)] if ecs else []
    q = dns.message.make_query(name, "A", use_edns=0, options=options)
    try:
        resp = await dns.asyncquery.udp(q, server[0], timeout, port=server[1], source=source)
    except (dns.exception.Timeout, TimeoutError):
        raise UserError(
            f"no answer from the DNS server {server[0]}:{server[1]} for {name}"
        ) from None
    except OSError as exc:
        raise UserError(f"DNS server {server[0]}:{server[1]}: {exc.strerror or exc}") from None
    if resp.rcode() != dns.rcode.NOERROR:
        raise UserError(f"DNS server answered {dns.rcode.to_text(resp.rcode())} for {name}")
    out = [r.address for rrset in resp.answer if rrset.rdtype == dns.rdatatype.A for r in rrset]
    if not out:
        raise UserError(f"DNS server gave no A record for {name}")
    return out


# --- HTTP/1.1 -----------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: dict[str, str]  # lower-case names; repeated fields joined with ", "
    nbytes: int
    keep_alive: bool


class Connection:
    """One HTTP/1.1 connection from a chosen source address (GET only, bodies counted)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self.requests = 0

    @classmethod
    async def open(cls, host: str, port: int, source: str | None, timeout: float) -> Connection:
        try:
            r, w = await asyncio.wait_for(
                asyncio.open_connection(host, port, local_addr=(source, 0) if source else None),
                timeout,
            )
        except (OSError, TimeoutError) as exc:
            why = getattr(exc, "strerror", None) or type(exc).__name__
            raise ConnectionError(f"cannot connect to {host}:{port}: {why}") from None
        return cls(r, w)

    def close(self) -> None:
        self.writer.close()

    async def get(self, path: str, host: str, timeout: float = 60.0) -> Reply:
        self.requests += 1
        self.writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: cdn-sim\r\n\r\n".encode()
        )
        return await asyncio.wait_for(self._read(), timeout)

    async def _read(self) -> Reply:
        r = self.reader
        head = await r.readuntil(b"\r\n\r\n")
        if len(head) > MAX_HEADER_BYTES:
            raise ConnectionError("response header too large")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise ConnectionError(f"bad status line {lines[0]!r}")
        status = int(parts[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                k, v = k.strip().lower(), v.strip()
                headers[k] = f"{headers[k]}, {v}" if k in headers else v
        keep = "close" not in headers.get("connection", "").lower()
        n = 0
        if status in (204, 304) or 100 <= status < 200:
            pass
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            while True:
                size = int((await r.readline()).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while (await r.readline()) not in (b"\r\n", b""):
                        pass
                    break
                n += len(await r.readexactly(size))
                await r.readexactly(2)
        elif "content-length" in headers:
            left = int(headers["content-length"])
            while left > 0:
                chunk = await r.read(min(left, 1 << 20))
                if not chunk:
                    raise ConnectionError("connection closed mid-body")
                n += len(chunk)
                left -= len(chunk)
        else:
            while chunk := await r.read(1 << 20):
                n += len(chunk)
            keep = False
        return Reply(status, headers, n, keep)


def cache_hit(cache_status: str) -> bool:
    """Did the cache the client talked to (the last Cache-Status entry) serve it from
    memory: a hit, stale or collapsed, as the simulator counts them."""
    last = cache_status.split(",")[-1] if cache_status else ""
    params = {p.strip().split("=")[0] for p in last.split(";")[1:]}
    return "hit" in params or "collapsed" in params


# --- places -----------------------------------------------------------------------------


def find_place(scenario: Scenario, text: str) -> Place:
    """The scenario's client or resolver place called ``text`` (a name, IATA code, ...)."""
    from cdn.places import PlaceError, fold, resolve_place

    places = located_places(scenario)
    for p in places:
        if fold(text) in (fold(p.name), fold(p.key)) or fold(p.name).startswith(fold(text) + ","):
            return p
    try:
        place = resolve_place(text)
    except PlaceError:
        place = None
    if place in places:
        return place
    names = ", ".join(p.name for p in places)
    raise UserError(
        f"--from {text!r} is not a client or resolver place of scenario {scenario.name}; "
        f"its places: {names}"
    )


# --- one fetch ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FetchResult:
    place: Place
    source: str
    edge: str  # edge name ("?" if the address is no edge of the scenario)
    address: str
    status: int
    cache_status: str
    nbytes: int
    dns_ms: float
    http_ms: float
    emulated: str  # the edge's Server-Timing
    prediction: object  # cdn.emulation.Prediction or None

    @property
    def measured_ms(self) -> float:
        return self.dns_ms + self.http_ms


async def fetch(
    scenario: Scenario, place: Place, url: str, dns_server: tuple[str, int], timeout: float = 60.0
) -> FetchResult:
    """Resolve ``url``'s host through our DNS (ECS: the place's block) and GET it from a
    source address in that block, on a new connection."""
    from yarl import URL

    from cdn.emulation import DelayModel

    u = URL(url)
    if u.scheme != "http" or not u.host:
        raise UserError(f"URL {url!r}: write http://HOST[:PORT]/PATH (the live CDN speaks http)")
    v4, _ = client_block(scenario, place)
    source = client_address(scenario, place)
    port = u.port or 80
    import dns.asyncquery  # noqa: F401  (imported before the clock starts)

    t0 = time.perf_counter()
    try:
        address = str(ipaddress.IPv4Address(u.host))
    except ValueError:
        address = (await resolve(u.host, dns_server, source, v4))[0]
    t1 = time.perf_counter()
    try:
        conn = await Connection.open(address, port, source, timeout)
    except ConnectionError as exc:
        raise UserError(str(exc)) from None
    try:
        target = u.raw_path_qs or "/"
        reply = await conn.get(target, u.raw_authority, timeout)
    except (
        ConnectionError,
        TimeoutError,
        asyncio.IncompleteReadError,
        asyncio.LimitOverrunError,
        ValueError,
    ) as exc:
        raise UserError(f"GET {url} from {address}: {exc or type(exc).__name__}") from None
    finally:
        conn.close()
    t2 = time.perf_counter()
    names = {str(a[0]): n for n, a in edge_addresses(scenario).items()}
    edge = names.get(address, "?")
    cs = reply.headers.get("cache-status", "")
    prediction = None
    if edge != "?":
        hit_tiers = frozenset(
            e.split(";")[0].strip() for e in cs.split(",") if cache_hit(e) and ";" in e
        )
        prediction = DelayModel(scenario).predict(
            place, edge, reply.nbytes, hit=cache_hit(cs), hit_tiers=hit_tiers
        )
    return FetchResult(
        place, source, edge, f"{address}:{port}", reply.status, cs, reply.nbytes,
        (t1 - t0) * 1000, (t2 - t1) * 1000, reply.headers.get("server-timing", ""), prediction,
    )  # fmt: skip


# --- the workload replay ----------------------------------------------------------------------


@dataclass
class LoadResult:
    requests: int
    errors: int
    concurrency: int
    wall_s: float
    latency_ms: list[float]  # measured, per successful request
    hits: int
    dns_queries: int
    new_connections: int
    predicted: dict  # the simulator's summary for the same requests
    error_examples: list[str] = field(default_factory=list)

    @property
    def hit_ratio(self) -> float | None:
        ok = self.requests - self.errors
        return self.hits / ok if ok else None

    def percentile(self, q: float) -> float | None:
        return float(np.percentile(self.latency_ms, q)) if self.latency_ms else None


async def replay(
    scenario: Scenario,
    *,
    requests: int,
    concurrency: int,
    http_port: int,
    dns_server: tuple[str, int],
    scale: float = 1.0,
    timeout: float = 60.0,
    seed: int | None = None,
    progress=None,
) -> LoadResult:
    """Replay the scenario's first ``requests`` requests against a running live stack."""
    from cdn.simulate import Simulation
    from cdn.workload import Requests

    if concurrency < 1:
        raise UserError(f"--concurrency must be at least 1, got {concurrency}")
    if scenario.workload.trace is not None:
        raise UserError(
            f"scenario {scenario.name} replays a trace ({scenario.workload.trace}); "
            "cdn load --live replays generated workloads only (the origin serves /obj/<id>)"
        )
    live = Simulation(scenario, seed=seed, requests=requests)  # its DNS model runs on live time
    r = Requests.concat(list(live.request_blocks()))
    n = len(r)
    sc = scenario
    host_name = f"{sc.dns.hosts[0]}.{sc.dns.zone}"
    places, G = live.places, len(live.group_names)
    groups = list(sc.resolvers)
    dnsm = live.dns
    loop = asyncio.get_running_loop()

    sent_t = np.zeros(n)
    latency = np.full(n, np.nan)
    hit = np.zeros(n, dtype=bool)
    answers: dict[tuple, asyncio.Future] = {}  # client host -> its cached edge address
    idle: dict[tuple[str, str], list[Connection]] = {}
    counters = {"dns": 0, "new": 0}
    errors: list[str] = []
    next_i = 0
    start = loop.time()

    async def lookup(i: int, t: float) -> tuple[str, float]:
        """(edge address, modelled DNS ms) for request i at live time t."""
        p, g, h = int(r.place[i]), int(r.group[i]), int(r.host[i])
        pg = p * G + g
        res = dnsm.resolve(np.array([t]), np.array([p]), np.array([g]), np.array([h]))
        level = int(res.level[0])
        key = (p, g, h)
        if level == 0 and key in answers:
            return await answers[key], 0.0
        to_res, to_auth = dnsm.pg_dns_ms[pg]
        wait = (to_res + (to_auth if level == 2 else 0.0)) * scale
        fut = answers[key] = loop.create_future()
        seen = live.locations[dnsm.pg_location[pg]]
        ecs = groups[g].kind == "isp" or (groups[g].ecs and sc.dns.ecs)
        block = client_block(sc, seen)[0]
        try:
            got = await resolve(
                host_name, dns_server, client_address(sc, seen), block if ecs else None
            )
        except UserError as exc:
            fut.set_exception(exc)
            fut.exception()  # retrieved: followers re-raise it
            del answers[key]
            raise
        counters["dns"] += 1
        fut.set_result(got[0])
        if wait > 0:
            await asyncio.sleep(wait / 1000.0)
        return got[0], wait

    async def one(i: int) -> None:
        t0 = loop.time()
        t = t0 - start
        sent_t[i] = t
        p, h = int(r.place[i]), int(r.host[i])
        conn = None
        try:
            address, _ = await lookup(i, t)
            source = client_address(sc, places[p], host=1 + h)
            key = (source, address)
            pool = idle.setdefault(key, [])
            warm = 0.0
            if r.reuse[i] and pool:
                conn = pool.pop()
            else:
                conn = await Connection.open(address, http_port, source, timeout)
                counters["new"] += 1
                if r.reuse[i]:  # the model says reused: hand the edge a connection it has seen
                    w0 = loop.time()
                    await conn.get(HEALTH_PATH, host_name, timeout)
                    warm = loop.time() - w0
            reply = await conn.get(f"/obj/{int(r.obj[i])}", host_name, timeout)
            t1 = loop.time()
            if reply.keep_alive:
                pool.append(conn)
            else:
                conn.close()
            conn = None
            if reply.status != 200:
                raise ConnectionError(f"status {reply.status}")
            latency[i] = (t1 - t0 - warm) * 1000.0
            hit[i] = cache_hit(reply.headers.get("cache-status", ""))
        except (
            UserError,
            ConnectionError,
            OSError,
            TimeoutError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ValueError,
        ) as exc:
            if conn is not None:  # half-read: never reuse it
                conn.close()
            if len(errors) < 5:
                errors.append(f"request {i} (/obj/{int(r.obj[i])}): {exc or type(exc).__name__}")

    async def worker() -> None:
        nonlocal next_i
        while next_i < n:
            i = next_i
            next_i += 1
            await one(i)
            if progress is not None:
                progress(next_i, n)

    try:
        await asyncio.gather(*(worker() for _ in range(min(concurrency, n))))
    finally:
        for pool in idle.values():
            for c in pool:
                c.close()
    wall = loop.time() - start

    # The prediction: the same requests at the times they were sent, no events.
    order = np.argsort(sent_t, kind="stable")
    timed = Requests(*(getattr(r, f)[order] for f in Requests.__dataclass_fields__))
    timed = replace(timed, t=sent_t[order])
    pred = Simulation(scenario, seed=seed, requests=requests)
    pred.process(timed)
    ok = ~np.isnan(latency)
    return LoadResult(
        requests=n, errors=int((~ok).sum()), concurrency=concurrency, wall_s=wall,
        latency_ms=latency[ok].tolist(), hits=int(hit[ok].sum()), dns_queries=counters["dns"],
        new_connections=counters["new"], predicted=pred.summary(), error_examples=errors,
    )  # fmt: skip


def report(res: LoadResult) -> str:
    """Measured beside predicted, as a small table."""
    pred = res.predicted
    lat = pred.get("latency_ms", {})

    def f(x, fmt="{:.1f}"):
        return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else fmt.format(x)

    def diff(a, b):
        return "-" if a is None or not b else f"{100.0 * (a - b) / b:+.1f}%"

    rows = [("", "live", "simulator", "difference")]
    hr, phr = res.hit_ratio, pred.get("hit_ratio")
    rows.append(
        (
            "hit ratio",
            f(hr, "{:.4f}"),
            f(phr, "{:.4f}"),
            "-" if hr is None or phr is None else f"{100 * (hr - phr):+.2f} points",
        )
    )
    for q in (50, 90, 99):
        live, sim = res.percentile(q), lat.get(f"p{q}")
        rows.append((f"p{q} ms", f(live), f(sim), diff(live, sim)))
    rows.append(("mean ms", f(float(np.mean(res.latency_ms)) if res.latency_ms else None),
                 f(lat.get("mean")), diff(float(np.mean(res.latency_ms)) if res.latency_ms else None,
                                          lat.get("mean"))))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    table = "\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows)
    lines = [
        f"{res.requests} requests, concurrency {res.concurrency}, {res.wall_s:.1f} s, "
        f"{res.errors} errors, {res.dns_queries} DNS queries, {res.new_connections} new connections",
        table,
    ]
    lines += [f"  error: {e}" for e in res.error_examples]
    return "\n".join(lines)
