"""RFC 9111 shared-cache decisions, one small test per rule."""

from __future__ import annotations

from edge.policy import Stored, decide, freshness


def test_smoke_fresh_hit():
    s = Stored(
        200, (("Cache-Control", "max-age=60"), ("Date", "Thu, 01 Jan 1970 00:01:40 GMT")), 100, 100
    )
    assert freshness(200, s.headers).lifetime == 60
    assert decide("GET", [], s, 110).action == "hit"
