"""Prometheus text metrics for the DNS server, and a tiny aiohttp app serving them.

The server's hot path only bumps one counter per reply, keyed by (transport,
qtype, rcode, ECS used, edges answered); this module folds those keys into the
families below at scrape time, so metrics cost nothing between scrapes.
"""

from __future__ import annotations

from collections import Counter


def _esc(v: object) -> str:
    return str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_metrics(server) -> str:
    """The Prometheus exposition text for a :class:`cdn.dns_server.DnsServer`."""
    from dnslib import QTYPE, RCODE

    queries: Counter = Counter()
    answers: Counter = Counter()
    ecs = total = 0
    for (transport, qt, rc, used_ecs, edges), n in list(server.stats.items()):
        qname = QTYPE.get(qt, str(qt)) if isinstance(qt, int) else "none"
        queries[(transport, qname, "BADVERS" if rc == 16 else RCODE.get(rc, str(rc)))] += n
        for e in edges:
            answers[e] += n
        total += n
        if used_ecs:
            ecs += n
    out = [
        "# HELP cdn_dns_queries_total DNS queries answered, by transport, type and rcode.",
        "# TYPE cdn_dns_queries_total counter",
    ]
    for (t, q, r), n in sorted(queries.items()):
        out.append(
            f'cdn_dns_queries_total{{transport="{t}",qtype="{_esc(q)}",rcode="{_esc(r)}"}} {n}'
        )
    out += [
        "# HELP cdn_dns_answers_total Times each edge was handed out in an answer.",
        "# TYPE cdn_dns_answers_total counter",
    ]
    for name in server.router.names:
        out.append(f'cdn_dns_answers_total{{edge="{_esc(name)}"}} {answers.get(name, 0)}')
    out += [
        "# HELP cdn_dns_ecs_queries_total Queries located by their EDNS Client Subnet.",
        "# TYPE cdn_dns_ecs_queries_total counter",
        f"cdn_dns_ecs_queries_total {ecs}",
        "# HELP cdn_dns_ecs_share Share of answered queries located by ECS.",
        "# TYPE cdn_dns_ecs_share gauge",
        f"cdn_dns_ecs_share {ecs / total if total else 0.0:.6f}",
        "# HELP cdn_dns_cache_hits_total Replies served from the wire-format answer cache.",
        "# TYPE cdn_dns_cache_hits_total counter",
        f"cdn_dns_cache_hits_total {server.cache_hits}",
        "# HELP cdn_dns_dropped_total Packets not answered (responses, runts, internal errors).",
        "# TYPE cdn_dns_dropped_total counter",
        f"cdn_dns_dropped_total {server.dropped}",
        "# HELP cdn_dns_edge_up Health state of each edge (1 up, 0 down).",
        "# TYPE cdn_dns_edge_up gauge",
    ]
    states = server.tracker.states()
    for name in server.router.names:
        out.append(
            f'cdn_dns_edge_up{{edge="{_esc(name)}"}} {int(name not in server.down and states.get(name, True))}'
        )
    out += [
        "# HELP cdn_dns_health_generation Health state changes since start.",
        "# TYPE cdn_dns_health_generation counter",
        f"cdn_dns_health_generation {server.tracker.generation}",
    ]
    return "\n".join(out) + "\n"


async def start_metrics(server, host: str, port: int):
    """Serve ``GET /metrics`` for ``server``; returns the aiohttp runner (``await
    runner.cleanup()`` to stop)."""
    from aiohttp import web

    async def metrics(_request):
        return web.Response(text=render_metrics(server), content_type="text/plain", charset="utf-8")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner
