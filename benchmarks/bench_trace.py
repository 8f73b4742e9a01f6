"""Benchmark reading a trace file: ``scan_trace`` and ``read_trace`` rows per second.

Writes a trace (``time,client,key,size``; by default 2,000,000 rows, CRLF line
endings as Python's csv module writes them, clients that are place names and
IP addresses, Zipf keys) to a temporary directory and times the two passes the
simulator makes over it:

- scan: ``scan_trace`` (checks every row, collects the clients and keys);
- read: ``read_trace`` (the replay: ``Requests`` blocks, drained).

Beside them, in the same run and over the same file, two yardsticks: a bare
``for line in fh: line.split(",")`` loop (the cheapest Python loop that looks
at every field) and ``csv.reader`` with nothing done per row. The ratios say
how a pass compares with the bare loop. Before the block parser (``csv`` and a
parse per row) both passes ran at about 0.12x the bare loop (0.45-0.50 M rows/s
here); with it, about 0.45x (1.8 M rows/s): 3.5-4x faster.

Usage: python benchmarks/bench_trace.py [--rows N] [--repeat R] [--crlf/--lf] [--json FILE]
Each figure is the best of R interleaved runs in CPU time of this process.
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cdn.workload import read_trace, scan_trace  # noqa: E402

PLACES = ("London", "Frankfurt", "Tokyo", "New York", "Sao Paulo", "Sydney", "Mumbai", "Paris")


def write_trace(path: Path, rows: int, *, seed: int = 1, crlf: bool = True) -> None:
    """A synthetic trace: Poisson times, 1,000 clients, 100,000 Zipf(0.9) keys."""
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.exponential(1e-4, rows))
    clients = [*PLACES, *(f"127.64.{i // 250}.{i % 250 + 1}" for i in range(992))]
    client = rng.integers(0, len(clients), rows)
    ranks = np.arange(1, 100_001, dtype=np.float64)
    cdf = np.cumsum(ranks**-0.9)
    key = np.searchsorted(cdf, rng.random(rows) * cdf[-1])
    size = rng.lognormal(9.0, 1.5, rows).astype(np.int64) + 1
    end = "\r\n" if crlf else "\n"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        fh.write("time,client,key,size" + end)
        step = 1 << 16
        for a in range(0, rows, step):
            b = min(rows, a + step)
            fh.write(
                "".join(
                    f"{t[i]:.6f},{clients[client[i]]},/obj/{key[i]}.jpg,{size[i]}{end}"
                    for i in range(a, b)
                )
            )


def bare_split(path: Path) -> int:
    n = 0
    with open(path, newline="", encoding="utf-8") as fh:
        for line in fh:
            line.split(",")
            n += 1
    return n - 1


def bare_csv(path: Path) -> int:
    n = 0
    with open(path, newline="", encoding="utf-8") as fh:
        for _ in csv.reader(fh):
            n += 1
    return n - 1


def scan(path: Path) -> int:
    return scan_trace(path).rows


def read(path: Path, trace) -> int:
    nc, nk = len(trace.clients), len(trace.keys)
    blocks = read_trace(trace, [0] * nc, [0] * nc, [0] * nk, seed=1, keepalive=0.5, hosts=8)
    return sum(len(b) for b in blocks)


def timed(fn, *args) -> tuple[float, int]:
    gc.collect()
    t0 = time.process_time()
    n = fn(*args)
    return time.process_time() - t0, n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--lf", action="store_true", help="LF line endings (default CRLF)")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trace.csv"
        write_trace(path, args.rows, crlf=not args.lf)
        mb = os.path.getsize(path) / 1e6
        trace = scan_trace(path)
        runs = {
            "bare split": lambda: bare_split(path),
            "bare csv": lambda: bare_csv(path),
            "scan_trace": lambda: scan(path),
            "read_trace": lambda: read(path, trace),
        }
        best = dict.fromkeys(runs, float("inf"))
        for _ in range(args.repeat):
            for name, fn in runs.items():
                sec, n = timed(fn)
                assert n == args.rows, (name, n)
                best[name] = min(best[name], sec)
    rate = {k: args.rows / v for k, v in best.items()}
    print(f"trace: {args.rows:,} rows, {mb:.0f} MB, {'LF' if args.lf else 'CRLF'}; "
          f"best of {args.repeat}, CPU time")  # fmt: skip
    for name in runs:
        ratio = rate[name] / rate["bare split"]
        print(f"  {name:<11} {rate[name] / 1e6:6.2f} M rows/s  {ratio:5.2f}x bare split")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"rows": args.rows, "rows_per_s": rate}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
