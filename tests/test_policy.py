"""RFC 9111 shared-cache decisions, one small test per rule (RFC 9111, 5861, 9211, 9213)."""

from __future__ import annotations

import email.utils

import pytest

from edge.policy import (
    Freshness,
    Stored,
    age_and_ttl,
    age_header,
    cache_status,
    can_serve_stale_on_error,
    classify,
    conditional_headers,
    current_age,
    decide,
    freshens,
    freshness,
    freshness_of,
    governing_directives,
    invalidated_uris,
    is_storable,
    make_stored,
    merge_304,
    merge_head,
    storable_headers,
    storable_reason,
    vary_matches,
    vary_values,
)

T0 = 1_700_000_000.0  # the time the origin answered


def http_date(t: float) -> str:
    return email.utils.formatdate(t, usegmt=True)  # independent of the code under test


def resp(*pairs: tuple[str, str], date: float | None = T0) -> tuple[tuple[str, str], ...]:
    """Response headers with a Date of ``date`` (None: no Date)."""
    base = (("Date", http_date(date)),) if date is not None else ()
    return base + tuple(pairs)


def stored(*pairs, status=200, date=T0, req=T0, got=T0, request_headers=(), method="GET"):
    return make_stored(method, request_headers, status, resp(*pairs, date=date), req, got)


# ---------------------------------------------------------------- freshness lifetime


def test_s_maxage_beats_max_age_beats_expires():
    expires = ("Expires", http_date(T0 + 1000))
    assert (
        freshness(200, resp(("Cache-Control", "max-age=60, s-maxage=30"), expires)).lifetime == 30
    )
    assert freshness(200, resp(("Cache-Control", "max-age=60"), expires)).lifetime == 60
    assert freshness(200, resp(expires)).lifetime == 1000


def test_expires_minus_date():
    f = freshness(200, resp(("Expires", http_date(T0 + 120))))
    assert f.lifetime == 120 and not f.heuristic and f.storable


def test_expires_without_date_uses_the_response_time():
    h = resp(("Expires", http_date(T0 + 50)), date=None)
    assert freshness(200, h, date=T0).lifetime == 50


@pytest.mark.parametrize("value", ["0", "-1", "tomorrow", "Sun, 06 Nov 1994 08:49:37 UTC"])
def test_invalid_expires_means_already_expired(value):
    f = freshness(200, resp(("Expires", value), ("Last-Modified", http_date(T0 - 10**6))))
    assert f.lifetime == 0 and not f.heuristic  # no heuristic either: Expires is explicit


def test_expires_in_the_past_is_stale():
    assert freshness(200, resp(("Expires", http_date(T0 - 100)))).lifetime == 0


def test_cdn_cache_control_wins_over_cache_control_and_expires():
    h = resp(
        ("Cache-Control", "no-store"),
        ("Expires", http_date(T0 + 5)),
        ("CDN-Cache-Control", "max-age=600"),
    )
    f = freshness(200, h)
    assert f.storable and f.lifetime == 600
    assert freshness(200, h, cdn_cache_control=False).storable is False


def test_cdn_cache_control_can_forbid_what_cache_control_allows():
    h = resp(("Cache-Control", "max-age=600"), ("CDN-Cache-Control", "no-store"))
    assert not freshness(200, h).storable


def test_invalid_cdn_cache_control_falls_back_to_cache_control():
    h = resp(("Cache-Control", "max-age=60"), ("CDN-Cache-Control", "Max-Age=600"))
    assert freshness(200, h).lifetime == 60


# ---------------------------------------------------------------- Surrogate-Control
# W3C Edge Architecture Specification 1.0, section 3; precedence as the module docstring says:
# CDN-Cache-Control (RFC 9213), then Surrogate-Control, then Cache-Control and Expires.

SC = "Surrogate-Control"


@pytest.mark.parametrize(
    "fields, lifetime, governing",
    [
        ([("Cache-Control", "max-age=10")], 10, "cache-control"),
        ([("Cache-Control", "max-age=10"), (SC, "max-age=20")], 20, "surrogate-control"),
        ([(SC, "max-age=20"), ("CDN-Cache-Control", "max-age=30")], 30, "cdn-cache-control"),
        (
            [("Cache-Control", "max-age=10"), (SC, "max-age=20"), ("CDN-Cache-Control", "Bad")],
            20,  # an invalid CDN-Cache-Control is ignored: the next field governs
            "surrogate-control",
        ),
        ([("Cache-Control", "max-age=10"), (SC, 'content="ESI/1.0"')], 10, "cache-control"),
        ([("Cache-Control", "max-age=10"), (SC, "max-age=20;other")], 10, "cache-control"),
        ([("Cache-Control", "max-age=3600"), (SC, "max-age=1")], 1, "surrogate-control"),
    ],
)
def test_precedence_cdn_cache_control_then_surrogate_control_then_cache_control(
    fields, lifetime, governing
):
    h = resp(*fields)
    assert freshness(200, h).lifetime == lifetime
    assert governing_directives(h)[1] == governing


def test_surrogate_max_age_replaces_cache_control_no_store_and_expires():
    h = resp(
        ("Cache-Control", "no-store"), ("Expires", http_date(T0 - 10_000)), (SC, "max-age=3600")
    )
    f = freshness(200, h)
    assert f.storable and f.lifetime == 3600 and f.reason == "surrogate-control max-age"
    assert is_storable("GET", [], 200, h)


def test_surrogate_max_age_0_ignores_a_future_expires():
    h = resp((SC, "max-age=0"), ("Expires", http_date(T0 + 10_000)))
    assert freshness(200, h).lifetime == 0
    assert decide("GET", [], make_stored("GET", [], 200, h, T0, T0), T0).action == "revalidate"


@pytest.mark.parametrize("sc", ["no-store", "No-Store, max-age=60", "no-store-remote"])
def test_surrogate_no_store_is_not_stored_even_when_cache_control_allows(sc):
    h = resp(("Cache-Control", "max-age=10000"), ("Expires", http_date(T0 + 10_000)), (SC, sc))
    assert not is_storable("GET", [], 200, h)
    assert storable_reason("GET", [], 200, h) == "surrogate-control no-store"


def test_surrogate_max_age_counts_the_upstream_age():
    # Age 7200 > max-age 3600: stale on arrival (RFC 9111 4.2.3 applies to any lifetime)
    s = stored((SC, "max-age=3600"), ("Age", "7200"))
    d = decide("GET", [], s, T0 + 1)
    assert d.action == "revalidate" and d.age >= 7200 and d.ttl < 0
    fresh = stored((SC, "max-age=3600"), ("Age", "600"))
    d = decide("GET", [], fresh, T0 + 1)
    assert d.action == "hit" and d.ttl == pytest.approx(3600 - 601)


def test_surrogate_directives_for_another_device_are_ignored():
    h = resp((SC, "max-age=3600;not-for-you"))
    assert not is_storable("GET", [], 200, h)  # nothing else gives it freshness
    assert freshness(200, h, surrogate="not-for-you").lifetime == 3600


def test_surrogate_directives_targeted_at_this_device_override_untargeted_ones():
    h = resp((SC, "max-age=60, max-age=600;edge1, no-store;edge2"))
    assert freshness(200, h).lifetime == 60  # untargeted only
    assert freshness(200, h, surrogate="edge1").lifetime == 600
    assert freshness(200, h, surrogate="EDGE1").lifetime == 600  # tokens: case-insensitive
    assert not freshness(200, h, surrogate="edge2").storable


def test_surrogate_control_can_be_ignored_altogether():
    h = resp(("Cache-Control", "max-age=10"), (SC, "max-age=99"))
    assert freshness(200, h, surrogate=None).lifetime == 10
    assert governing_directives(h, surrogate=None)[1] == "cache-control"


def test_surrogate_max_age_extension_is_a_stale_if_error_window():
    s = stored((SC, "max-age=60+30"))
    f = freshness_of(s)
    assert (f.lifetime, f.sie, f.swr) == (60, 30, 0)
    assert decide("GET", [], s, T0 + 70).action == "revalidate"  # stale: not served unasked
    assert can_serve_stale_on_error(s, [], T0 + 85)  # 25 s stale, within the 30 s extension
    assert not can_serve_stale_on_error(s, [], T0 + 95)
    explicit = stored((SC, "max-age=60+30, stale-if-error=5"))
    assert freshness_of(explicit).sie == 5  # the field's own directive wins
    assert freshness_of(stored((SC, "max-age=60+x"))).sie == 0  # invalid extension: none


def test_surrogate_control_carries_fastly_stale_directives():
    f = freshness(200, resp((SC, "max-age=60, stale-while-revalidate=10, stale-if-error=99")))
    assert (f.lifetime, f.swr, f.sie) == (60, 10, 99)


def test_surrogate_control_with_an_invalid_max_age_is_stale():
    # RFC 9111 4.2.1's rule for invalid delta-seconds, as for Cache-Control
    for sc in ("max-age =100", "max-age= 100", "max-age=-1", "max-age=+5"):
        f = freshness(200, resp(("Cache-Control", "max-age=1000"), (SC, sc)))
        assert f.lifetime == 0, sc


def test_surrogate_max_age_saturates_like_any_delta():
    assert freshness(200, resp((SC, "max-age=99999999999"))).lifetime == 2**31


def test_stored_record_remembers_whose_surrogate_control_it_read():
    h = resp((SC, "max-age=5, max-age=500;shield"), ("ETag", '"a"'))
    mine = make_stored("GET", [], 200, h, T0, T0, surrogate="shield")
    other = make_stored("GET", [], 200, h, T0, T0)
    assert mine.surrogate == "shield" and other.surrogate == ""
    assert decide("GET", [], mine, T0 + 100).action == "hit"
    assert decide("GET", [], other, T0 + 100).action == "revalidate"
    assert age_and_ttl(mine, T0 + 100)[1] == pytest.approx(400)
    # a 304 freshens it for the same cache
    merged = merge_304(mine, resp(("ETag", '"a"'), date=T0 + 100), T0 + 100, T0 + 100)
    assert merged.surrogate == "shield" and decide("GET", [], merged, T0 + 550).action == "hit"
    # the explicit argument overrides the record's token
    assert freshness_of(mine, surrogate="").lifetime == 5


def test_records_built_by_position_still_read_cache_control():
    # the simulator builds Stored(status, headers, request_time, response_time) itself
    s = Stored(200, (("Cache-Control", "max-age=60, stale-if-error=30"),), 0.0, 0.0)
    assert s.surrogate == "" and freshness_of(s).lifetime == 60
    assert can_serve_stale_on_error(s, (), 80.0) and not can_serve_stale_on_error(s, (), 95.0)


def test_cache_control_field_qualified_private_is_honoured_under_surrogate_control():
    h = resp(
        ("Cache-Control", 'private="Set-Cookie", max-age=0'),
        ("Set-Cookie", "session=secret"),
        (SC, "max-age=600"),
    )
    assert is_storable("GET", [], 200, h)
    kept = {n.lower() for n, _ in storable_headers(h)}
    assert "set-cookie" not in kept and "surrogate-control" in kept


def test_heuristic_is_a_fraction_of_last_modified_age():
    f = freshness(200, resp(("Last-Modified", http_date(T0 - 1000))))
    assert f.heuristic and f.lifetime == pytest.approx(100.0) and f.storable
    g = freshness(200, resp(("Last-Modified", http_date(T0 - 1000))), heuristic_fraction=0.5)
    assert g.lifetime == pytest.approx(500.0)


def test_heuristic_is_capped():
    f = freshness(200, resp(("Last-Modified", http_date(T0 - 10**8))))
    assert f.lifetime == 86400.0
    assert (
        freshness(200, resp(("Last-Modified", http_date(T0 - 10**8))), heuristic_cap=60).lifetime
        == 60
    )


def test_response_pragma_no_cache_rules_out_the_heuristic():
    h = resp(("Last-Modified", http_date(T0 - 1000)), ("Pragma", "no-cache"))
    assert freshness(200, h).lifetime == 0
    # explicit freshness still counts (Pragma in responses has no defined meaning)
    assert freshness(200, h + (("Cache-Control", "max-age=60"),)).lifetime == 60


def test_heuristic_needs_last_modified():
    f = freshness(200, resp(("ETag", '"x"')))
    assert f.lifetime == 0 and not f.heuristic and f.storable  # stored, revalidated each time


@pytest.mark.parametrize("status", [200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501])
def test_heuristically_cacheable_statuses(status):
    f = freshness(status, resp(("Last-Modified", http_date(T0 - 1000))))
    assert f.heuristic and f.storable


@pytest.mark.parametrize("status", [302, 303, 307, 400, 403, 500, 502, 503])
def test_other_statuses_get_no_heuristic(status):
    f = freshness(status, resp(("Last-Modified", http_date(T0 - 1000))))
    assert not f.storable and f.lifetime == 0
    # ... unless marked public, or given explicit freshness
    assert freshness(
        status, resp(("Last-Modified", http_date(T0 - 1000)), ("Cache-Control", "public"))
    ).heuristic
    assert freshness(status, resp(("Cache-Control", "max-age=5"))).storable


@pytest.mark.parametrize("cc", ["max-age=abc", "max-age=-1", "max-age=1.5", "max-age=", "max-age"])
def test_invalid_max_age_is_stale_not_heuristic(cc):
    f = freshness(200, resp(("Cache-Control", cc), ("Last-Modified", http_date(T0 - 10**6))))
    assert f.lifetime == 0 and not f.heuristic


def test_huge_max_age_saturates():
    assert freshness(200, resp(("Cache-Control", "max-age=" + "9" * 30))).lifetime == 2**31


def test_cache_control_split_over_two_lines():
    h = resp(("Cache-Control", "public"), ("Cache-Control", "max-age=60"))
    assert freshness(200, h).lifetime == 60
    h = resp(("Cache-Control", "max-age=60"), ("Cache-Control", "no-store"))
    assert not freshness(200, h).storable


def test_duplicate_max_age_uses_the_first():
    assert freshness(200, resp(("Cache-Control", "max-age=60, max-age=0"))).lifetime == 60


def test_odd_case_and_spacing():
    f = freshness(200, resp(("cache-control", " Max-Age=60 ,  MUST-REVALIDATE ")))
    assert f.lifetime == 60 and f.must_revalidate


# ---------------------------------------------------------------- storability


def test_plain_cacheable_response_is_storable():
    assert is_storable("GET", [], 200, resp(("Cache-Control", "max-age=60")))
    assert is_storable("HEAD", [], 200, resp(("Cache-Control", "max-age=60")))


def test_unsafe_methods_are_not_stored():
    assert not is_storable("POST", [], 200, resp(("Cache-Control", "max-age=60")))
    assert not is_storable("PUT", [], 200, resp(("Cache-Control", "max-age=60")))


def test_no_freshness_and_no_validator_is_not_stored():
    assert not is_storable("GET", [], 200, resp())
    assert not is_storable("GET", [], 200, resp(("Cache-Control", "public")))


def test_a_validator_alone_makes_it_storable():
    assert is_storable("GET", [], 200, resp(("ETag", '"v1"')))
    assert is_storable("GET", [], 200, resp(("Last-Modified", http_date(T0 - 5))))


def test_no_store_in_response_or_request():
    assert not is_storable("GET", [], 200, resp(("Cache-Control", "max-age=60, no-store")))
    assert not is_storable(
        "GET", [("Cache-Control", "no-store")], 200, resp(("Cache-Control", "max-age=60"))
    )


def test_must_understand_overrides_no_store_for_understood_status():
    h = resp(("Cache-Control", "max-age=60, no-store, must-understand"))
    assert is_storable("GET", [], 200, h)
    assert not is_storable("GET", [], 299, h)


def test_private_is_not_stored_by_a_shared_cache():
    assert not is_storable("GET", [], 200, resp(("Cache-Control", "private, max-age=60")))
    assert not is_storable("GET", [], 200, resp(("Cache-Control", "PRIVATE, max-age=60")))


def test_qualified_private_and_no_cache_strip_only_the_named_fields():
    h = resp(
        ("Cache-Control", 'max-age=60, private="Set-Cookie", no-cache="X-Secret"'),
        ("Set-Cookie", "a=b"),
        ("X-Secret", "s"),
        ("X-Keep", "k"),
    )
    assert is_storable("GET", [], 200, h)
    s = make_stored("GET", [], 200, h, T0, T0)
    names = {n.lower() for n, _ in s.headers}
    assert "set-cookie" not in names and "x-secret" not in names and "x-keep" in names
    assert decide("GET", [], s, T0 + 1).action == "hit"


@pytest.mark.parametrize("cc", ['no-cache=""', "no-cache=,", 'no-cache="a b"'])
def test_unusable_no_cache_field_list_reads_as_bare_no_cache(cc):
    assert freshness(200, resp(("Cache-Control", f"max-age=60, {cc}"))).no_cache


def test_unusable_private_field_list_reads_as_bare_private():
    assert not is_storable("GET", [], 200, resp(("Cache-Control", 'max-age=60, private=""')))


def test_hop_by_hop_fields_are_not_stored():
    h = resp(
        ("Cache-Control", "max-age=60"),
        ("Connection", "close, X-Hop"),
        ("X-Hop", "1"),
        ("Keep-Alive", "timeout=5"),
        ("Transfer-Encoding", "chunked"),
        ("X-End", "2"),
    )
    names = {n.lower() for n, _ in make_stored("GET", [], 200, h, T0, T0).headers}
    assert names == {"date", "cache-control", "x-end"}


def test_authorization_needs_public_s_maxage_or_must_revalidate():
    auth = [("Authorization", "Basic Zm9vOmJhcg==")]
    assert not is_storable("GET", auth, 200, resp(("Cache-Control", "max-age=60")))
    for cc in ("max-age=60, public", "s-maxage=60", "max-age=60, must-revalidate"):
        assert is_storable("GET", auth, 200, resp(("Cache-Control", cc))), cc


@pytest.mark.parametrize("status", [100, 206, 304, 600])
def test_statuses_never_stored(status):
    assert not is_storable("GET", [], status, resp(("Cache-Control", "max-age=60")))


def test_vary_star_is_not_stored():
    h = resp(("Cache-Control", "max-age=60"), ("Vary", "Accept, *"))
    assert storable_reason("GET", [], 200, h) == "Vary: *"


def test_storable_on_5xx_with_explicit_freshness():
    assert is_storable("GET", [], 503, resp(("Cache-Control", "max-age=5")))


# ---------------------------------------------------------------- age


def test_age_header_raises_current_age():
    s = stored(("Cache-Control", "max-age=60"), ("Age", "30"))
    assert current_age(s, T0) == 30
    assert decide("GET", [], s, T0 + 31).action == "revalidate"
    assert decide("GET", [], s, T0 + 29).action == "hit"


def test_apparent_age_from_date():
    # the response says it was generated 10 s before it arrived
    s = stored(("Cache-Control", "max-age=60"), date=T0 - 10)
    assert current_age(s, T0 + 5) == 15


def test_response_delay_is_added_to_age():
    # request sent at T0-4, answer at T0 with Age 3: corrected age 3 + 4
    s = stored(("Cache-Control", "max-age=60"), ("Age", "3"), req=T0 - 4, got=T0)
    assert current_age(s, T0) == 7


def test_current_age_formula_against_the_rfc_text():
    date, req, got, age, now = T0 - 2, T0 - 1.5, T0, 5, T0 + 20
    s = stored(("Cache-Control", "max-age=60"), ("Age", str(age)), date=date, req=req, got=got)
    apparent = max(0, got - date)
    corrected_initial = max(apparent, age + (got - req))
    assert current_age(s, now) == corrected_initial + (now - got)


@pytest.mark.parametrize("value", ["abc", "-5", "1.5", ""])
def test_invalid_age_is_ignored(value):
    assert current_age(stored(("Cache-Control", "max-age=60"), ("Age", value)), T0) == 0


def test_list_based_age_uses_the_first_member():
    assert current_age(stored(("Cache-Control", "max-age=60"), ("Age", "5, 40")), T0) == 5


def test_missing_date_is_added_at_the_response_time():
    s = stored(("Cache-Control", "max-age=60"), date=None, req=T0 + 7, got=T0 + 7)
    assert ("Date", http_date(T0 + 7)) in s.headers
    assert current_age(s, T0 + 7) == 0


def test_age_and_ttl_ignore_the_request():
    s = stored(("Cache-Control", "max-age=60"), ("Vary", "X"), request_headers=[("X", "1")])
    assert age_and_ttl(s, T0 + 15) == (15, 45)


def test_age_header_value():
    assert age_header(12.9) == "12"
    assert age_header(-3) == "0"
    assert age_header(1e12) == str(2**31)


# ---------------------------------------------------------------- vary


def test_vary_matching_and_secondary_key():
    s = stored(
        ("Cache-Control", "max-age=60"),
        ("Vary", "Accept-Encoding"),
        request_headers=[("Accept-Encoding", "gzip")],
    )
    assert vary_matches(s, [("accept-encoding", "gzip")])
    assert not vary_matches(s, [("Accept-Encoding", "br")])
    assert not vary_matches(s, [])
    assert decide("GET", [("Accept-Encoding", "br")], s, T0).detail == "vary-miss"


def test_vary_absent_matches_only_absent():
    s = stored(("Cache-Control", "max-age=60"), ("Vary", "X-Foo"))
    assert vary_matches(s, [])
    assert not vary_matches(s, [("X-Foo", "")])
    assert not vary_matches(s, [("X-Foo", "a")])


def test_vary_normalises_spacing_lines_and_case_where_allowed():
    vh = resp(("Vary", "Accept-Language"), ("Vary", "X-Foo"))
    a = vary_values(vh, [("Accept-Language", "en, fr"), ("X-Foo", "a,b")])
    b = vary_values(vh, [("accept-language", "EN,FR"), ("x-foo", "a"), ("X-FOO", " b ")])
    assert a == b
    # a field whose values are case-sensitive stays so
    assert vary_values(vh, [("X-Foo", "A")]) != vary_values(vh, [("X-Foo", "a")])


def test_vary_key_is_not_empty_when_the_request_lacked_the_field():
    s = stored(("Cache-Control", "max-age=60"), ("Vary", "X-Foo"))
    assert s.vary != ()
    assert stored(("Cache-Control", "max-age=60")).vary == ()


def test_vary_over_several_lines_and_fields():
    s = stored(
        ("Cache-Control", "max-age=60"),
        ("Vary", "A"),
        ("Vary", "b"),
        request_headers=[("A", "1"), ("B", "2")],
    )
    assert vary_matches(s, [("a", "1"), ("b", "2")])
    assert not vary_matches(s, [("a", "1"), ("b", "3")])


def test_vary_star_values_is_none():
    assert vary_values([("Vary", "*")], []) is None


# ---------------------------------------------------------------- reuse decisions


def test_fresh_hit_and_stale_revalidate():
    s = stored(("Cache-Control", "max-age=60"))
    d = decide("GET", [], s, T0 + 10)
    assert (d.action, d.age, d.ttl, d.detail) == ("hit", 10, 50, "fresh")
    d = decide("GET", [], s, T0 + 60)
    assert (d.action, d.detail) == ("revalidate", "stale") and d.ttl == 0


def test_no_stored_response_is_a_miss():
    assert decide("GET", [], None, T0).detail == "uri-miss"
    assert decide("POST", [], stored(("Cache-Control", "max-age=60")), T0).detail == "method"


def test_stored_head_does_not_answer_get():
    s = stored(("Cache-Control", "max-age=60"), method="HEAD")
    assert decide("GET", [], s, T0).action == "miss"
    assert decide("HEAD", [], s, T0).action == "hit"


def test_response_no_cache_always_revalidates():
    s = stored(("Cache-Control", "max-age=60, no-cache"), ("ETag", '"a"'))
    assert decide("GET", [], s, T0 + 1).action == "revalidate"


def test_request_no_cache():
    s = stored(("Cache-Control", "max-age=60"))
    d = decide("GET", [("Cache-Control", "no-cache")], s, T0 + 1)
    assert (d.action, d.detail) == ("revalidate", "request")


def test_request_pragma_no_cache_only_without_cache_control():
    s = stored(("Cache-Control", "max-age=60"))
    assert decide("GET", [("Pragma", "no-cache")], s, T0 + 1).action == "revalidate"
    req = [("Pragma", "no-cache"), ("Cache-Control", "max-stale")]
    assert decide("GET", req, s, T0 + 1).action == "hit"


def test_request_max_age():
    s = stored(("Cache-Control", "max-age=600"))
    assert decide("GET", [("Cache-Control", "max-age=20")], s, T0 + 10).action == "hit"
    assert decide("GET", [("Cache-Control", "max-age=20")], s, T0 + 30).action == "revalidate"
    assert decide("GET", [("Cache-Control", "max-age=0")], s, T0 + 1).action == "revalidate"


def test_request_min_fresh():
    s = stored(("Cache-Control", "max-age=60"))
    assert decide("GET", [("Cache-Control", "min-fresh=30")], s, T0 + 20).action == "hit"
    assert decide("GET", [("Cache-Control", "min-fresh=30")], s, T0 + 40).action == "revalidate"


def test_request_max_stale():
    s = stored(("Cache-Control", "max-age=60"))
    d = decide("GET", [("Cache-Control", "max-stale=30")], s, T0 + 80)
    assert (d.action, d.detail) == ("hit", "max-stale") and d.ttl == -20
    assert decide("GET", [("Cache-Control", "max-stale=10")], s, T0 + 80).action == "revalidate"
    assert decide("GET", [("Cache-Control", "max-stale")], s, T0 + 10**6).action == "hit"


@pytest.mark.parametrize(
    "cc", ["max-age=60, must-revalidate", "max-age=60, proxy-revalidate", "s-maxage=60"]
)
def test_must_revalidate_family_blocks_max_stale(cc):
    s = stored(("Cache-Control", cc))
    assert decide("GET", [("Cache-Control", "max-stale")], s, T0 + 61).action == "revalidate"


def test_only_if_cached():
    s = stored(("Cache-Control", "max-age=60"))
    oic = [("Cache-Control", "only-if-cached")]
    assert decide("GET", oic, s, T0 + 1).action == "hit"
    assert decide("GET", oic, None, T0).action == "gateway-timeout"
    assert decide("GET", oic, s, T0 + 100).action == "gateway-timeout"
    both = [("Cache-Control", "only-if-cached, max-stale")]
    assert decide("GET", both, s, T0 + 100).action == "hit"


def test_stale_while_revalidate_window():
    s = stored(("Cache-Control", "max-age=60, stale-while-revalidate=30"))
    assert decide("GET", [], s, T0 + 59).action == "hit"
    d = decide("GET", [], s, T0 + 80)
    assert (d.action, d.detail) == ("stale", "stale")
    assert decide("GET", [], s, T0 + 91).action == "revalidate"


def test_must_revalidate_blocks_stale_while_revalidate():
    s = stored(("Cache-Control", "max-age=60, stale-while-revalidate=30, must-revalidate"))
    assert decide("GET", [], s, T0 + 70).action == "revalidate"


def test_s_maxage_keeps_the_origins_explicit_swr():
    s = stored(("Cache-Control", "s-maxage=60, stale-while-revalidate=30"))
    assert decide("GET", [], s, T0 + 70).action == "stale"


def test_classify_is_the_same_rule():
    f = freshness(200, resp(("Cache-Control", "max-age=60, stale-while-revalidate=30")))
    assert [classify(a, f) for a in (0, 59.9, 60, 90, 90.1)] == [
        "hit",
        "hit",
        "stale",
        "stale",
        "revalidate",
    ]
    assert classify(0, Freshness(True, 60, False, 0, 0, False, True)) == "revalidate"


def test_vary_mismatch_with_only_if_cached_is_504():
    s = stored(("Cache-Control", "max-age=60"), ("Vary", "X"), request_headers=[("X", "1")])
    req = [("X", "2"), ("Cache-Control", "only-if-cached")]
    assert decide("GET", req, s, T0).action == "gateway-timeout"


# ---------------------------------------------------------------- stale-if-error


def test_stale_if_error_from_response():
    s = stored(("Cache-Control", "max-age=60, stale-if-error=100"))
    assert can_serve_stale_on_error(s, [], T0 + 150)
    assert not can_serve_stale_on_error(s, [], T0 + 161)


def test_stale_if_error_from_request():
    s = stored(("Cache-Control", "max-age=60"))
    assert not can_serve_stale_on_error(s, [], T0 + 70)
    assert can_serve_stale_on_error(s, [("Cache-Control", "stale-if-error=20")], T0 + 70)


def test_configured_grace_when_nothing_says_otherwise():
    s = stored(("Cache-Control", "max-age=60"))
    assert can_serve_stale_on_error(s, [], T0 + 70, default_sie=30)


@pytest.mark.parametrize("cc", ["must-revalidate", "proxy-revalidate", "no-cache"])
def test_must_revalidate_and_no_cache_block_stale_if_error(cc):
    s = stored(("Cache-Control", f"max-age=60, stale-if-error=1000, {cc}"), ("ETag", '"a"'))
    assert not can_serve_stale_on_error(s, [], T0 + 70, default_sie=1000)


# ---------------------------------------------------------------- validation


def test_conditional_headers_from_validators():
    lm = http_date(T0 - 1000)
    s = stored(("Cache-Control", "max-age=0"), ("ETag", '"v1"'), ("Last-Modified", lm))
    assert conditional_headers(s) == [("If-None-Match", '"v1"'), ("If-Modified-Since", lm)]


def test_conditional_headers_fall_back_to_date():
    s = stored(("Cache-Control", "max-age=0"))
    assert conditional_headers(s) == [("If-Modified-Since", http_date(T0))]


def test_merge_304_updates_headers_and_restarts_age():
    s = stored(
        ("Cache-Control", "max-age=60"),
        ("ETag", '"v1"'),
        ("X-Old", "1"),
        ("X-Multi", "a"),
        ("X-Multi", "b"),
        ("Content-Length", "10"),
        ("Age", "50"),
    )
    later = T0 + 100
    m = merge_304(
        s,
        [
            ("Date", http_date(later)),
            ("Cache-Control", "max-age=120"),
            ("ETag", '"v1"'),
            ("X-Multi", "c"),
            ("Content-Length", "0"),
            ("Connection", "close"),
        ],
        later - 1,
        later,
    )
    h = m.headers
    assert ("Cache-Control", "max-age=120") in h and ("X-Old", "1") in h
    assert [v for n, v in h if n == "X-Multi"] == ["c"]
    assert [v for n, v in h if n == "Content-Length"] == ["10"]
    assert not any(n.lower() in ("connection", "age") for n, _ in h)
    assert (m.request_time, m.response_time) == (later - 1, later)
    assert current_age(m, later) == 1  # the response delay only
    assert decide("GET", [], m, later + 100).action == "hit"


def test_merge_304_keeps_fields_that_describe_the_stored_body():
    # RFC 9111 3.2: fields the stored response depends on are not replaced; Content-MD5
    # (RFC 1864) is a digest of the stored body, like Content-Length its size.
    s = stored(("Cache-Control", "max-age=1"), ("ETag", '"v1"'), ("Content-MD5", "A=="))
    m = merge_304(s, [("ETag", '"v1"'), ("Content-MD5", "B=="), ("X-New", "1")], T0, T0)
    assert [v for n, v in m.headers if n == "Content-MD5"] == ["A=="]
    assert ("X-New", "1") in m.headers


def test_merge_304_without_date_dates_it_now():
    s = stored(("Cache-Control", "max-age=60"), ("ETag", '"v1"'))
    m = merge_304(s, [("ETag", '"v1"')], T0 + 500, T0 + 500)
    assert current_age(m, T0 + 510) == 10


def test_304_selects_the_stored_response_by_validator():
    lm = http_date(T0 - 100)
    s = stored(("Cache-Control", "max-age=0"), ("ETag", '"v1"'), ("Last-Modified", lm))
    assert freshens(s, [("ETag", '"v1"')])
    assert not freshens(s, [("ETag", '"v2"')])
    assert freshens(s, [("ETag", 'W/"v1"')])  # weak comparison for a weak validator
    assert freshens(s, [("Last-Modified", lm)])
    assert not freshens(s, [("Last-Modified", http_date(T0 - 50))])
    assert freshens(s, [])  # no validator: the single stored response
    weak = stored(("Cache-Control", "max-age=0"), ("ETag", 'W/"v1"'))
    assert not freshens(weak, [("ETag", '"v1"')])  # strong needs strong
    assert not freshens(stored(("Cache-Control", "max-age=0")), [("ETag", '"v1"')])


def test_head_response_freshens_only_the_same_representation():
    s = stored(("Cache-Control", "max-age=10"), ("ETag", '"v1"'), ("Content-Length", "5"))
    later = T0 + 100
    same = [("Date", http_date(later)), ("Cache-Control", "max-age=60"), ("ETag", '"v1"')]
    m = merge_head(s, same + [("Content-Length", "5")], later, later)
    assert m is not None and decide("GET", [], m, later + 30).action == "hit"
    assert merge_head(s, [("ETag", '"v2"')], later, later) is None
    assert merge_head(s, [("ETag", '"v1"'), ("Content-Length", "6")], later, later) is None


# ---------------------------------------------------------------- invalidation


def test_unsafe_method_invalidates_target_location_content_location():
    h = [("Location", "/new"), ("Content-Location", "http://example.com/cl")]
    got = invalidated_uris("POST", 201, "http://example.com/list", h)
    assert got == ["http://example.com/list", "http://example.com/new", "http://example.com/cl"]


def test_invalidation_is_same_origin_only():
    h = [("Location", "http://other.example/x"), ("Content-Location", "https://example.com/y")]
    assert invalidated_uris("PUT", 200, "http://example.com/a", h) == ["http://example.com/a"]
    h = [("Location", "//evil.example/x"), ("Content-Location", "http://example.com:80/y")]
    assert invalidated_uris("DELETE", 204, "/a", h, host="example.com") == ["/a", "/y"]


def test_malformed_location_is_ignored():
    h = [("Location", "//h:port/x"), ("Content-Location", "http://[::1/y")]
    assert invalidated_uris("POST", 200, "/a", h) == ["/a"]
    assert invalidated_uris("POST", 200, "/a", [("Location", "/b")], host="h:x") == ["/a"]


def test_no_invalidation_for_safe_methods_or_errors():
    assert invalidated_uris("GET", 200, "/a", []) == []
    assert invalidated_uris("POST", 500, "/a", []) == []
    assert invalidated_uris("POST", 404, "/a", []) == []
    assert invalidated_uris("POST", 302, "/a", []) == ["/a"]


# ---------------------------------------------------------------- Cache-Status


def test_cache_status_hit_and_forward():
    assert cache_status(hit=True, ttl=42.4) == "cdn-sim; hit; ttl=42"
    assert (
        cache_status(hit=False, fwd="stale", fwd_status=304, stored=True, ttl=60, collapsed=True)
        == "cdn-sim; fwd=stale; fwd-status=304; stored; collapsed; ttl=60"
    )
    assert cache_status(hit=False, fwd="uri-miss", fwd_status=200, stored=False) == (
        "cdn-sim; fwd=uri-miss; fwd-status=200"
    )


def test_cache_status_detail_and_name_are_structured_field_items():
    assert cache_status(hit=True, detail="no store", name="edge 1") == (
        '"edge 1"; hit; detail="no store"'
    )
    assert cache_status(hit=True, detail="max-stale") == "cdn-sim; hit; detail=max-stale"


# ---------------------------------------------------------------- robustness


def test_garbage_header_values_never_raise():
    # seeded random field values: the server calls these on untrusted input
    import random

    rnd = random.Random(20261126)
    alphabet = 'aZ=,;"\\ \t-09*?()W/:[]%@\x00\x7f\u00e9GMTSunNov'
    for _ in range(3000):
        v = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 24)))
        h = tuple(
            (n, v)
            for n in ("Cache-Control", "CDN-Cache-Control", "Surrogate-Control", "Expires", "Age")
            + ("Vary", "ETag")
            + ("Last-Modified", "Date", "Connection", "Pragma", "Location", "Content-Location")
        )
        s = make_stored("GET", [("X", v)], 200, h, 0.0, 1.0, surrogate=v if v.isalpha() else "")
        d = decide("GET", [("Cache-Control", v), ("Pragma", v)], s, 5.0)
        assert d.action in ("hit", "stale", "revalidate", "miss", "gateway-timeout")
        can_serve_stale_on_error(s, [("Cache-Control", v)], 5.0)
        conditional_headers(s)
        freshens(s, h)
        merge_304(s, h, 2.0, 3.0)
        is_storable("GET", [("Authorization", v)], 200, h)
        assert invalidated_uris("POST", 200, v or "/", h, host=v)[0] == (v or "/")
