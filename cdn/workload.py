"""Request streams for the simulator: generated (Poisson, diurnal, Zipf) or replayed.

Theory of operation
-------------------
A workload is a sequence of requests ordered by time. Each request says when it
arrives (``t``, seconds), which client place sends it (``place``, an index into
the population), which resolver group the client sits behind (``group``), which
client host inside that (place, group) it is (``host``: the key of its own DNS
cache), the object and its size, whether it rides a reused connection
(``reuse``), the content type index (``ctype``, for freshness), the origin's
service time if the object must be fetched (``service``) and a uniform number
for sampling (``u``).

Generation is vectorised in *blocks*: fixed windows of virtual time, each with
its own random stream derived from ``(seed, block index)``. Block boundaries
depend only on the scenario (never on ``--chunk``), so the request stream is
the same whatever batch size the engine later consumes it in; ``rechunk``
re-slices the blocks into batches of the requested size.

Arrivals: a non-homogeneous Poisson process per place, by thinning. Candidates
arrive at the peak rate ``rate * (1 + diurnal)``; each picks a place by weight
and survives with probability ``(1 + diurnal * shape(local hour)) / (1 +
diurnal)``. This gives every place exactly the rate ``rate * w_p * (1 + A *
shape(local hour of p))``. The local hour comes from the place's time zone
(standard offset, no daylight saving) or its longitude. Flash crowds are
superposed processes over their window: ``factor - 1`` times the base rate of
one object (all places) or of one region's places (all objects).

Cost: a block is a handful of numpy passes. Draws by weight (places, resolver
groups, objects) go through :class:`cdn.catalog.InverseCdf`, a guide table that
returns exactly ``searchsorted``'s answer without a binary search over a
100,000-entry CDF; the time order is a stable sort done radix-first
(``time_order``). Both give the very same stream as the plain numpy calls.

Trace files (``time,client,key,size``) are replayed instead: ``read_trace``
checks every row (naming the line of the first bad one), maps clients (place
names or IP addresses) to places and keys to integer ids, and yields the
same ``Requests`` batches. Both passes parse a block of lines at once with
numpy and fall back to the csv module row by row only where a block needs it
(see "trace files" below): about four times faster than csv alone.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from cdn.catalog import InverseCdf
from cdn.errors import UserError

BLOCK_TARGET = 1 << 16  # expected candidate arrivals per generation block


def _sine(hour: np.ndarray) -> np.ndarray:
    # Peak at 21:00 local time, trough at 09:00: evening streaming dominates.
    return np.cos(2 * np.pi * (hour - 21.0) / 24.0)


def _evening(hour: np.ndarray) -> np.ndarray:
    # A sharper evening peak (cos^3 keeps the mean near 0 and the range [-1, 1]).
    return np.cos(2 * np.pi * (hour - 21.0) / 24.0) ** 3


def _flat(hour: np.ndarray) -> np.ndarray:
    return np.zeros_like(hour)


# Diurnal shapes by name: f(local hour) in [-1, 1], mean about 0 over a day.
DIURNAL_SHAPES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "sine": _sine,
    "evening": _evening,
    "flat": _flat,
}
# A bound on |f'(hour)| per shape: thinning then evaluates f only for the few
# candidates whose draw is that close to their place's level (see _keep). A
# shape without a bound is evaluated for every candidate.
DIURNAL_SLOPES: dict[str, float] = {
    "sine": 2 * math.pi / 24,
    "evening": 3 * 2 * math.pi / 24,
    "flat": 0.0,
}


@dataclass(frozen=True)
class Requests:
    """A batch of requests as parallel arrays (one row per request, time order)."""

    t: np.ndarray  # float64 seconds from the start
    place: np.ndarray  # int32 index into the population's places
    group: np.ndarray  # int32 index into the resolver groups
    host: np.ndarray  # int32 client host within (place, group)
    obj: np.ndarray  # int64 object id
    size: np.ndarray  # int64 bytes
    ctype: np.ndarray  # int32 content type index (freshness)
    reuse: np.ndarray  # bool: reused (keep-alive) connection
    service: np.ndarray  # float64 origin service seconds if fetched
    u: np.ndarray  # float64 uniform [0, 1) for sampling

    def __len__(self) -> int:
        return len(self.t)

    def slice(self, a: int, b: int) -> Requests:
        return Requests(*(getattr(self, f.name)[a:b] for f in fields(self)))

    @staticmethod
    def concat(parts: Sequence[Requests]) -> Requests:
        if len(parts) == 1:
            return parts[0]
        return Requests(
            *(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(Requests))
        )


@dataclass(frozen=True)
class Population:
    """Who sends requests: places with weights, resolver groups with shares."""

    weights: np.ndarray  # (P,) relative weights
    utc_offset_h: np.ndarray  # (P,) hours east of UTC
    continents: tuple[str, ...]  # (P,) continent codes, for regional flash crowds
    countries: tuple[str, ...]  # (P,) country codes
    group_shares: np.ndarray  # (G,) shares summing to 1
    hosts: int  # client hosts per (place, group): each has its own DNS cache


@dataclass(frozen=True)
class FlashCrowd:
    at: float
    duration: float
    factor: float
    obj: int | None = None  # one object, from every place
    region: str | None = None  # continent or country code: every object


def utc_offset_hours(timezone: str, lon: float) -> float:
    """Standard-time offset of ``timezone`` (January, so no DST), else solar time."""
    if timezone:
        try:
            off = _dt.datetime(2026, 1, 15, 12, tzinfo=ZoneInfo(timezone)).utcoffset()
            if off is not None:
                return off.total_seconds() / 3600.0
        except (KeyError, ValueError, OSError):
            pass
    return lon / 15.0


def time_order(t: np.ndarray, t0: float, t1: float) -> np.ndarray:
    """``np.argsort(t, kind="stable")`` for times in [t0, t1), about five times faster.

    A stable radix sort on a 16-bit bucket of the time (a monotone function of
    it) leaves the times almost sorted, ties in their original order; the stable
    sort that follows only fixes neighbours within a bucket (timsort's runs).
    """
    if len(t) < 2 or not t1 > t0:
        return np.argsort(t, kind="stable")
    bucket = t - t0
    bucket *= 65536.0 / (t1 - t0)
    np.clip(bucket, 0.0, 65535.0, out=bucket)
    first = np.argsort(bucket.astype(np.uint16), kind="stable")
    return first[np.argsort(t[first], kind="stable")]


class Generator:
    """Synthetic requests for a population and a catalog (see the module docstring)."""

    def __init__(
        self,
        population: Population,
        catalog,
        *,
        rate: float,
        seed: int,
        diurnal: float = 0.0,
        diurnal_shape: str = "sine",
        start_hour_utc: float = 0.0,
        keepalive: float = 0.5,
        service_sampler: Callable[[np.random.Generator, int], np.ndarray] | None = None,
        flash_crowds: Sequence[FlashCrowd] = (),
    ):
        if diurnal_shape not in DIURNAL_SHAPES:
            allowed = ", ".join(DIURNAL_SHAPES)
            raise UserError(f"unknown diurnal shape {diurnal_shape!r}; allowed: {allowed}")
        if rate <= 0:
            raise UserError(f"workload rate must be > 0, got {rate}")
        self.pop = population
        self.catalog = catalog
        self.rate = float(rate)
        self.seed = int(seed)
        self.diurnal = float(diurnal)
        self.shape = DIURNAL_SHAPES[diurnal_shape]
        self.slope = DIURNAL_SLOPES.get(diurnal_shape)
        self.start_hour = float(start_hour_utc)
        self.keepalive = float(keepalive)
        self.service_sampler = service_sampler or (lambda rng, n: np.zeros(n))
        self.flash = tuple(flash_crowds)
        w = np.asarray(population.weights, dtype=np.float64)
        self.place_cdf = np.cumsum(w / w.sum())
        self.group_cdf = np.cumsum(np.asarray(population.group_shares, dtype=np.float64))
        self.peak = self.rate * (1.0 + self.diurnal)
        self.block = BLOCK_TARGET / self.peak  # seconds of virtual time per block
        self._region_cdf: dict[str, tuple[np.ndarray, InverseCdf, float]] = {}
        self._place_index = InverseCdf(self.place_cdf)
        self._group_index = InverseCdf(self.group_cdf)
        self._sizes = np.asarray(catalog.sizes, dtype=np.int64)
        self._ctypes = np.asarray(catalog.type_index, dtype=np.int32)

    def _draw_places(self, rng: np.random.Generator, n: int, region: str | None) -> np.ndarray:
        if region is None:
            return self._place_index(rng.random(n), np.int32)
        idx, inverse, _ = self._region(region)
        return idx[inverse(rng.random(n))]

    def _region(self, region: str) -> tuple[np.ndarray, InverseCdf, float]:
        if region not in self._region_cdf:
            pop = self.pop
            idx = np.array(
                [
                    i
                    for i in range(len(pop.weights))
                    if region in (pop.continents[i], pop.countries[i])
                ],
                dtype=np.int64,
            )
            w = np.asarray(pop.weights, dtype=np.float64)
            share = float(w[idx].sum() / w.sum()) if len(idx) else 0.0
            cdf = np.cumsum(w[idx] / w[idx].sum()) if len(idx) else np.array([1.0])
            self._region_cdf[region] = (idx, InverseCdf(cdf), share)
        return self._region_cdf[region]

    def _arrivals(
        self, rng: np.random.Generator, t0: float, t1: float, rate: float, region: str | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Thinned Poisson arrivals in [t0, t1): (times, places), unsorted."""
        n = rng.poisson(rate * (1.0 + self.diurnal) * (t1 - t0))
        t = rng.uniform(t0, t1, n)
        place = self._draw_places(rng, n, region)
        if self.diurnal > 0:
            draw = rng.random(n)
            draw *= 1.0 + self.diurnal
            keep = np.flatnonzero(self._keep(t, place, draw, t0, t1))
            t, place = t[keep], place[keep]
        return t, place

    def _level(self, t: np.ndarray, place: np.ndarray) -> np.ndarray:
        """``1 + diurnal * shape(local hour)``: a candidate survives if its draw is below."""
        hour = t / 3600.0
        hour += self.start_hour
        hour += self.pop.utc_offset_h[place]
        np.remainder(hour, 24.0, out=hour)
        level = self.shape(hour)
        level *= self.diurnal
        level += 1.0
        return level

    def _keep(self, t, place, draw, t0: float, t1: float) -> np.ndarray:
        """``draw < _level(t, place)``, evaluating the shape only near the threshold.

        Within [t0, t1) a place's level differs from its level at the middle of
        the window by at most ``diurnal * slope * half the window in hours``: a
        draw farther than that (plus a margin far above rounding) from the
        middle level is decided by it; only the rest get their own level.
        """
        if self.slope is None or len(t) < 1024:
            return draw < self._level(t, place)
        places = np.arange(len(self.pop.weights))
        middle = self._level(np.full(len(places), 0.5 * (t0 + t1)), places)
        band = self.diurnal * self.slope * (t1 - t0) / 7200.0 + 1e-9
        off = draw - middle[place]
        keep = off < -band
        near = np.flatnonzero(np.abs(off) <= band)
        keep[near] = draw[near] < self._level(t[near], place[near])
        return keep

    def block_requests(self, k: int) -> Requests:
        """All requests of generation block ``k`` (time window [k*B, (k+1)*B))."""
        rng = np.random.default_rng([self.seed, k])
        t0, t1 = k * self.block, (k + 1) * self.block
        t, place = self._arrivals(rng, t0, t1, self.rate, None)
        obj = self.catalog.draw(rng, len(t))
        ts, places, objs = [t], [place], [obj]
        for fc in self.flash:
            a, b = max(t0, fc.at), min(t1, fc.at + fc.duration)
            if b <= a or fc.factor <= 1.0:
                continue
            if fc.obj is not None:
                p = float(self.catalog.popularity(fc.obj))
                ft, fp = self._arrivals(rng, a, b, self.rate * p * (fc.factor - 1.0), None)
                fo = np.full(len(ft), fc.obj, dtype=np.int64)
            else:
                _, _, share = self._region(fc.region or "")
                ft, fp = self._arrivals(
                    rng, a, b, self.rate * share * (fc.factor - 1.0), fc.region or ""
                )
                fo = self.catalog.draw(rng, len(ft))
            ts.append(ft)
            places.append(fp)
            objs.append(fo)
        if len(ts) > 1:
            t, place, obj = np.concatenate(ts), np.concatenate(places), np.concatenate(objs)
        order = time_order(t, t0, t1)
        t = t[order]
        place = place[order].astype(np.int32, copy=False)
        obj = obj[order].astype(np.int64, copy=False)
        n = len(t)
        group = self._group_index(rng.random(n), np.int32)
        host = rng.integers(0, self.pop.hosts, n, dtype=np.int32)
        reuse = rng.random(n) < self.keepalive
        service = np.asarray(self.service_sampler(rng, n), dtype=np.float64)
        u = rng.random(n)
        return Requests(
            t=t,
            place=place,
            group=group,
            host=host,
            obj=obj,
            size=self._sizes[obj],
            ctype=self._ctypes[obj],
            reuse=reuse,
            service=service,
            u=u,
        )

    def blocks(self, *, duration: float | None, requests: int | None) -> Iterator[Requests]:
        """Blocks in order, stopping at ``duration`` seconds or after ``requests``."""
        if duration is None and requests is None:
            raise ValueError("need a duration or a request count")
        left = requests if requests is not None else math.inf
        k = 0
        while left > 0:
            if duration is not None and k * self.block >= duration:
                return
            r = self.block_requests(k)
            if duration is not None and (k + 1) * self.block > duration:
                r = r.slice(0, int(np.searchsorted(r.t, duration, side="left")))
            if len(r) > left:
                r = r.slice(0, int(left))
            left -= len(r)
            k += 1
            if len(r):
                yield r


def rechunk(blocks: Iterable[Requests], chunk: int) -> Iterator[Requests]:
    """Re-slice a stream of batches into batches of exactly ``chunk`` rows (the last
    one shorter): batching never changes the stream itself. Each row is copied at
    most once (a block that fills a batch by itself is passed on as a view)."""
    if chunk <= 0:
        raise UserError(f"--chunk must be a positive number of requests, got {chunk}")
    pending: list[Requests] = []
    have = 0
    for b in blocks:
        start = 0
        while len(b) - start >= chunk - have:
            end = start + chunk - have
            pending.append(b.slice(start, end))
            yield Requests.concat(pending)
            pending, have, start = [], 0, end
        if start < len(b):
            pending.append(b.slice(start, len(b)))
            have += len(b) - start
    if have:
        yield Requests.concat(pending)


def limit(
    blocks: Iterable[Requests], *, duration: float | None = None, requests: int | None = None
) -> Iterator[Requests]:
    """Cut a stream at ``duration`` seconds and/or after ``requests`` requests."""
    left = requests if requests is not None else math.inf
    for b in blocks:
        if duration is not None and len(b) and b.t[-1] >= duration:
            b = b.slice(0, int(np.searchsorted(b.t, duration, side="left")))
            left = min(left, len(b))
        if len(b) > left:
            b = b.slice(0, int(left))
        left -= len(b)
        if len(b):
            yield b
        if left <= 0:
            return


# --- trace files --------------------------------------------------------------------
#
# A trace is read a block of lines at a time (a megabyte of text). A block in
# the plain form - no quote character, every line exactly three commas, empty
# lines aside, LF or CRLF endings - is parsed at once in its encoded bytes:
# numpy finds the separators; times and sizes that are plain decimals are read
# eight digits at a time (``_decimals``; others by ``float()``/``int()`` one by
# one); clients and keys get their ids from an ``_Interner``, which remembers
# every distinct field met by hash and bytes, so only a field never seen
# before becomes a Python string. Anything else (a quoted field, a bad row,
# whitespace around a client) falls back, for that block only, to the csv
# module and ``_parse_row`` row by row: what is accepted, the values, the ids
# (first-seen order over the whole file) and every error message with its line
# number are the csv module's and ``_parse_row``'s. The fast form is a subset
# of what they accept and gives the same values.

TRACE_HEADER = ("time", "client", "key", "size")
TRACE_BLOCK_CHARS = 1 << 20  # text read per block
_EMPTY_LINES = re.compile(r"^\r?\n", re.MULTILINE)
_SEPARATORS = np.array([44, 44, 44, 10], dtype=np.uint8)  # , , , \n
_POW10 = 10 ** np.arange(19, dtype=np.int64)
_POW10_F = 10.0 ** np.arange(19)  # exact: every power of ten up to 1e22 is a double
_EXACT = 2**53  # integers up to this are doubles exactly
# SWAR constants (uint64 words of eight bytes; see _decimals)
_INSIDE = ((np.arange(16) >= 16 - np.arange(17)[:, None]) * 255).astype(np.uint8).view(np.uint64)
_HIGH, _LOW7 = np.uint64(0x8080808080808080), np.uint64(0x7F7F7F7F7F7F7F7F)
_ZEROS, _COLONS = np.uint64(0x3030303030303030), np.uint64(0x3A3A3A3A3A3A3A3A)
_POINTS = np.uint64(0x2E2E2E2E2E2E2E2E)
_MASK = np.uint64(0x000000FF000000FF)
_MUL1, _MUL2 = np.uint64(100 + (1000000 << 32)), np.uint64(1 + (10000 << 32))
_2, _7, _8, _10, _16, _32 = (np.uint64(k) for k in (2, 7, 8, 10, 16, 32))
_1E8 = np.uint64(10**8)
_MIX, _29 = np.uint64(0x9E3779B97F4A7C15), np.uint64(29)
# _LEFT[L]: eight uint64 words whose first L bytes are 0xFF (the rest 0)
_LEFT = ((np.arange(64) < np.arange(65)[:, None]) * 255).astype(np.uint8).view(np.uint64)


class TraceError(UserError):
    """A malformed trace file: the message names the file and line."""


@dataclass
class Trace:
    """A trace's distinct clients and keys, found in a first checking pass."""

    path: Path
    clients: list[str]  # distinct client fields, in first-seen order
    keys: dict[str, int]  # key -> object id, in first-seen order
    rows: int
    duration: float


def _open_trace(path: Path):
    try:
        return open(path, newline="", encoding="utf-8")  # noqa: SIM115 - the caller closes it
    except OSError as exc:
        raise TraceError(f"cannot read trace {path}: {exc.strerror}") from None


def scan_trace(path: str | Path) -> Trace:
    """Check every row of a trace (first bad row -> TraceError naming the line)."""
    path = Path(path)
    clients, keys = _Interner({}), _Interner({})
    rows = 0
    with _open_trace(path) as fh:
        body = _TraceBody(fh, path, clients, keys)
        try:
            for blk in body.blocks(order=True):
                rows += len(blk.t)
        except UnicodeDecodeError:
            # Blocks read ahead of the row being checked: let the row-by-row scan
            # decide which comes first, a bad row or the undecodable bytes.
            return _scan_rows(path)
    if rows == 0:
        raise TraceError(f"{path}: no requests after the header")
    return Trace(path, list(clients.ids), keys.ids, rows, max(body.last, 0.0))


def _scan_rows(path: Path) -> Trace:
    """``scan_trace`` one row at a time with the csv module (the reference)."""
    clients: dict[str, None] = {}
    keys: dict[str, int] = {}
    rows = 0
    last = -math.inf
    with _open_trace(path) as fh:
        reader = csv.reader(fh)
        _check_header(path, next(reader, None))
        for row in reader:
            line = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            t, client, key, _ = _parse_row(path, line, row)
            _check_order(path, line, t, last)
            last = t
            clients.setdefault(client, None)
            if key not in keys:
                keys[key] = len(keys)
            rows += 1
    if rows == 0:
        raise TraceError(f"{path}: no requests after the header")
    return Trace(path, list(clients), keys, rows, max(last, 0.0))


def _check_header(path: Path, header: list[str] | None) -> None:
    if header is None or tuple(h.strip().lower() for h in header) != TRACE_HEADER:
        raise TraceError(
            f"{path} line 1: expected the header {','.join(TRACE_HEADER)}, got "
            f"{','.join(header or [])!r}"
        )


def _check_order(path: Path, line: int, t: float, last: float) -> None:
    if t < last:
        raise TraceError(
            f"{path} line {line}: time {t} is before the previous row's {last}; "
            "rows must be in time order"
        )


def _parse_row(path: Path, line: int, row: list[str]) -> tuple[float, str, str, int]:
    if len(row) != 4:
        raise TraceError(
            f"{path} line {line}: expected 4 fields (time,client,key,size), got {len(row)}"
        )
    ts, client, key, ss = (x.strip() for x in row)
    try:
        t = float(ts)
    except ValueError:
        raise TraceError(f"{path} line {line}: time {ts!r} is not a number of seconds") from None
    if not math.isfinite(t) or t < 0:
        raise TraceError(f"{path} line {line}: time {ts!r} must be a finite number >= 0")
    if not client:
        raise TraceError(f"{path} line {line}: client is empty (a place name or an IP address)")
    if not key:
        raise TraceError(f"{path} line {line}: key is empty")
    try:
        size = int(ss)
    except ValueError:
        raise TraceError(
            f"{path} line {line}: size {ss!r} is not a whole number of bytes"
        ) from None
    if not 0 <= size < 1 << 63:
        raise TraceError(f"{path} line {line}: size {size} must be >= 0 and below 2**63")
    return t, client, key, size


@dataclass
class _Rows:
    """The rows of one block: times, client and key ids, sizes."""

    t: np.ndarray  # float64
    clients: np.ndarray  # int64 ids (``_Interner``)
    keys: np.ndarray  # int64 ids
    size: np.ndarray | list[int]  # int64, or Python ints from the row-by-row path
    lines: int = 0  # lines of text the block had (the fast path's count)


class _Interner:
    """The ids of a column's strings (``ids``: first-seen order), and a numpy memory
    of the fields already met, so that a block's fields get their ids without
    becoming strings (``fields``).

    ``grow``: new strings get the next id; else an unknown one raises KeyError.
    The memory: for each distinct field met (at most 64 bytes), its 64-bit hash
    (sorted, with the slot it stands for), its bytes, length and id. A field
    whose hash is known is compared byte for byte with the slot's, so a shared
    hash never merges two fields: the block is then done by strings.
    """

    def __init__(self, ids: dict[str, int], *, grow: bool = True):
        self.ids = ids
        self.grow = grow
        self.hashes = np.zeros(0, dtype=np.uint64)  # sorted
        self.slot_of = np.zeros(0, dtype=np.int64)  # slot of each sorted hash
        self.slots = 0
        self.bytes = np.zeros((1024, 64), dtype=np.uint8)  # per slot (grows)
        self.length = np.zeros(1024, dtype=np.int64)
        self.id = np.zeros(1024, dtype=np.int64)

    def _id(self, text: str) -> int:
        if self.grow:
            return self.ids.setdefault(text, len(self.ids))
        return self.ids[text]

    def strings(self, items: list[str]) -> np.ndarray:
        return np.fromiter(map(self._id, items), dtype=np.int64, count=len(items))

    def fields(
        self, raw: bytes, a: np.ndarray, start: np.ndarray, end: np.ndarray
    ) -> np.ndarray | None:
        """Ids of the fields ``raw[start:end]``, or None (the caller uses strings)."""
        n = len(start)
        length = end - start
        width = (int(length.max()) + 7) // 8 * 8
        if width > 64:
            return None
        if start[-1] + width > len(a):
            a = np.concatenate((a, np.zeros(width, dtype=np.uint8)))
        win = np.lib.stride_tricks.sliding_window_view(a, width)[start]
        w = win.view(np.uint64)
        w &= _LEFT[length, : width // 8]  # nothing after the field
        h = length.astype(np.uint64) * _MIX
        for j in range(width // 8):
            h ^= w[:, j]
            h *= _MIX
            h ^= h >> _29
        # Group the rows by hash: one sort of the hashes with the row number in
        # their low bits (a plain sort, far faster than an argsort), so each
        # group is in row order and starts with its first row.
        bits = np.uint64(max(n - 1, 1).bit_length())
        low = (np.uint64(1) << bits) - np.uint64(1)
        packed = np.sort((h & ~low) | np.arange(n, dtype=np.uint64))
        perm = (packed & low).astype(np.int64)
        head = np.empty(n, dtype=bool)
        head[0] = True
        np.not_equal(packed[1:] >> bits, packed[:-1] >> bits, out=head[1:])
        first = perm[head]
        u = h[first]
        inverse = np.empty(n, dtype=np.int64)
        inverse[perm] = np.cumsum(head) - 1
        rep = first[inverse]
        if not ((length[rep] == length).all() and (w[rep] == w).all()):
            return None  # two different fields of the block share a hash
        pos = np.searchsorted(self.hashes, u)
        if len(self.hashes):
            found = self.hashes[np.minimum(pos, len(self.hashes) - 1)] == u
        else:
            found = np.zeros(len(u), dtype=bool)
        known = np.flatnonzero(found)
        slot = self.slot_of[pos[known]]
        at = first[known]
        if not (
            (self.length[slot] == length[at]).all() and (self.bytes[slot, :width] == win[at]).all()
        ):
            return None  # a field met before shares a hash with another
        ids = np.empty(len(u), dtype=np.int64)
        ids[known] = self.id[slot]
        new = np.flatnonzero(~found)
        if len(new):
            at = first[new]
            order = np.argsort(at)  # strings, and new ids, in first-seen order
            for j, i, k in zip(new[order].tolist(), start[at[order]].tolist(),
                               end[at[order]].tolist(), strict=True):  # fmt: skip
                ids[j] = self._id(raw[i:k].decode())
            self._remember(u[new], pos[new], win[at], length[at], ids[new])
        return ids[inverse]

    def _remember(self, h, pos, fields, length, ids) -> None:
        s0, s1 = self.slots, self.slots + len(h)
        if s1 > len(self.id):
            cap = max(2 * len(self.id), s1)
            grown = np.zeros((cap, 64), dtype=np.uint8)
            grown[:s0] = self.bytes[:s0]
            self.bytes = grown
            self.length = np.resize(self.length, cap)
            self.id = np.resize(self.id, cap)
        self.bytes[s0:s1, : fields.shape[1]] = fields
        self.bytes[s0:s1, fields.shape[1] :] = 0
        self.length[s0:s1] = length
        self.id[s0:s1] = ids
        self.hashes = np.insert(self.hashes, pos, h)
        self.slot_of = np.insert(self.slot_of, pos, np.arange(s0, s1))
        self.slots = s1


class _TraceBody:
    """The rows after a trace's header, a block of lines at a time (see above)."""

    def __init__(
        self, fh, path: Path, clients: _Interner, keys: _Interner, *, check_header: bool = True
    ):
        self.fh = fh
        self.path = path
        self.clients = clients
        self.keys = keys
        reader = csv.reader(fh)
        header = next(reader, None)
        if check_header:
            _check_header(path, header)
        self.line = reader.line_num  # lines consumed so far
        self.rest = ""  # text read after the last complete line
        self.last = -math.inf  # the last row's time
        self.fast = True  # False: every block row by row (for tests)

    def _text(self) -> str:
        """The next block of whole lines ('' at the end of the file)."""
        text = self.rest
        while True:
            chunk = self.fh.read(TRACE_BLOCK_CHARS)
            if not chunk:
                self.rest = ""
                return text
            text += chunk
            # Cut after the last line end; a final "\r" may be half of a "\r\n".
            cut = max(text.rfind("\n"), text.rfind("\r", 0, len(text) - 1)) + 1
            if cut:
                self.rest = text[cut:]
                return text[:cut]

    def blocks(self, *, order: bool) -> Iterator[_Rows]:
        """Parsed blocks in file order; ``order``: rows must be in time order."""
        while text := self._text():
            rows = self._fast(text) if self.fast else None
            if rows is not None and order and len(rows.t):
                t = rows.t
                if t[0] < self.last or not (t[1:] >= t[:-1]).all():
                    rows = None  # the row-by-row path names the line
            if rows is None:
                rows = self._slow(text, order)
            else:
                self.line += rows.lines
            if len(rows.t):
                self.last = float(rows.t[-1])
                yield rows

    def _slow(self, text: str, order: bool) -> _Rows:
        """The block's rows by the csv module and ``_parse_row`` (exact errors). A
        quoted field may run past the block: its lines are taken from the next."""
        lines = io.StringIO(text, newline="").readlines()
        block_lines = len(lines)

        def source() -> Iterator[str]:
            i = 0
            while True:
                if i == len(lines):
                    more = self._text()
                    if not more:
                        return
                    lines.extend(io.StringIO(more, newline="").readlines())
                i += 1
                yield lines[i - 1]

        reader = csv.reader(source())
        ts: list[float] = []
        clients: list[str] = []
        keys: list[str] = []
        sizes: list[int] = []
        last = self.last
        while reader.line_num < block_lines:
            row = next(reader)
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            line = self.line + reader.line_num
            t, client, key, size = _parse_row(self.path, line, row)
            if order:
                _check_order(self.path, line, t, last)
            last = t
            ts.append(t)
            clients.append(client)
            keys.append(key)
            sizes.append(size)
        self.rest = "".join(lines[reader.line_num :]) + self.rest
        self.line += reader.line_num
        t = np.array(ts, dtype=np.float64)
        return _Rows(t, self.clients.strings(clients), self.keys.strings(keys), sizes)

    def _fast(self, text: str) -> _Rows | None:
        """The block's rows if it is in the plain form, else None."""
        if '"' in text:
            return None
        if text[-1] != "\n":
            text += "\n"
        raw = text.encode("utf-8")
        a = np.frombuffer(raw, dtype=np.uint8)
        sep = np.flatnonzero((a == 44) | (a == 10))
        n = len(sep) // 4
        if len(sep) != 4 * n or not (a[sep].reshape(n, 4) == _SEPARATORS).all():
            if not _EMPTY_LINES.search(text):
                return None
            lines = text.count("\n")
            text = _EMPTY_LINES.sub("", text)  # and try again without the empty lines
            rows = self._fast(text) if text else _Rows(*(np.zeros(0, dtype=np.int64),) * 3, [])
            if rows is not None:
                rows.lines = lines
            return rows
        c1, c2, c3, nl = (np.ascontiguousarray(x) for x in sep.reshape(n, 4).T)
        start = np.empty(n, dtype=np.int64)
        start[0] = 0
        start[1:] = nl[:-1] + 1
        # "\r" only as part of "\r\n" (a lone one ends a line for the csv module)
        cr = a[nl - 1] == 13
        ncr = int(np.count_nonzero(cr))
        if ncr != np.count_nonzero(a == 13):
            return None
        end = nl - cr if ncr else nl
        # no field longer than the csv module allows, no empty client or key
        if int((nl - start).max()) > csv.field_size_limit():
            return None
        if not ((c2 - c1 > 1) & (c3 - c2 > 1)).all():
            return None
        t, ok = _decimals(a, start, c1, point=True)
        size, oks = _decimals(a, c3 + 1, end, point=False)
        try:
            for i in np.flatnonzero(~ok).tolist():  # rows numpy could not do
                v = float(raw[start[i] : c1[i]].decode().strip())
                if not (math.isfinite(v) and v >= 0):
                    return None
                t[i] = v
            for i in np.flatnonzero(~oks).tolist():
                v = int(raw[c3[i] + 1 : end[i]].decode().strip())
                if v < 0:
                    return None
                size[i] = v
        except (ValueError, OverflowError):
            return None
        # Whitespace around a client or key is stripped; printable ASCII at both
        # ends of each (the common case) means there is none.
        ends = a[np.concatenate((c1 + 1, c2 - 1, c2 + 1, c3 - 1))]
        if ((ends > 32) & (ends < 127)).all():
            clients = self.clients.fields(raw, a, c1 + 1, c2)
            keys = self.keys.fields(raw, a, c2 + 1, c3)
            if clients is not None and keys is not None:
                return _Rows(t, clients, keys, size, n)
        parts = text.split(",")
        cl = [x.strip() for x in parts[1::3]]
        ky = [x.strip() for x in parts[2::3]]
        if not (all(cl) and all(ky)):
            return None
        return _Rows(t, self.clients.strings(cl), self.keys.strings(ky), size, n)


def _decimals(
    a: np.ndarray, start: np.ndarray, end: np.ndarray, *, point: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The fields ``a[start:end]`` (bytes) that are plain decimals, as Python reads them.

    Returns (values, done): ``done`` marks the fields this did; the caller reads
    the others one by one. A field is done if it is 1 to 16 ASCII digits, with
    (``point``) at most one ".": "12", "0.25", ".5", "7.". Sizes (no point) are
    exact in int64. A time is M / 10^r, M its digits as an integer and r the
    digits after the point: when M <= 2^53 both are exact doubles, so one IEEE
    division gives the correctly rounded value, which is what ``float()``
    returns (it rounds correctly: Clinger's fast path). Larger M is left to
    ``float()``.

    Each field is right-aligned in 16 bytes (two uint64 words, "0" before it)
    and handled eight bytes at a time (SWAR): a few integer operations per
    word check the digits, find the point and add up the digits.
    """
    n = len(start)
    length = end - start
    at = end - 16
    if n and at[0] < 0:  # the first field starts less than 16 bytes into the block
        a = np.concatenate((np.zeros(16, dtype=np.uint8), a))
        at = at + 16
    x = np.lib.stride_tricks.sliding_window_view(a, 16)[at].view(np.uint64)  # (n, 2)
    keep = _INSIDE[np.minimum(length, 16)]
    x &= keep
    x |= _ZEROS & ~keep
    done = (length >= 1) & (length <= 16)
    if point:
        z = x ^ _POINTS
        dot = ~(((z & _LOW7) + _LOW7) | z) & _HIGH  # 0x80 in each byte that is "."
        ndots = np.bitwise_count(dot[:, 0]) + np.bitwise_count(dot[:, 1])
        done &= (ndots <= 1) & (length > ndots)
        x += (dot >> _7) * _2  # "." -> "0"
    hx = x | _HIGH  # bytes with the top bit set: subtracting borrows from no neighbour
    ok = ((x & _HIGH) == 0) & ((hx - _ZEROS) & _HIGH == _HIGH) & ((hx - _COLONS) & _HIGH == 0)
    done &= ok[:, 0] & ok[:, 1]
    # Eight digits to a number (simdjson's parse_eight_digits_unrolled; the
    # first byte, the most significant digit, is the word's lowest).
    v = x - _ZEROS
    v = v * _10 + (v >> _8)
    v = ((v & _MASK) * _MUL1 + ((v >> _16) & _MASK) * _MUL2) >> _32
    whole = (v[:, 0] * _1E8 + v[:, 1]).astype(np.int64)
    if not point:
        return whole, done
    # Take the point's "0" out: r digits follow it.
    low, high = dot[:, 0], dot[:, 1]
    bit = np.frexp(np.where(high != 0, high, low).astype(np.float64))[1] - 8  # 8 * byte
    r = np.where(ndots == 1, 15 - (bit >> 3) - 8 * (high != 0), 0)
    p = _POW10[r]
    m = np.where(ndots == 1, whole // (p * 10) * p + whole % p, whole)
    done &= m <= _EXACT
    return m.astype(np.float64) / _POW10_F[r], done


def read_trace(
    trace: Trace,
    client_place: Sequence[int],
    client_group: Sequence[int],
    key_ctype: Sequence[int],
    *,
    seed: int,
    keepalive: float,
    hosts: int,
    service_sampler: Callable[[np.random.Generator, int], np.ndarray] | None = None,
    block: int = BLOCK_TARGET,
) -> Iterator[Requests]:
    """Replay a scanned trace as Requests blocks of ``block`` rows.

    ``client_place``/``client_group`` map each distinct client (scan order) to its
    place and resolver group; ``key_ctype`` maps object ids to content types.
    """
    cindex = {c: i for i, c in enumerate(trace.clients)}
    cplace = np.asarray(client_place, dtype=np.int32)
    cgroup = np.asarray(client_group, dtype=np.int32)
    ctype = np.asarray(key_ctype, dtype=np.int32)
    sampler = service_sampler or (lambda rng, n: np.zeros(n))
    k = 0
    parts: list[tuple[np.ndarray, ...]] = []  # parsed rows not yet yielded
    have = 0
    clients, keys = _Interner(cindex, grow=False), _Interner(trace.keys, grow=False)
    with open(trace.path, newline="", encoding="utf-8") as fh:
        body = _TraceBody(fh, trace.path, clients, keys, check_header=False)
        for rows in body.blocks(order=False):
            n = len(rows.t)
            parts.append((rows.t, rows.clients, rows.keys, np.asarray(rows.size, dtype=np.int64)))
            have += n
            while have >= block:
                t, c, o, s = (np.concatenate(x) for x in zip(*parts, strict=True))
                yield _trace_block(t[:block], c[:block], o[:block], s[:block], cplace,
                                   cgroup, ctype, seed, k, keepalive, hosts, sampler)  # fmt: skip
                k += 1
                parts = [(t[block:], c[block:], o[block:], s[block:])]
                have -= block
        if have:
            t, c, o, s = (np.concatenate(x) for x in zip(*parts, strict=True))
            yield _trace_block(t, c, o, s, cplace, cgroup, ctype, seed, k, keepalive, hosts,
                               sampler)  # fmt: skip


def _trace_block(bt, bc, bk, bs, cplace, cgroup, ctype, seed, k, keepalive, hosts, sampler):
    rng = np.random.default_rng([seed, k, 7])
    c = np.asarray(bc, dtype=np.int64)
    obj = np.asarray(bk, dtype=np.int64)
    n = len(c)
    return Requests(
        t=np.asarray(bt, dtype=np.float64),
        place=cplace[c],
        group=cgroup[c],
        host=(c % max(hosts, 1)).astype(np.int32),  # one client id, one DNS cache
        obj=obj,
        size=np.asarray(bs, dtype=np.int64),
        ctype=ctype[obj],
        reuse=rng.random(n) < keepalive,
        service=np.asarray(sampler(rng, n), dtype=np.float64),
        u=rng.random(n),
    )
