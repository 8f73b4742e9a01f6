"""Prometheus text exposition for the edge, with no dependency.

Theory of operation: an edge keeps a handful of counters, gauges and one
histogram in plain Python numbers (one process, one event loop: no locks), and
renders them in the Prometheus text format 0.0.4 when scraped. Gauges that
mirror the store (objects, bytes) are read through callbacks at render time,
so nothing has to keep them in step. Each ``--workers`` process has its own
registry; a scraper sees whichever worker the kernel hands the connection to.

>>> r = Registry()
>>> c = r.counter("demo_total", "Demo things.", ("kind",))
>>> c.inc(kind="a")
>>> "demo_total{kind=\\"a\\"} 1" in r.render()
True
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Iterable

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: tuple[str, ...], values: tuple[str, ...], extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _num(x: float) -> str:
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    if x != x:
        return "NaN"
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return repr(float(x))


class _Metric:
    kind = "untyped"

    def __init__(self, name: str, help: str, labelnames: tuple[str, ...] = ()):
        self.name = name
        self.help = help
        self.labelnames = tuple(labelnames)

    def _key(self, labels: dict[str, str]) -> tuple[str, ...]:
        if set(labels) != set(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, got {tuple(labels)}")
        return tuple(str(labels[n]) for n in self.labelnames)

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]

    def samples(self) -> Iterable[str]:
        return ()


class Counter(_Metric):
    """A monotonically increasing number per label set."""

    kind = "counter"

    def __init__(self, name: str, help: str, labelnames: tuple[str, ...] = ()):
        if not name.endswith("_total"):
            raise ValueError("counter names end in _total")
        super().__init__(name, help, labelnames)
        self.values: dict[tuple[str, ...], float] = {}
        if not labelnames:
            self.values[()] = 0.0

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = self._key(labels) if labels or self.labelnames else ()
        self.values[key] = self.values.get(key, 0.0) + amount

    def get(self, **labels: str) -> float:
        return self.values.get(self._key(labels) if self.labelnames else (), 0.0)

    def total(self) -> float:
        return sum(self.values.values())

    def samples(self) -> Iterable[str]:
        for key, v in sorted(self.values.items()):
            yield f"{self.name}{_labels(self.labelnames, key)} {_num(v)}"


class Gauge(_Metric):
    """A number read from a callback at render time (or set directly)."""

    kind = "gauge"

    def __init__(self, name: str, help: str, read: Callable[[], float] | None = None):
        super().__init__(name, help)
        self.read = read
        self.value = 0.0

    def set(self, value: float) -> None:
        self.value = value

    def samples(self) -> Iterable[str]:
        yield f"{self.name} {_num(self.read() if self.read else self.value)}"


class Histogram(_Metric):
    """Cumulative buckets, a sum and a count, as Prometheus expects."""

    kind = "histogram"

    def __init__(self, name: str, help: str, buckets: Iterable[float]):
        super().__init__(name, help)
        self.bounds = sorted(float(b) for b in buckets)
        self.counts = [0] * (len(self.bounds) + 1)  # last slot: above every bound (+Inf)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1

    def samples(self) -> Iterable[str]:
        running = 0
        for bound, n in zip(self.bounds, self.counts, strict=False):
            running += n
            yield f'{self.name}_bucket{{le="{bound!r}"}} {running}'  # le="1.0", as client libraries write it
        yield f'{self.name}_bucket{{le="+Inf"}} {self.count}'
        yield f"{self.name}_sum {_num(self.sum)}"
        yield f"{self.name}_count {self.count}"


class Registry:
    """Metrics in the order they were made, rendered as one text page."""

    def __init__(self) -> None:
        self.metrics: list[_Metric] = []

    def _add(self, metric):
        if any(m.name == metric.name for m in self.metrics):
            raise ValueError(f"metric {metric.name} already registered")
        self.metrics.append(metric)
        return metric

    def counter(self, name: str, help: str, labelnames: tuple[str, ...] = ()) -> Counter:
        return self._add(Counter(name, help, labelnames))

    def gauge(self, name: str, help: str, read: Callable[[], float] | None = None) -> Gauge:
        return self._add(Gauge(name, help, read))

    def histogram(self, name: str, help: str, buckets: Iterable[float]) -> Histogram:
        return self._add(Histogram(name, help, buckets))

    def render(self) -> str:
        lines: list[str] = []
        for m in self.metrics:
            lines.extend(m.header())
            lines.extend(m.samples())
        return "\n".join(lines) + "\n"


# Origin fetch latency buckets (seconds): loopback to intercontinental plus slow apps.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class EdgeMetrics:
    """The edge's metrics; ``store`` is read at render time for the stored gauges."""

    def __init__(self, store=None) -> None:
        self.registry = r = Registry()
        self.requests = r.counter(
            "cdn_edge_requests_total",
            "Client requests by what the cache did: hit, stale (while revalidating), "
            "stale-if-error, collapsed, revalidated, miss, pass (other methods), purge, "
            "purge-refused, admin, error, gateway-timeout.",
            ("cache_status",),
        )
        self.bytes_served = r.counter(
            "cdn_edge_bytes_served_total", "Response body bytes sent to clients."
        )
        self.bytes_from_origin = r.counter(
            "cdn_edge_bytes_from_origin_total", "Response body bytes received from the origin."
        )
        self.origin_requests = r.counter(
            "cdn_edge_origin_requests_total",
            "Requests sent to the origin, by outcome (HTTP status class or error).",
            ("outcome",),
        )
        self.evictions = r.counter(
            "cdn_edge_evictions_total", "Objects evicted from the store to make room."
        )
        self.purged = r.counter("cdn_edge_purged_total", "Objects removed by PURGE requests.")
        self.hit_ratio = r.gauge(
            "cdn_edge_hit_ratio",
            "Share of GET and HEAD requests answered without an origin request of their own.",
            self._hit_ratio,
        )
        self.objects = r.gauge(
            "cdn_edge_objects_stored", "Objects in the store.", lambda: len(store) if store else 0
        )
        self.bytes_stored = r.gauge(
            "cdn_edge_bytes_stored",
            "Bytes accounted in the store.",
            lambda: store.used if store else 0,
        )
        self.capacity = r.gauge(
            "cdn_edge_capacity_bytes", "Store capacity.", lambda: store.capacity if store else 0
        )
        self.origin_latency = r.histogram(
            "cdn_edge_origin_latency_seconds",
            "Time from sending a request to the origin until its response headers arrived.",
            LATENCY_BUCKETS,
        )

    # The hit ratio counts GET and HEAD requests answered without an origin request of
    # their own: fresh hits, stale-while-revalidate, stale-if-error and collapsed
    # followers. A revalidation (304 from the origin) is not a hit here.
    HIT_STATUSES = frozenset({"hit", "stale", "stale-if-error", "collapsed"})
    CACHEABLE_STATUSES = HIT_STATUSES | frozenset({"revalidated", "miss", "gateway-timeout"})

    def count(self, cache_status: str) -> None:
        """``requests.inc(cache_status=...)`` without the keyword handling (hot path)."""
        values = self.requests.values
        key = (cache_status,)
        values[key] = values.get(key, 0.0) + 1

    def _hit_ratio(self) -> float:
        hits = sum(v for (s,), v in self.requests.values.items() if s in self.HIT_STATUSES)
        total = sum(v for (s,), v in self.requests.values.items() if s in self.CACHEABLE_STATUSES)
        return hits / total if total else 0.0

    def render(self) -> str:
        return self.registry.render()
