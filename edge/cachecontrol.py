"""Parsing the header fields an HTTP cache reads (RFC 9110, RFC 9111, RFC 9213).

Theory of operation
-------------------
Headers are plain sequences of ``(name, value)`` string pairs, one pair per
field line, names in any case, possibly repeated. Nothing here knows about
sockets, aiohttp or the clock: every function takes strings (and, where a date
needs a reference, a time passed in) and returns plain values.

A list-based field (``Cache-Control``, ``Vary``, ``If-None-Match``) may be
split over several field lines; RFC 9110 5.3 says the lines combine, in order,
as if joined by commas. The usual naive-cache failure is reading only the
first line, so :func:`parse_directives` always takes *all* the lines.

``Cache-Control`` (RFC 9111 5.2) is a comma list of ``token [ "=" ( token /
quoted-string ) ]``. The parser is a small scanner that respects quoted
strings (commas inside quotes do not split), unescapes quoted-pairs,
lowercases directive names and drops elements that are not directives. An
element whose name parses but whose argument does not (``max-age =5``,
``max-age=5 6``) keeps its name with the empty string as its value, so a
restrictive directive still restricts and a delta-seconds directive reads as
invalid. Duplicates: the first occurrence wins (RFC 9111 4.2.1), except that
``no-cache`` and ``private`` take the most restrictive reading: any bare
occurrence makes them bare, otherwise their field-name lists are united.

``CDN-Cache-Control`` (RFC 9213) is a Structured Field Dictionary (RFC 8941);
:func:`parse_targeted` parses it strictly and returns ``None`` on any parse
error, which tells the caller to ignore the field and fall back to
``Cache-Control``.

``Surrogate-Control`` (W3C Edge Architecture Specification 1.0, section 3)
is a comma list of ``directive [ ";" device-token ]``, each directive in
Cache-Control syntax. :func:`parse_surrogate` keeps the members that apply
to one device: untargeted members apply to every surrogate; a member
targeted at the device (``max-age=60;edge1``) overrides an untargeted
directive of the same name (per directive, as Squid merges them); members
targeted at another device, or with a malformed target, are dropped. The
spec's ``max-age=N+M`` (a freshness extension of ``M`` seconds) comes back as
``max-age`` ``N`` plus ``stale-if-error`` ``M`` unless the field gives that
directive itself: what the extension allows, used where it is safest
(serving a stale copy only when the origin cannot answer).

Dates are ``HTTP-date`` (RFC 9110 5.6.7): IMF-fixdate, and the obsolete
RFC 850 and asctime forms, matched strictly (case-sensitive names, exact
spacing). Anything else is ``None``; the policy then treats an invalid
``Expires`` as already expired, as RFC 9111 5.3 requires.

Argument kinds of the known directives are one table, :data:`DIRECTIVES`.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Sequence
from email.utils import formatdate

Headers = Sequence[tuple[str, str]]

DELTA_MAX = 2**31  # RFC 9111 1.2.2: saturate delta-seconds here

# Directive name -> argument kind. "delta": delta-seconds required;
# "delta?": optional delta-seconds; "fields?": optional quoted list of field
# names; None: no argument.
DIRECTIVES: dict[str, str | None] = {
    # response directives (RFC 9111 5.2.2, RFC 5861, RFC 8246)
    "max-age": "delta",
    "s-maxage": "delta",
    "must-revalidate": None,
    "must-understand": None,
    "no-cache": "fields?",
    "no-store": None,
    "no-transform": None,
    "private": "fields?",
    "proxy-revalidate": None,
    "public": None,
    "immutable": None,
    "stale-while-revalidate": "delta",
    "stale-if-error": "delta",
    # request-only directives (RFC 9111 5.2.1)
    "max-stale": "delta?",
    "min-fresh": "delta",
    "only-if-cached": None,
}

_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_OWS = " \t"


def get_all(headers: Headers, name: str) -> list[str]:
    """The values of every field line named ``name`` (case-insensitive), in order."""
    name = name.lower()
    return [v for n, v in headers if n.lower() == name]


def get_one(headers: Headers, name: str) -> str | None:
    """The value of the first field line named ``name``, stripped, or ``None``.

    For singleton fields (Date, Expires, Last-Modified, ETag). Dates contain
    commas, so this does not split on them.
    """
    name = name.lower()
    for n, v in headers:
        if n.lower() == name:
            return v.strip(_OWS)
    return None


def is_token(s: str) -> bool:
    return bool(s) and all(c in _TCHAR for c in s)


def _skip_ows(s: str, i: int) -> int:
    n = len(s)
    while i < n and s[i] in _OWS:
        i += 1
    return i


def _quoted_string(s: str, i: int) -> tuple[str, int] | None:
    """Parse a quoted-string starting at s[i] == '"'; (unquoted, index after) or None."""
    out: list[str] = []
    i += 1
    n = len(s)
    while i < n:
        c = s[i]
        if c == '"':
            return "".join(out), i + 1
        if c == "\\":
            if i + 1 >= n:
                return None
            out.append(s[i + 1])
            i += 2
            continue
        out.append(c)
        i += 1
    return None  # unterminated


def _skip_element(s: str, i: int) -> int:
    """Skip to the comma that ends the current list element, honouring quotes."""
    n = len(s)
    while i < n and s[i] != ",":
        if s[i] == '"':
            q = _quoted_string(s, i)
            if q is None:
                return n
            i = q[1]
        else:
            i += 1
    return i


def split_list(value: str) -> list[str]:
    """Split one ``#element`` list on commas outside quoted strings; strip; drop empties."""
    if '"' not in value:  # the common case: no quoted strings, plain split
        return [m for m in (p.strip(_OWS) for p in value.split(",")) if m]
    out: list[str] = []
    i, n = 0, len(value)
    while i < n:
        j = _skip_element(value, i)
        item = value[i:j].strip(_OWS)
        if item:
            out.append(item)
        i = j + 1
    return out


def parse_directives(values: Iterable[str]) -> dict[str, str | None]:
    """Cache-Control directives from all field lines: ``{name: argument or None}``.

    >>> parse_directives(['max-age=60, private="Set-Cookie, X"', "No-Store"])
    {'max-age': '60', 'private': 'Set-Cookie, X', 'no-store': None}
    """
    out: dict[str, str | None] = {}
    for line in values:
        i, n = 0, len(line)
        while i < n:
            i = _skip_ows(line, i)
            if i >= n:
                break
            if line[i] == ",":
                i += 1
                continue
            j = i
            while j < n and line[j] in _TCHAR:
                j += 1
            if j == i:  # not a token: drop this element
                i = _skip_element(line, i) + 1
                continue
            name = line[i:j].lower()
            arg: str | None = None
            if j < n and line[j] == "=":
                j += 1
                if j < n and line[j] == '"':
                    q = _quoted_string(line, j)
                    if q is None:
                        arg, j = "", n
                    else:
                        arg, j = q
                else:
                    k = j
                    while k < n and line[k] in _TCHAR:
                        k += 1
                    arg, j = line[j:k], k
            j = _skip_ows(line, j)
            if j < n and line[j] != ",":  # trailing garbage: name kept, argument invalid
                arg = ""
                j = _skip_element(line, j)
            _add_directive(out, name, arg)
            i = j + 1
    return out


def _add_directive(out: dict[str, str | None], name: str, arg: str | None) -> None:
    if name not in out:
        out[name] = arg
    elif DIRECTIVES.get(name) == "fields?":
        # most restrictive: bare wins, otherwise unite the field lists
        old = out[name]
        if old is None or arg is None:
            out[name] = None
        else:
            out[name] = ", ".join(dict.fromkeys(field_names(old) + field_names(arg)))


def field_names(value: str | None) -> list[str]:
    """A comma list of field names (``no-cache="a, B"``, ``Vary``), lowercased."""
    if not value:
        return []
    return [f.lower() for f in split_list(value) if is_token(f)]


def delta_seconds(value: str | None) -> int | None:
    """RFC 9111 1.2.2 delta-seconds: ``1*DIGIT``, saturated at 2**31; else None.

    >>> delta_seconds("60"), delta_seconds("99999999999"), delta_seconds("-1")
    (60, 2147483648, None)
    """
    if value is None or not value.isascii() or not value.isdigit():
        return None
    return min(int(value), DELTA_MAX)


# ---------------------------------------------------------------- Structured Fields


_SF_KEY = re.compile(r"[a-z*][a-z0-9_\-.*]*")
_SF_NUM = re.compile(r"-?\d{1,15}(?:\.\d{1,3})?")
_SF_TOKEN = re.compile(r"[A-Za-z*][!#$%&'*+\-.^_`|~:/0-9A-Za-z]*")
_SF_BYTES = re.compile(r":[A-Za-z0-9+/=]*:")


def _sf_bare_item(s: str, i: int) -> tuple[object, int]:
    if i >= len(s):
        raise ValueError("missing value")
    c = s[i]
    if c == '"':
        out: list[str] = []
        i += 1
        while i < len(s):
            c = s[i]
            if c == "\\":
                if i + 1 >= len(s) or s[i + 1] not in '"\\':
                    raise ValueError("bad escape")
                out.append(s[i + 1])
                i += 2
            elif c == '"':
                return "".join(out), i + 1
            elif not (" " <= c <= "~"):
                raise ValueError("bad character in string")
            else:
                out.append(c)
                i += 1
        raise ValueError("unterminated string")
    if c == "?":
        if s[i + 1 : i + 2] in ("0", "1"):
            return s[i + 1] == "1", i + 2
        raise ValueError("bad boolean")
    m = _SF_NUM.match(s, i)
    if m:
        return m.group(), m.end()
    m = _SF_TOKEN.match(s, i) or _SF_BYTES.match(s, i)
    if m:
        return m.group(), m.end()
    raise ValueError("bad item")


def _sf_params(s: str, i: int) -> int:
    while i < len(s) and s[i] == ";":
        i += 1
        while i < len(s) and s[i] == " ":
            i += 1
        m = _SF_KEY.match(s, i)
        if not m:
            raise ValueError("bad parameter key")
        i = m.end()
        if i < len(s) and s[i] == "=":
            _, i = _sf_bare_item(s, i + 1)
    return i


def parse_targeted(values: Iterable[str]) -> dict[str, str | None] | None:
    """A targeted cache-control field (RFC 9213) as directives, or None if absent/invalid.

    The field is an RFC 8941 Dictionary: lowercase keys, the last duplicate
    wins, ``?1``/bare means the directive is present, ``?0`` means absent,
    integers, tokens and strings become their text. Inner lists are not used
    by any cache directive and count as a parse error.

    >>> parse_targeted(["max-age=60, no-store=?0"])
    {'max-age': '60'}
    >>> parse_targeted(["Max-Age=60"]) is None
    True
    """
    s = ", ".join(v.strip(" \t") for v in values)
    s = s.strip(" ")
    if not s:
        return None
    out: dict[str, str | None] = {}
    i, n = 0, len(s)
    try:
        while True:
            m = _SF_KEY.match(s, i)
            if not m:
                return None
            key, i = m.group(), m.end()
            value: object = True
            if i < n and s[i] == "=":
                if s[i + 1 : i + 2] == "(":
                    return None
                value, i = _sf_bare_item(s, i + 1)
            i = _sf_params(s, i)
            out.pop(key, None)  # last wins, and takes the last position
            if value is not False:
                out[key] = None if value is True else str(value)
            i = _skip_ows(s, i)
            if i >= n:
                return out
            if s[i] != ",":
                return None
            i = _skip_ows(s, i + 1)
            if i >= n:
                return None  # trailing comma
    except ValueError:
        return None


# ---------------------------------------------------------------- Surrogate-Control


def _split_target(member: str) -> tuple[str, str | None] | None:
    """``directive[;device-token]`` -> (directive, token or None); None if the target is bad."""
    i, n = 0, len(member)
    while i < n and member[i] != ";":
        if member[i] == '"':
            q = _quoted_string(member, i)
            if q is None:
                return member, None  # unterminated quote: no target can follow
            i = q[1]
        else:
            i += 1
    if i >= n:
        return member, None
    token = member[i + 1 :].strip(_OWS)
    return (member[:i].rstrip(_OWS), token) if is_token(token) else None


def parse_surrogate(values: Iterable[str], device: str = "") -> dict[str, str | None] | None:
    """The Surrogate-Control directives that apply to ``device``, or None if none do.

    ``device`` is this surrogate's device token ("" for none: untargeted
    members only); tokens compare case-insensitively.

    >>> parse_surrogate(['max-age=60+30, no-store;other'], "edge1")
    {'max-age': '60', 'stale-if-error': '30'}
    >>> parse_surrogate(['max-age=60, content="ESI/1.0"', "max-age=5;Edge1"], "edge1")
    {'max-age': '5', 'content': 'ESI/1.0'}
    >>> parse_surrogate(["max-age=60;other"], "edge1") is None
    True
    """
    device = device.lower()
    generic: list[str] = []
    mine: list[str] = []
    for line in values:
        for member in split_list(line):
            split = _split_target(member)
            if split is None:
                continue  # "max-age=60;" or a target that is not a token: aimed at no one
            directive, token = split
            if token is None:
                generic.append(directive)
            elif device and token.lower() == device:
                mine.append(directive)
    out = parse_directives(generic)
    out.update(parse_directives(mine))
    age = out.get("max-age")
    if age and "+" in age:
        out["max-age"], extension = age.split("+", 1)
        out.setdefault("stale-if-error", extension)
    return out or None


# ---------------------------------------------------------------- dates


_MONTHS = {m: k for k, m in enumerate(calendar.month_abbr) if m}
_DAYS = "Mon|Tue|Wed|Thu|Fri|Sat|Sun"
_LONG_DAYS = "Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
_MON = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
_TIME = r"(\d\d):(\d\d):(\d\d)"
_IMF = re.compile(rf"(?:{_DAYS}), (\d\d) ({_MON}) (\d{{4}}) {_TIME} GMT")
_RFC850 = re.compile(rf"(?:{_LONG_DAYS}), (\d\d)-({_MON})-(\d\d) {_TIME} GMT")
_ASCTIME = re.compile(rf"(?:{_DAYS}) ({_MON}) ([ \d]\d) {_TIME} (\d{{4}})")


def parse_http_date(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds since the epoch for an HTTP-date (RFC 9110 5.6.7), or None if invalid.

    RFC 850's two-digit year is taken as the most recent year with those
    digits that is not more than 50 years after ``now`` (without ``now``:
    00-69 -> 20xx, 70-99 -> 19xx).

    >>> parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT")
    784111777.0
    >>> parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT")
    784111777.0
    >>> parse_http_date("Sun Nov  6 08:49:37 1994")
    784111777.0
    """
    if value is None:
        return None
    value = value.strip(_OWS)
    if m := _IMF.fullmatch(value):
        day, mon, year, hh, mm, ss = m.groups()
    elif m := _ASCTIME.fullmatch(value):
        mon, day, hh, mm, ss, year = m.groups()
        if day[0] == " " and day[1] == "0":
            return None
    elif m := _RFC850.fullmatch(value):
        day, mon, yy, hh, mm, ss = m.groups()
        y2 = int(yy)
        if now is None:
            year = str(2000 + y2 if y2 < 70 else 1900 + y2)
        else:
            this_year = _year_of(now)
            y = this_year - this_year % 100 + y2
            if y > this_year + 50:
                y -= 100
            year = str(y)
    else:
        return None
    y, mo, d = int(year), _MONTHS[mon], int(day)
    h, mi, s = int(hh), int(mm), int(ss)
    if y < 1 or not (1 <= d <= calendar.monthrange(y, mo)[1]) or h > 23 or mi > 59 or s > 60:
        return None
    return float(calendar.timegm((y, mo, d, h, mi, min(s, 59), 0, 0, 0)))


def _year_of(t: float) -> int:
    import time as _time  # stdlib conversion only; no clock is read

    return _time.gmtime(t).tm_year


def format_http_date(t: float) -> str:
    """IMF-fixdate for ``t`` (seconds since the epoch): ``Sun, 06 Nov 1994 08:49:37 GMT``."""
    return formatdate(int(t), usegmt=True)


# ---------------------------------------------------------------- entity tags


_ETAG = re.compile(r'(W/)?"([\x21\x23-\x7e\x80-\xff]*)"')


def parse_etag(value: str | None) -> str | None:
    """A single entity-tag (the ETag field), normalised, or None if invalid."""
    if value is None:
        return None
    value = value.strip(_OWS)
    return value if _ETAG.fullmatch(value) else None


def parse_etag_list(value: str | Iterable[str] | None) -> list[str] | str:
    """If-None-Match / If-Match: ``"*"`` or the list of valid entity-tags.

    Accepts one field value or all the field lines; invalid members are dropped.

    >>> parse_etag_list('"a", W/"b" , bogus')
    ['"a"', 'W/"b"']
    >>> parse_etag_list(" * ")
    '*'
    """
    if value is None:
        return []
    lines = [value] if isinstance(value, str) else list(value)
    members = [m for line in lines for m in split_list(line)]
    if members == ["*"]:
        return "*"
    return [m for m in members if _ETAG.fullmatch(m)]


def is_weak(etag: str) -> bool:
    return etag.startswith("W/")


def opaque(etag: str) -> str:
    return etag[2:] if etag.startswith("W/") else etag


def strong_match(a: str, b: str) -> bool:
    """RFC 9110 8.8.3.2 strong comparison: both strong and identical."""
    return not is_weak(a) and not is_weak(b) and a == b


def weak_match(a: str, b: str) -> bool:
    """RFC 9110 8.8.3.2 weak comparison: opaque tags identical, W/ ignored."""
    return opaque(a) == opaque(b)
