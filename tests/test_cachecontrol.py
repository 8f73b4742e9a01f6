"""Header field parsing for the cache, rule by rule from RFC 9110, 9111 and 9213."""

from __future__ import annotations

import calendar
import email.utils

import pytest

from edge.cachecontrol import (
    DELTA_MAX,
    delta_seconds,
    field_names,
    format_http_date,
    get_all,
    get_one,
    parse_directives,
    parse_etag,
    parse_etag_list,
    parse_http_date,
    parse_surrogate,
    parse_targeted,
    split_list,
    strong_match,
    weak_match,
)

# RFC 9110 5.6.7 example instant, computed independently of the parser.
EXAMPLE = float(calendar.timegm((1994, 11, 6, 8, 49, 37, 0, 0, 0)))


def test_get_all_is_case_insensitive_and_keeps_every_line():
    h = [("Cache-Control", "max-age=1"), ("X", "y"), ("cache-control", "public")]
    assert get_all(h, "CACHE-CONTROL") == ["max-age=1", "public"]
    assert get_one(h, "cache-control") == "max-age=1"
    assert get_one(h, "missing") is None


def test_directives_across_two_field_lines_combine():
    # the naive-cache failure: reading only the first line
    d = parse_directives(["public", "max-age=60"])
    assert d == {"public": None, "max-age": "60"}


def test_directive_names_are_case_insensitive_and_spacing_is_optional():
    d = parse_directives(["  MAX-AGE=60 ,,\tNo-Store ,  "])
    assert d == {"max-age": "60", "no-store": None}


def test_quoted_string_with_commas_is_one_argument():
    d = parse_directives(['private="Set-Cookie, X-Foo", max-age=5'])
    assert d == {"private": "Set-Cookie, X-Foo", "max-age": "5"}
    assert field_names(d["private"]) == ["set-cookie", "x-foo"]


def test_quoted_pair_is_unescaped():
    assert parse_directives([r'ext="a\"b\\c", x'])["ext"] == 'a"b\\c'


def test_quoted_form_of_max_age_is_accepted():
    # RFC 9111 5.2: recipients ought to accept both token and quoted-string forms
    assert delta_seconds(parse_directives(['max-age="30"'])["max-age"]) == 30


def test_duplicate_directive_first_occurrence_wins():
    assert parse_directives(["max-age=10, max-age=20"])["max-age"] == "10"
    assert parse_directives(["max-age=10", "max-age=20"])["max-age"] == "10"


def test_duplicate_no_cache_takes_the_most_restrictive_reading():
    assert parse_directives(['no-cache="a", no-cache'])["no-cache"] is None
    assert parse_directives(['no-cache="a"', 'no-cache="b"'])["no-cache"] == "a, b"


def test_malformed_elements():
    # space around "=" is not in the grammar: the name stays, the argument is invalid
    assert parse_directives(["max-age =5"]) == {"max-age": ""}
    assert parse_directives(["max-age=5 6, public"]) == {"max-age": "", "public": None}
    # an element that does not start with a token is dropped, the rest survives
    assert parse_directives(['"junk", =5, public']) == {"public": None}
    # an unterminated quoted string swallows the rest of the line
    assert parse_directives(['ext="abc, max-age=5']) == {"ext": ""}


@pytest.mark.parametrize(
    "value,expected",
    [
        ("0", 0),
        ("60", 60),
        ("007", 7),
        (str(2**31 - 1), 2**31 - 1),
        (str(2**31), DELTA_MAX),
        ("9" * 40, DELTA_MAX),  # saturates (RFC 9111 1.2.2)
        ("abc", None),
        ("-1", None),
        ("1.5", None),
        ("", None),
        (" 5", None),
        ("+5", None),
        ("٣", None),  # a non-ASCII digit is not DIGIT
        (None, None),
    ],
)
def test_delta_seconds(value, expected):
    assert delta_seconds(value) == expected


def test_split_list_respects_quotes():
    assert split_list('a, "b, c" ,, d') == ["a", '"b, c"', "d"]


def test_parse_http_date_three_formats():
    assert parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == EXAMPLE
    assert parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT") == EXAMPLE
    assert parse_http_date("Sun Nov  6 08:49:37 1994") == EXAMPLE


def test_parse_http_date_agrees_with_email_utils():
    for t in (0, 784111777, 1700000000, 2**31 + 12345):
        text = email.utils.formatdate(t, usegmt=True)
        assert parse_http_date(text) == float(t)
        assert format_http_date(t) == text


def test_rfc850_two_digit_year_relative_to_now():
    now_2026 = float(calendar.timegm((2026, 1, 1, 0, 0, 0, 0, 0, 0)))
    # 2070 is within 50 years of 2026; 2094 is not, so 94 -> 1994
    assert parse_http_date("Tuesday, 01-Jan-70 00:00:00 GMT", now=now_2026) == float(
        calendar.timegm((2070, 1, 1, 0, 0, 0, 0, 0, 0))
    )
    assert parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", now=now_2026) == EXAMPLE


@pytest.mark.parametrize(
    "text",
    [
        "0",
        "",
        "-1",
        "Sun, 06 Nov 1994 08:49:37 UTC",  # zone must be GMT
        "Sun, 06 Nov 1994 08:49:37 gmt",  # case-sensitive
        "sun, 06 Nov 1994 08:49:37 GMT",
        "Sun, 06 nov 1994 08:49:37 GMT",
        "Sun, 6 Nov 1994 08:49:37 GMT",  # 2DIGIT day
        "Sun, 06 Nov 1994 8:49:37 GMT",  # 2DIGIT hour
        "Sun,  06 Nov 1994 08:49:37 GMT",  # extra space
        "Sun 06 Nov 1994 08:49:37 GMT",  # no comma
        "Sun, 06-Nov-1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08.49.37 GMT",
        "Sun, 31 Nov 1994 08:49:37 GMT",  # no such day
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:49:37 +0000",
        "1994-11-06T08:49:37Z",
        "Sun, 06 Nov 0000 08:49:37 GMT",  # no year 0
        "Sun, 29 Feb 1900 08:49:37 GMT",  # not a leap year
    ],
)
def test_invalid_dates_are_none(text):
    assert parse_http_date(text) is None


def test_etags():
    assert parse_etag(' "abc" ') == '"abc"'
    assert parse_etag('W/"abc"') == 'W/"abc"'
    assert parse_etag("abc") is None
    assert parse_etag('"a"b"') is None
    assert parse_etag_list('"a", W/"b", junk') == ['"a"', 'W/"b"']
    assert parse_etag_list(['"a"', ' "b" ']) == ['"a"', '"b"']
    assert parse_etag_list("*") == "*"
    assert parse_etag_list('"a,b", "c"') == ['"a,b"', '"c"']


def test_etag_comparison_table():
    # RFC 9110 8.8.3.2 example table
    assert not strong_match('W/"1"', 'W/"1"') and weak_match('W/"1"', 'W/"1"')
    assert not strong_match('W/"1"', 'W/"2"') and not weak_match('W/"1"', 'W/"2"')
    assert not strong_match('W/"1"', '"1"') and weak_match('W/"1"', '"1"')
    assert strong_match('"1"', '"1"') and weak_match('"1"', '"1"')


def test_targeted_field_is_a_structured_dictionary():
    assert parse_targeted(["max-age=60", "stale-while-revalidate=30"]) == {
        "max-age": "60",
        "stale-while-revalidate": "30",
    }
    assert parse_targeted(['private="set-cookie", no-store']) == {
        "private": "set-cookie",
        "no-store": None,
    }
    assert parse_targeted(["no-store=?0, max-age=5"]) == {"max-age": "5"}
    assert parse_targeted(["max-age=5;foo=bar"]) == {"max-age": "5"}
    assert parse_targeted(["max-age=5, max-age=9"]) == {"max-age": "9"}  # SF: last wins


@pytest.mark.parametrize(
    "lines",
    [[], [""], ["Max-Age=60"], ["max-age=60,"], ["max-age=60 public"], ['a="x'], ["a=(1 2)"]],
)
def test_targeted_field_invalid_or_empty_is_ignored(lines):
    assert parse_targeted(lines) is None


# Surrogate-Control, W3C Edge Architecture Specification 1.0 section 3:
#   Surrogate-Control = 1#surrogate-directive
#   surrogate-directive = control-directive [ ";" device-token ]


def test_surrogate_control_untargeted_members_apply_to_every_surrogate():
    lines = ["MaX-aGe=3600, foobar", 'content="ESI/1.0"', "no-store-remote"]
    want = {"max-age": "3600", "foobar": None, "content": "ESI/1.0", "no-store-remote": None}
    assert parse_surrogate(lines) == want
    assert parse_surrogate(lines, "edge1") == want


def test_surrogate_control_targets_select_the_device():
    line = "max-age=60, max-age=300;edge1, no-store;edge2"
    assert parse_surrogate([line]) == {"max-age": "60"}  # no device token: untargeted only
    assert parse_surrogate([line], "edge1") == {"max-age": "300"}  # targeted overrides
    assert parse_surrogate([line], "Edge2") == {"max-age": "60", "no-store": None}
    assert parse_surrogate([line], "edge3") == {"max-age": "60"}
    assert parse_surrogate(["max-age=60;other"], "edge1") is None
    assert parse_surrogate(["max-age = 60 ; edge1"], "edge1") == {"max-age": ""}  # bad argument


def test_surrogate_control_targets_follow_quoted_strings():
    assert parse_surrogate(['content="a;b, c";edge1'], "edge1") == {"content": "a;b, c"}
    assert parse_surrogate(['content="a;b, c";edge1'], "x") is None


@pytest.mark.parametrize("member", ["max-age=60;", "max-age=60;a b", 'max-age=60;"e"', "x;y;z"])
def test_surrogate_control_members_with_a_malformed_target_are_dropped(member):
    assert parse_surrogate([member + ", no-store"], "e") == {"no-store": None}


def test_surrogate_control_freshness_extension():
    assert parse_surrogate(["max-age=30+60"]) == {"max-age": "30", "stale-if-error": "60"}
    assert parse_surrogate(["stale-if-error=5, max-age=30+60"]) == {
        "stale-if-error": "5",
        "max-age": "30",
    }
    # a targeted max-age replaces the untargeted one, extension and all
    assert parse_surrogate(["max-age=30+60, max-age=10;e"], "e") == {"max-age": "10"}


@pytest.mark.parametrize("lines", [[], [""], [" , ,"], ["max-age=1;other"]])
def test_surrogate_control_absent_or_empty_is_none(lines):
    assert parse_surrogate(lines, "e") is None


def test_docstring_examples_hold():
    import doctest

    import edge.cachecontrol
    import edge.policy

    for module in (edge.cachecontrol, edge.policy):
        result = doctest.testmod(module)
        assert result.failed == 0 and result.attempted > 0, module.__name__
