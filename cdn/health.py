"""Active health checks: is each edge up?

Theory of operation: a checker polls every edge's health URL at a fixed
interval. One failed poll proves little (a lost packet, a GC pause), so the
verdict has hysteresis: ``failures`` consecutive failures mark an up edge down,
``successes`` consecutive successes mark a down edge up again, and a result
that agrees with the current state resets the opposite streak. Edges start up
(a fresh server answers at once instead of waiting k intervals to trust them).

:class:`HealthTracker` is that state machine: pure, no clock, no I/O; time is
an argument only so transitions can say when they happened. Its
``generation`` counts transitions, so answer caches keyed by it (or flushed
when it moves) never serve an answer computed for an older health state.
:class:`HealthChecker` is the thin asyncio/aiohttp adapter that feeds it
real HTTP results.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

log = logging.getLogger("cdn.health")

HEALTH_PATH = "/.well-known/cdn/health"
DEFAULT_HEALTH_PORT = 8080


@dataclass(frozen=True)
class Transition:
    edge: str
    up: bool  # the new state
    at: float  # the ``now`` passed with the observation that caused it
    streak: int  # consecutive results that caused it


class HealthTracker:
    """Consecutive-result hysteresis per edge (k failures down, m successes up)."""

    def __init__(self, edges: Iterable[str], failures: int = 3, successes: int = 2):
        if failures < 1 or successes < 1:
            raise ValueError("health failures and successes must be at least 1")
        self.failures = int(failures)
        self.successes = int(successes)
        self._up: dict[str, bool] = {e: True for e in edges}
        self._streak: dict[str, int] = dict.fromkeys(self._up, 0)  # against the current state
        self.generation = 0
        self._down: frozenset[str] = frozenset()

    @property
    def down(self) -> frozenset[str]:
        """The edges currently marked down."""
        return self._down

    def is_up(self, edge: str) -> bool:
        return self._up[edge]

    def states(self) -> dict[str, bool]:
        return dict(self._up)

    def observe(self, edge: str, ok: bool, now: float = 0.0) -> Transition | None:
        """Record one check result; return the transition it caused, if any."""
        up = self._up[edge]
        if ok == up:  # agrees with the state: the opposite streak is broken
            self._streak[edge] = 0
            return None
        self._streak[edge] += 1
        need = self.successes if ok else self.failures
        if self._streak[edge] < need:
            return None
        streak = self._streak[edge]
        self._up[edge] = ok
        self._streak[edge] = 0
        self.generation += 1
        self._down = frozenset(e for e, u in self._up.items() if not u)
        return Transition(edge, ok, now, streak)


class HealthChecker:
    """Polls ``urls`` (edge -> URL) every ``interval`` seconds with aiohttp and
    feeds the results to ``tracker``; ``on_change(transition)`` is called for
    each transition. A 2xx status within the timeout is a success."""

    def __init__(
        self,
        tracker: HealthTracker,
        urls: Mapping[str, str],
        interval: float,
        on_change: Callable[[Transition], None] | None = None,
        timeout: float | None = None,
    ):
        self.tracker = tracker
        self.urls = dict(urls)
        self.interval = max(0.01, float(interval))
        # a slow answer is not a dead edge: give it at least a second (a refused
        # connection on a dead edge fails at once anyway)
        self.timeout = timeout if timeout is not None else min(2.0, max(1.0, self.interval))
        self.on_change = on_change
        self._task = None
        self._session = None
        self.rounds = 0

    async def start(self) -> None:
        import asyncio

        import aiohttp

        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            connector=aiohttp.TCPConnector(force_close=True, limit=0),
        )
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        import asyncio

        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def check_once(self) -> list[Transition]:
        """Poll every edge once (concurrently) and apply the results."""
        import asyncio

        loop = asyncio.get_running_loop()
        names = list(self.urls)
        results = await asyncio.gather(*(self._probe(self.urls[n]) for n in names))
        changes = []
        for name, ok in zip(names, results, strict=True):
            t = self.tracker.observe(name, ok, loop.time())
            if t is not None:
                changes.append(t)
                log.warning(
                    "edge %s is %s after %d %s",
                    t.edge,
                    "UP" if t.up else "DOWN",
                    t.streak,
                    "successes" if t.up else "failures",
                )
                if self.on_change is not None:
                    self.on_change(t)
        self.rounds += 1
        return changes

    async def _probe(self, url: str) -> bool:

        import aiohttp

        try:
            async with self._session.get(url, allow_redirects=False) as resp:  # type: ignore[union-attr]
                await resp.read()
                return 200 <= resp.status < 300
        except (TimeoutError, aiohttp.ClientError, OSError):
            return False

    async def _run(self) -> None:
        import asyncio

        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                await self.check_once()
            except Exception:  # a checker bug must not silently stop health checking
                log.exception("health check round failed")
            await asyncio.sleep(max(0.0, self.interval - (loop.time() - started)))
