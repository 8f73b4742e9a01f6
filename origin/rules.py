"""Cache-Control and Surrogate-Key headers chosen by URL path pattern.

Theory of operation: the origin decides how long caches may keep a response,
and CDNs let the origin say it per path. A rule is ``(pattern, value)`` where
the pattern is a shell-style glob (:func:`fnmatch.fnmatchcase`, case-sensitive)
matched against the whole URL path; ``*`` also matches ``/``, so ``*.html``
covers every directory. For a directory request the path matched is the index
file's (``/docs/`` is matched as ``/docs/index.html``).

- Cache-Control: the first matching rule wins; when none matches,
  ``default_cache_control`` applies (:data:`DEFAULT_CACHE_CONTROL`,
  ``max-age=300``).
- Surrogate-Key: every matching rule contributes its space-separated keys (in
  rule order, duplicates dropped), so a catch-all ``*=site`` and a specific
  ``/assets/*=assets`` can both tag a response; no match: no header.

When no Cache-Control rule is configured at all, :data:`DEFAULT_RULES` apply
(the usual split: short-lived HTML, immutable versioned assets). Pure: no I/O.

>>> r = PathRules.create()
>>> r.cache_control_for("/index.html"), r.cache_control_for("/assets/app.js")
('max-age=60, stale-while-revalidate=30', 'max-age=31536000, immutable')
>>> r.cache_control_for("/robots.txt")
'max-age=300'
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase

DEFAULT_CACHE_CONTROL = "max-age=300"

DEFAULT_RULES: tuple[tuple[str, str], ...] = (
    ("*.html", "max-age=60, stale-while-revalidate=30"),
    ("/assets/*", "max-age=31536000, immutable"),
)

_FORBIDDEN = set("\r\n\0")


def parse_rule(text: str, what: str = "rule") -> tuple[str, str]:
    """``"PATTERN=VALUE"`` -> ``(pattern, value)``; split at the first ``=``.

    Raises ``ValueError`` naming the problem and the expected form.
    """
    pattern, sep, value = text.partition("=")
    pattern, value = pattern.strip(), value.strip()
    if not sep or not pattern or not value:
        raise ValueError(f"{what} {text!r}: write PATTERN=VALUE, e.g. '*.html=max-age=60'")
    if _FORBIDDEN & set(text):
        raise ValueError(f"{what} {text!r}: control characters are not allowed")
    return pattern, value


@dataclass(frozen=True)
class PathRules:
    cache_control: tuple[tuple[str, str], ...] = DEFAULT_RULES
    surrogate_keys: tuple[tuple[str, str], ...] = ()
    default_cache_control: str = DEFAULT_CACHE_CONTROL

    @classmethod
    def create(
        cls,
        cache_control: Iterable[tuple[str, str]] = (),
        surrogate_keys: Iterable[tuple[str, str]] = (),
        default_cache_control: str = DEFAULT_CACHE_CONTROL,
    ) -> PathRules:
        """Rules from configuration; no Cache-Control rules -> :data:`DEFAULT_RULES`."""
        cc = tuple(cache_control) or DEFAULT_RULES
        return cls(cc, tuple(surrogate_keys), default_cache_control)

    def cache_control_for(self, path: str) -> str:
        for pattern, value in self.cache_control:
            if fnmatchcase(path, pattern):
                return value
        return self.default_cache_control

    def surrogate_key_for(self, path: str) -> str | None:
        keys: dict[str, None] = {}  # ordered set
        for pattern, value in self.surrogate_keys:
            if fnmatchcase(path, pattern):
                keys.update(dict.fromkeys(value.split()))
        return " ".join(keys) or None
