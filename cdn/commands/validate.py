"""``cdn validate SCENARIO``: check a scenario file and summarise it."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "validate",
        help="check a scenario file and print a short summary",
        description=(
            "Check a scenario file (a path, or the name of a bundled scenario such as "
            "'quickstart') and print its edges, client places, resolvers, expected "
            "request count and events. Exit status 0 when valid; 2 with every problem "
            "listed (file, key path, bad value, what is allowed) when not."
        ),
    )
    p.add_argument(
        "scenario",
        metavar="SCENARIO",
        help="scenario file, or a bundled name: quickstart, global, public-resolvers, failover",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cdn.scenario import load_scenario

    print(summary(load_scenario(args.scenario)))
    return 0


def summary(s) -> str:
    """A few lines a person can check against what they meant to write."""
    from cdn.units import format_duration, format_size

    w = s.workload
    lines = [f"{s.name}: {s.path} is valid (sha256 {s.text_sha256[:12]})"]
    if s.description:
        lines.append(f"  {s.description}")
    lines.append(f"origin: {s.origin.place.name}")
    lines.append(f"edges ({len(s.edges)}):")
    width = max(len(e.name) for e in s.edges)
    for e in s.edges:
        extra = f"  tier={e.tier}" if e.tier != "edge" else ""
        extra += f"  parent={e.parent}" if e.parent else ""
        lines.append(
            f"  {e.name:<{width}}  {e.place.name:<28} {format_size(e.capacity):>10}  {e.policy}{extra}"
        )
    d = s.dns
    lines.append(
        f"dns: {', '.join(d.hosts)} in {d.zone}, ttl {d.ttl:g} s, policy {d.policy}, "
        f"ecs {'on' if d.ecs else 'off'}"
    )
    total = sum(c.weight for c in s.clients) or 1.0
    top = sorted(s.clients, key=lambda c: (-c.weight, c.place.name))[:5]
    shares = ", ".join(f"{c.place.name} {100 * c.weight / total:.1f}%" for c in top)
    lines.append(f"clients: {len(s.clients)} places; top 5 by weight: {shares}")
    lines.append(
        "resolvers: "
        + ", ".join(
            f"{g.name} {100 * g.share:.0f}%"
            + (
                f" ({len(g.places)} sites, ECS {'on' if g.ecs else 'off'})"
                if g.kind == "public"
                else ""
            )
            for g in s.resolvers
        )
    )
    how = (
        f"requests = {w.requests:,}"
        if w.requests is not None
        else f"{w.rate:g}/s x {format_duration(w.duration)}"
    )
    source = f"catalog {w.catalog_size:,} objects, zipf {w.zipf_alpha:g}"
    if w.trace is not None:  # a malformed trace is an error here too (exit 2, line named)
        from cdn.workload import scan_trace

        tr = scan_trace(w.trace)
        lines.append(
            f"workload: replays {w.trace}: {tr.rows:,} requests over "
            f"{format_duration(tr.duration)} from {len(tr.clients):,} clients, "
            f"{len(tr.keys):,} distinct objects"
        )
    else:
        lines.append(f"workload: {w.expected_requests:,} requests expected ({how}); {source}")
    shaped = diurnal_requests(s)
    if shaped is not None:
        lines.append(
            f"  with the {w.diurnal_shape} diurnal shape (amplitude {w.diurnal:g}) starting at "
            f"{w.start_hour_utc:g}:00 UTC: about {shaped:,.0f} requests"
        )
    if s.events:
        lines.append(f"events ({len(s.events)}):")
        for ev in s.events:
            what = ev.edge or ev.url or ev.prefix or ev.surrogate_key or ""
            lines.append(f"  at {ev.at:g} s  {ev.kind} {what}".rstrip())
    else:
        lines.append("events: none")
    return "\n".join(lines)


def diurnal_requests(s, steps: int = 240) -> float | None:
    """Expected requests once each place's local time of day shapes its rate
    (what ``cdn.workload`` generates), or None when there is no diurnal shape."""
    w = s.workload
    if w.diurnal <= 0 or w.requests is not None or w.trace is not None:
        return None
    import numpy as np

    from cdn.workload import DIURNAL_SHAPES, utc_offset_hours

    weights = np.array([c.weight for c in s.clients], dtype=np.float64)
    offsets = np.array([utc_offset_hours(c.place.timezone, c.place.lon) for c in s.clients])
    t = (np.arange(steps) + 0.5) * (w.duration / steps)  # midpoints over the run
    hours = (w.start_hour_utc + t[:, None] / 3600.0 + offsets[None, :]) % 24.0
    factor = 1.0 + w.diurnal * DIURNAL_SHAPES[w.diurnal_shape](hours)
    return float(w.rate * w.duration * (factor @ weights).mean() / weights.sum())
