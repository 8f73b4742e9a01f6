"""Quantities the way people write them: ``"250ms"``, ``"30s"``, ``"2GiB"``,
``"100Mbit/s"``, ``"500/s"``.

Theory of operation: a quantity is a number followed by an optional unit. Each
kind (duration, size, bandwidth, rate) has a table from unit to a factor into
its base unit (seconds, bytes, bits per second, events per second). A bare
number is taken in the base unit. Parsers raise :class:`UnitError` with the
allowed units, so the scenario loader can turn it into a keyed message.

>>> parse_duration("250ms")
0.25
>>> parse_size("2GiB")
2147483648
>>> parse_bandwidth("100Mbit/s")
100000000.0
"""

from __future__ import annotations

import re

_NUMBER = re.compile(r"^\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*([A-Za-zµ/]*)\s*$")

DURATION_UNITS: dict[str, float] = {
    "": 1.0, "s": 1.0, "sec": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9,
    "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0,
}  # fmt: skip

SIZE_UNITS: dict[str, int] = {
    "": 1, "B": 1,
    "kB": 10**3, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
    "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40,
    "k": 10**3, "K": 2**10, "M": 2**20, "G": 2**30,  # nginx-style shorthands
}  # fmt: skip

BANDWIDTH_UNITS: dict[str, float] = {
    "": 1.0, "bit/s": 1.0, "bps": 1.0,
    "kbit/s": 1e3, "Kbit/s": 1e3, "kbps": 1e3, "Mbit/s": 1e6, "Mbps": 1e6,
    "Gbit/s": 1e9, "Gbps": 1e9, "Tbit/s": 1e12,
    "B/s": 8.0, "kB/s": 8e3, "KB/s": 8e3, "MB/s": 8e6, "GB/s": 8e9,
}  # fmt: skip

RATE_UNITS: dict[str, float] = {
    "": 1.0, "/s": 1.0, "rps": 1.0, "/min": 1 / 60, "/m": 1 / 60, "/h": 1 / 3600,
}  # fmt: skip


class UnitError(ValueError):
    """A quantity that does not parse; the message lists the allowed units."""


def _parse(value: object, table: dict[str, float], kind: str) -> float:
    if isinstance(value, bool):
        raise UnitError(f"expected a {kind}, got a boolean")
    if isinstance(value, int | float):
        if value != value:  # NaN
            raise UnitError(f"expected a {kind}, got NaN")
        return float(value)
    if not isinstance(value, str):
        raise UnitError(f"expected a {kind} such as {_example(kind)}, got {type(value).__name__}")
    m = _NUMBER.match(value)
    if not m or m.group(2) not in table:
        units = ", ".join(u for u in table if u)
        raise UnitError(f"{value!r} is not a {kind}; write a number with one of: {units}")
    return float(m.group(1)) * table[m.group(2)]


def _example(kind: str) -> str:
    return {"duration": '"250ms"', "size": '"2GiB"', "bandwidth": '"100Mbit/s"'}.get(kind, '"10/s"')


def parse_duration(value: object) -> float:
    """Seconds from ``"250ms"``, ``"30s"``, ``"10m"``, ``"2h"`` or a bare number of seconds."""
    return _parse(value, DURATION_UNITS, "duration")


def parse_size(value: object) -> int:
    """Bytes from ``"2GiB"``, ``"500MB"``, ``"64KiB"`` or a bare number of bytes."""
    return int(round(_parse(value, SIZE_UNITS, "size")))  # type: ignore[arg-type]


def parse_bandwidth(value: object) -> float:
    """Bits per second from ``"100Mbit/s"``, ``"1Gbps"``, ``"12.5MB/s"``."""
    return _parse(value, BANDWIDTH_UNITS, "bandwidth")


def parse_rate(value: object) -> float:
    """Events per second from ``"500/s"``, ``"30000/min"`` or a bare number."""
    return _parse(value, RATE_UNITS, "rate")


def format_size(n: float) -> str:
    """``1536`` -> ``"1.5 KiB"``: binary units for display."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def format_duration(seconds: float) -> str:
    """``0.0123`` -> ``"12.3 ms"``; ``90`` -> ``"1.5 min"``."""
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
