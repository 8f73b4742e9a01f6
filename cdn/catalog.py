"""The synthetic catalog: which objects exist, how big they are, how popular.

Theory of operation: a workload names a catalog size ``n``, a Zipf exponent and
a content mix (:class:`~cdn.scenario.ContentType` with shares and size
distributions). :class:`Catalog` turns that plus a seed into plain arrays, once:

- object ids are ``0 .. n-1`` and the id *is* the popularity rank: id 0 is the
  most requested, with probability proportional to ``1 / (id + 1) ** alpha``
  (alpha 0 is uniform): ``weights[id]`` or ``popularity(id)``;
- each object's content type is drawn by share, then its size from that
  type's distribution (rounded to whole bytes, at least 1);
- the bytes of object ``i`` are a deterministic function of (seed, i, offset),
  produced in 64 KiB blocks, so any byte range can be computed on its own.

The simulator draws requests with :meth:`Catalog.draw`: an inverse-CDF draw,
one uniform number per request, which :class:`InverseCdf` answers with a
guide table instead of a binary search over all ``n`` ids (same ids, about
ten times faster for 100,000 objects). The live origin serves
``/obj/<id>`` from :meth:`Catalog.size` and :meth:`Catalog.body_chunk`. Both
build the catalog from the same workload and seed, so they agree on every
object. Pure: no I/O, no clock; randomness only from the seed or the caller's
generator.

>>> from cdn.scenario import Workload
>>> cat = Catalog(Workload(catalog_size=100), seed=1)
>>> cat.path(7), cat.object_id("/obj/7"), cat.object_id("/obj/007")
('/obj/7', 7, None)
>>> len(cat.body_chunk(7, 0, 10)) == min(10, cat.size(7))
True
"""

from __future__ import annotations

import functools
import hashlib

import numpy as np

from cdn import scenario as _scenario
from cdn.distributions import sample
from cdn.scenario import ContentType, Distribution, Workload

# Used when a workload lists no content and cdn.scenario has no DEFAULT_CONTENT.
FALLBACK_CONTENT: tuple[ContentType, ...] = (
    ContentType("html", 0.10, Distribution("lognormal", 30_000, sigma=0.7, minimum=500),
                "max-age=60, stale-while-revalidate=30", ".html"),
    ContentType("image", 0.60, Distribution("lognormal", 40_000, sigma=1.0, minimum=200,
                maximum=20_000_000), "max-age=86400", ".jpg"),
    ContentType("script", 0.25, Distribution("lognormal", 20_000, sigma=1.0, minimum=200,
                maximum=5_000_000), "max-age=31536000, immutable", ".js"),
    ContentType("video", 0.05, Distribution("lognormal", 2_000_000, sigma=1.0,
                minimum=100_000, maximum=200_000_000), "max-age=86400", ".mp4"),
)  # fmt: skip

# Media types by extension: a fixed table (mimetypes would read system files).
MEDIA_TYPES: dict[str, str] = {
    ".html": "text/html; charset=utf-8", ".htm": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8", ".json": "application/json",
    ".txt": "text/plain; charset=utf-8", ".xml": "application/xml",
    ".svg": "image/svg+xml", ".png": "image/png", ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg", ".gif": "image/gif", ".webp": "image/webp",
    ".avif": "image/avif", ".ico": "image/vnd.microsoft.icon",
    ".woff": "font/woff", ".woff2": "font/woff2", ".mp4": "video/mp4",
    ".m4s": "video/iso.segment", ".ts": "video/mp2t", ".webm": "video/webm",
    ".m3u8": "application/vnd.apple.mpegurl", ".mpd": "application/dash+xml",
    ".mp3": "audio/mpeg", ".wasm": "application/wasm", ".pdf": "application/pdf",
    ".zip": "application/zip", ".bin": "application/octet-stream",
}  # fmt: skip

# Extension for a content type that names none, by its name.
EXTENSION_BY_NAME: dict[str, str] = {
    "html": ".html", "page": ".html", "css": ".css", "style": ".css", "js": ".js",
    "script": ".js", "image": ".jpg", "img": ".jpg", "video": ".mp4",
    "segment": ".m4s", "audio": ".mp3", "font": ".woff2", "json": ".json",
    "api": ".json", "download": ".bin", "binary": ".bin",
}  # fmt: skip

BLOCK = 64 * 1024  # bytes per independently computed block of an object's body
_PREFIX = "/obj/"


def default_content() -> tuple[ContentType, ...]:
    """The content mix for workloads that list none."""
    return tuple(getattr(_scenario, "DEFAULT_CONTENT", ()) or FALLBACK_CONTENT)


def media_type(content: ContentType) -> str:
    """The Content-Type header value for objects of ``content``."""
    ext = content.extension or EXTENSION_BY_NAME.get(content.name.lower(), "")
    if ext and not ext.startswith("."):
        ext = "." + ext
    return MEDIA_TYPES.get(ext.lower(), "application/octet-stream")


class InverseCdf:
    """``searchsorted(cdf, u, side="right")`` clipped to ``len(cdf) - 1``, by a guide
    table: identical indices, without a binary search over the whole CDF per draw.

    Bucket ``k`` of ``K = 2**bits`` covers ``u`` in ``[k/K, (k+1)/K)`` (``u * K``
    is exact: K is a power of two), and ``table[k]`` is the answer at ``u = k/K``.
    The answer for ``u`` lies in ``[table[k], table[k+1]]``: a binary search over
    that span only, a few vectorised steps (as many as the widest span needs).

    >>> inv = InverseCdf(np.array([0.5, 0.75, 1.0]))
    >>> inv(np.array([0.0, 0.5, 0.7, 0.75, 0.99])).tolist()
    [0, 1, 1, 2, 2]
    """

    MAX_BITS = 18  # 2**18 + 1 int32 entries: 1 MiB, still cache-friendly

    def __init__(self, cdf: np.ndarray, bits: int | None = None):
        cdf = np.ascontiguousarray(cdf, dtype=np.float64)
        if cdf.ndim != 1 or len(cdf) == 0:
            raise ValueError("a CDF needs at least one entry")
        last = len(cdf) - 1
        if bits is None:  # two or more buckets per entry: spans of one or two ids
            bits = min(self.MAX_BITS, max(12, last.bit_length() + 1))
        self.scale = float(1 << bits)
        grid = np.arange((1 << bits) + 1, dtype=np.float64) / self.scale
        table = np.minimum(np.searchsorted(cdf, grid, side="right"), last)
        self.table = table.astype(np.int32 if last < 2**31 else np.int64)
        span = int(np.diff(self.table).max(initial=0))
        self.steps = tuple(1 << s for s in reversed(range(span.bit_length())))
        self._below = np.concatenate([[-np.inf], cdf])  # _below[i] = cdf[i - 1]
        self.cdf = self._below[1:]  # a view: one copy of a large CDF, not two

    def __call__(self, u: np.ndarray, dtype=np.int64) -> np.ndarray:
        """Indices for uniform numbers ``u`` in [0, 1), as ``dtype``."""
        if len(self.cdf) <= 4:  # a few entries: count those at or below u
            out = np.zeros(len(u), dtype=dtype)
            for c in self.cdf[:-1]:
                out += c <= u
            return out
        k = (u * self.scale).astype(np.intp)
        lo = self.table[k]
        if self.steps:
            hi = self.table[1:][k]
            amb = np.flatnonzero(hi != lo)  # buckets within one entry's span need no search
            if len(amb):
                below, v, a, b = self._below, u[amb], lo[amb], hi[amb]
                for step in self.steps:  # binary lifting: the largest a <= b with cdf[a-1] <= v
                    cand = a + step
                    np.minimum(cand, b, out=cand)
                    a = np.where(below[cand] <= v, cand, a)
                lo[amb] = a
        return lo.astype(dtype, copy=False)


def zipf_weights(n: int, alpha: float) -> np.ndarray:
    """Probabilities of ranks 1..n under Zipf(alpha), summing to 1."""
    w = np.arange(1, n + 1, dtype=np.float64) ** -float(alpha)
    return w / w.sum()


class Catalog:
    """Objects ``0 .. n-1`` of a workload, deterministic from ``seed``."""

    def __init__(self, workload: Workload, seed: int):
        n = int(workload.catalog_size)
        if n < 1:
            raise ValueError(f"catalog_size must be at least 1, got {n}")
        if not workload.zipf_alpha >= 0:
            raise ValueError(f"zipf_alpha must be >= 0, got {workload.zipf_alpha}")
        content = tuple(workload.content) or default_content()
        shares = np.array([c.share for c in content], dtype=np.float64)
        if (shares < 0).any() or not shares.sum() > 0:
            raise ValueError(f"content shares must be >= 0 with a positive sum, got {shares}")
        self.n = n
        self.seed = int(seed)
        self.alpha = float(workload.zipf_alpha)
        self.content = content
        self.weights = zipf_weights(n, self.alpha)  # request probability by id
        cdf = np.cumsum(self.weights)
        cdf[-1] = 1.0  # so a uniform draw below 1 always lands on an id
        self._inverse = InverseCdf(cdf)
        self._cdf = self._inverse.cdf
        rng = np.random.default_rng([self.seed, 0xCA7A])
        self.type_index = rng.choice(len(content), size=n, p=shares / shares.sum()).astype(np.int16)
        sizes = np.empty(n, dtype=np.int64)
        for t, ct in enumerate(content):  # one draw per type, in type order: reproducible
            ids = np.flatnonzero(self.type_index == t)
            sizes[ids] = np.maximum(np.rint(sample(ct.size, rng, len(ids))), 1)
        self.sizes = sizes
        self._media_types = tuple(media_type(c) for c in content)
        # Identifies this catalog's bytes: part of every ETag, so a change of seed
        # or of the object's size changes its validator.
        self.tag = hashlib.sha256(f"{self.seed}".encode()).hexdigest()[:8]

    def __len__(self) -> int:
        return self.n

    def path(self, obj_id: int) -> str:
        return f"{_PREFIX}{int(obj_id)}"

    def object_id(self, path: str) -> int | None:
        """The id ``path`` names (``/obj/<id>``, canonical decimal), else None."""
        if not path.startswith(_PREFIX):
            return None
        digits = path[len(_PREFIX) :]
        if not digits.isascii() or not digits.isdigit() or (len(digits) > 1 and digits[0] == "0"):
            return None
        obj_id = int(digits)
        return obj_id if obj_id < self.n else None

    def popularity(self, obj_id):
        """Probability that a request asks for ``obj_id`` (an int or an id array)."""
        return self.weights[obj_id]

    def size(self, obj_id: int) -> int:
        return int(self.sizes[obj_id])

    def content_type(self, obj_id: int) -> ContentType:
        return self.content[self.type_index[obj_id]]

    def media_type(self, obj_id: int) -> str:
        """The Content-Type header value of the object."""
        return self._media_types[self.type_index[obj_id]]

    def cache_control(self, obj_id: int) -> str:
        return self.content_type(obj_id).cache_control

    def etag(self, obj_id: int) -> str:
        """A strong entity tag, quoted: changes with the seed and the size."""
        return f'"obj-{int(obj_id):x}-{self.size(obj_id):x}-{self.tag}"'

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` object ids drawn by popularity (inverse CDF, vectorised)."""
        return self._inverse(rng.random(n))

    def body_chunk(self, obj_id: int, start: int, end: int) -> bytes:
        """Bytes ``start .. end-1`` of the object's body (clipped to its size)."""
        end = min(int(end), self.size(obj_id))
        start = max(int(start), 0)
        if start >= end:
            return b""
        first, last = start // BLOCK, (end - 1) // BLOCK
        data = b"".join(_block(self.seed, int(obj_id), k) for k in range(first, last + 1))
        offset = first * BLOCK
        return data[start - offset : end - offset]


@functools.lru_cache(maxsize=256)
def _block(seed: int, obj_id: int, k: int) -> bytes:
    """Block ``k`` of object ``obj_id``: pseudo-random bytes from (seed, id, k)."""
    return np.random.Generator(np.random.PCG64([seed, obj_id, k])).bytes(BLOCK)
