"""The edge's Prometheus text exposition, read back by prometheus_client's own parser."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from edge.metrics import EdgeMetrics, Registry


def samples(text: str) -> dict:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


def test_counters_gauges_histograms_and_escaping():
    r = Registry()
    c = r.counter("things_total", "Things.", ("kind",))
    c.inc(kind='a "quoted"\\ and\nnewline')
    c.inc(2.5, kind="b")
    g = r.gauge("level", "A level.", lambda: 0.25)
    h = r.histogram("wait_seconds", "Waits.", (0.1, 1.0))
    for v in (0.05, 0.1, 0.5, 3.0):
        h.observe(v)
    got = samples(r.render())
    assert got[("things_total", (("kind", 'a "quoted"\\ and\nnewline'),))] == 1
    assert got[("things_total", (("kind", "b"),))] == 2.5
    assert got[("level", ())] == 0.25 and g.read() == 0.25
    assert got[("wait_seconds_bucket", (("le", "0.1"),))] == 2  # le is inclusive
    assert got[("wait_seconds_bucket", (("le", "1.0"),))] == 3
    assert got[("wait_seconds_bucket", (("le", "+Inf"),))] == 4
    assert got[("wait_seconds_count", ())] == 4
    assert got[("wait_seconds_sum", ())] == pytest.approx(3.65)


def test_misuse_is_refused():
    r = Registry()
    r.counter("a_total", "A.")
    with pytest.raises(ValueError, match="already"):
        r.counter("a_total", "A again.")
    with pytest.raises(ValueError, match="_total"):
        r.counter("b", "B.")
    c = r.counter("c_total", "C.", ("x",))
    with pytest.raises(ValueError, match="labels"):
        c.inc(y="1")


def test_hit_ratio_counts_requests_served_without_their_own_origin_request():
    m = EdgeMetrics()
    for label, n in (("hit", 6), ("collapsed", 2), ("revalidated", 1), ("miss", 1), ("pass", 5)):
        for _ in range(n):
            m.count(label)
    assert samples(m.render())[("cdn_edge_hit_ratio", ())] == pytest.approx(0.8)
