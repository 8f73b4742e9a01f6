"""Which file a request-target names, without ever leaving the root.

Theory of operation: the request-target arrives as raw bytes-turned-text
(``request.raw_path``), before any framework decoding or normalisation. We
decide on that raw form, in two steps:

1. :func:`split_target` (pure, string only) turns the target into a tuple of
   decoded path segments, or refuses it. Refused: anything not starting with
   ``/`` (other than an absolute URL, whose path is used), ``//`` (an
   absolute filesystem path in disguise), backslashes raw or encoded
   (``%5c``), an encoded slash (``%2f``: a segment must not contain ``/``),
   NUL raw or encoded, other control characters, bad percent-encoding or
   UTF-8, and the segments ``.`` and ``..`` in any spelling (``%2e%2e``).
   Refusing instead of normalising means no second decoder can disagree with
   us later.
2. :func:`resolve` walks the segments under the (already resolved) root;
   at the first symlink it resolves the rest (``os.path.realpath``) and checks
   that the result is still inside the root, so a symlink pointing outside is
   refused too, at any depth. A directory means its ``index.html``.

A refusal carries the status to answer (404 for anything that tries to leave
the root, so probes learn nothing; 400 for malformed encoding) and a reason
for the log line. :func:`file_etag` and :func:`http_date` make validators
from ``os.stat`` results. Only ``resolve`` touches the filesystem (``lstat``,
``stat`` and ``realpath``, never ``open``).

>>> split_target("/a/b%20c.txt?x=1")
('a', 'b c.txt')
>>> split_target("/a/%2e%2e/etc/passwd").reason
'dot segment'
"""

from __future__ import annotations

import functools
import os
import stat as stat_mod
from dataclasses import dataclass
from datetime import UTC
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

INDEX = "index.html"


@dataclass(frozen=True)
class Refused:
    status: int  # 404 or 400
    reason: str
    suspicious: bool = True  # worth a warning in the log (False: plain "not found")


@dataclass(frozen=True)
class Found:
    path: str  # real path of a regular file under the root
    url_path: str  # the path that rules match: the index file's for a directory
    stat: os.stat_result


def split_target(target: str) -> tuple[str, ...] | Refused:
    """Decoded path segments of a raw request-target, or why it is refused.

    A trailing ``/`` yields a final empty segment (a directory request).
    """
    if target.startswith(("http://", "https://")):  # absolute-form (RFC 9112 3.2.2)
        target = urlsplit(target).path or "/"
    path = target.split("?", 1)[0].split("#", 1)[0]
    if not path.startswith("/"):
        return Refused(400, "request-target is not an absolute path")
    if "\0" in path or "%00" in path:
        return Refused(404, "NUL byte")
    if "\\" in path or "%5c" in path.lower():
        return Refused(404, "backslash")
    if "%2f" in path.lower():
        return Refused(404, "encoded slash")
    raw_segments = path[1:].split("/")
    segments = []
    for i, raw in enumerate(raw_segments):
        try:
            seg = unquote(raw, encoding="utf-8", errors="strict")
        except UnicodeDecodeError:
            return Refused(400, "percent-encoding is not UTF-8")
        if "%" in raw and not _valid_escapes(raw):
            return Refused(400, "malformed percent-encoding")
        if seg in (".", ".."):
            return Refused(404, "dot segment")
        if seg == "" and i != len(raw_segments) - 1:
            return Refused(404, "empty segment (absolute path?)")
        if any(ord(c) < 0x20 or c == "\x7f" for c in seg):
            return Refused(404, "control character")
        if "/" in seg or "\\" in seg or "\0" in seg:  # belt and braces after decoding
            return Refused(404, "separator inside a segment")
        segments.append(seg)
    return tuple(segments)


def _valid_escapes(raw: str) -> bool:
    i = raw.find("%")
    while i != -1:
        if i + 3 > len(raw) or not all(c in "0123456789abcdefABCDEF" for c in raw[i + 1 : i + 3]):
            return False
        i = raw.find("%", i + 3)
    return True


def resolve(root: Path, target: str) -> Found | Refused:
    """The regular file under ``root`` that ``target`` names, or a refusal.

    ``root`` should already be absolute and resolved (``Path.resolve()``).
    """
    segments = split_target(target)
    if isinstance(segments, Refused):
        return segments
    url_path = "/" + "/".join(segments)
    root_s = str(root)
    parts = [seg for seg in segments if seg]
    real = _real_path(root_s, parts)
    if real is None:
        return Refused(404, "resolves outside the root")
    try:
        st = os.stat(real)
        if stat_mod.S_ISDIR(st.st_mode):
            real = _real_path(root_s, [*parts, INDEX])
            if real is None:
                return Refused(404, "index resolves outside the root")
            url_path = url_path.rstrip("/") + "/" + INDEX
            st = os.stat(real)
        elif segments and segments[-1] == "":  # "/file.txt/" names no directory
            return Refused(404, "not a directory", suspicious=False)
    except (OSError, ValueError):
        return Refused(404, "not found", suspicious=False)
    if not stat_mod.S_ISREG(st.st_mode):
        return Refused(404, "not a regular file", suspicious=False)
    return Found(real, url_path, st)


def _real_path(root: str, parts: list[str]) -> str | None:
    """The real path of ``root/parts`` when it stays inside ``root``, else None.

    One ``lstat`` per part; only when a part is a symlink is the rest resolved
    with ``realpath`` and checked against the root.
    """
    path = root
    for i, part in enumerate(parts):
        path = os.path.join(path, part)
        try:
            mode = os.lstat(path).st_mode
        except (OSError, ValueError):
            return path  # missing: nothing to follow, the caller's stat fails
        if stat_mod.S_ISLNK(mode):
            real = os.path.realpath(os.path.join(path, *parts[i + 1 :]))
            return real if _inside(root, real) else None
    return path


def _inside(root: str, path: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def file_etag(st: os.stat_result) -> str:
    """A strong entity tag (quoted) from inode, size and modification time."""
    return f'"{st.st_ino:x}-{st.st_size:x}-{st.st_mtime_ns:x}"'


@functools.lru_cache(maxsize=1024)  # few distinct mtimes; formatting is not free
def http_date(seconds: float) -> str:
    """An IMF-fixdate (RFC 9110 5.6.7) for a POSIX time, whole seconds."""
    return formatdate(int(seconds), usegmt=True)


def parse_http_date(value: str) -> int | None:
    """POSIX seconds of an HTTP date (any of the three RFC 9110 formats), else None."""
    try:
        dt = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if dt.tzinfo is None:  # "-0000" or no zone: HTTP dates are always GMT
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp())
