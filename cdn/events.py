"""Scenario events as the steps that play them: the one schedule of the simulator and ``cdn serve``.

Theory of operation
-------------------
An event with a ``duration`` (edge_down, origin_down, origin_slow) is two
steps: the event, and at ``at + duration`` its end (edge_up, origin_up,
origin_slow_end). :func:`event_steps` lists every step in time order, equal
times in scenario order (each event before its end), so the simulator's
virtual clock and the live stack's wall clock play the same things in the
same order. Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cdn.scenario import Event


@dataclass(frozen=True)
class Step:
    """One thing that happens ``at`` seconds after the start (virtual or wall clock)."""

    at: float
    action: str  # an event kind, or "origin_slow_end"
    event: Event  # the scenario event this step comes from
    ends: bool = False  # the end of the event's duration

    def describe(self) -> str:
        ev, a = self.event, self.action
        if self.ends:
            was = f"end of {ev.kind} at {ev.at:g} s"
            if a == "origin_slow_end":
                return f"origin_slow ends: the scenario's service time again ({was})"
            return f"{a} {ev.edge or ''}".rstrip() + f" ({was})"
        lasting = f" for {ev.duration:g} s" if ev.duration else ""
        if a in ("edge_down", "edge_up"):
            return f"{a} {ev.edge}{lasting}"
        if a in ("origin_down", "origin_up"):
            return f"{a}{lasting}"
        if a == "origin_slow":
            return f"origin_slow: service time {ev.service_time:g} s{lasting}"
        if a == "purge":
            what = (
                f"url {ev.url}"
                if ev.url
                else f"prefix {ev.prefix}"
                if ev.prefix
                else f"surrogate key {ev.surrogate_key}"
            )
            return f"purge {what} on every edge and shield"
        target = f"object {ev.object}" if ev.object is not None else f"region {ev.region}"
        return f"flash_crowd x{ev.factor:g} on {target}{lasting}"


ENDS = {"edge_down": "edge_up", "origin_down": "origin_up", "origin_slow": "origin_slow_end"}


def event_steps(events: Iterable[Event]) -> list[Step]:
    """The steps that play ``events``, in time order: each event, then the end of its
    ``duration`` (edge_down, origin_down, origin_slow); equal times keep that order,
    as a heap of ``(time, seq)`` pops them.

    >>> from cdn.scenario import Event
    >>> [(s.at, s.action) for s in event_steps([Event(5.0, "edge_down", "a", 2.0),
    ...                                         Event(6.0, "purge", url="/x")])]
    [(5.0, 'edge_down'), (6.0, 'purge'), (7.0, 'edge_up')]
    """
    steps = []
    for ev in events:
        steps.append(Step(ev.at, ev.kind, ev))
        if ev.kind in ENDS and ev.duration:
            steps.append(Step(ev.at + ev.duration, ENDS[ev.kind], ev, ends=True))
    return sorted(steps, key=lambda s: s.at)  # stable: ties keep the order above
