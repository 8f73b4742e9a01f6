"""``cdn sweep``: simulate a grid of scenario variants in parallel.

``--set KEY=V1,V2,...`` names a key path of the scenario file (``dns.policy``,
``edges.capacity`` for every edge, ``edges[2].capacity`` for one,
``workload.zipf_alpha``) and the values to try; several ``--set`` make the
cross product. Each variant is the scenario's TOML with those keys replaced,
validated by the scenario loader like any file, simulated in its own process
(local processes by default, or the workers of a Dask distributed cluster with
``--scheduler ADDRESS``), and written to ``OUT/<variant>/``; ``OUT/sweep.csv``
holds the headline figures of all variants.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
from pathlib import Path
from typing import Any

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_STEP = re.compile(r"^([A-Za-z0-9_-]+)(?:\[(\d+)\])?$")
HEADLINE = ["requests", "hit_ratio", "byte_hit_ratio", "latency_p50_ms", "latency_p90_ms",
            "latency_p99_ms", "latency_mean_ms", "mapping_km_mean", "origin_requests",
            "origin_bytes", "errors", "retries"]  # fmt: skip


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "sweep",
        help="simulate a grid of scenario variants in parallel",
        description=__doc__.split("\n\n", 1)[1].replace("``", "").strip(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("scenario", help="scenario file or bundled name")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=V1,V2",
                   help="a key path and the values to try (repeat for a grid)")  # fmt: skip
    p.add_argument("-o", "--output", metavar="DIR",
                   help="results directory (default: results/<scenario>-sweep/)")  # fmt: skip
    p.add_argument("--requests", type=int, metavar="N", help="requests per variant")
    p.add_argument("--seed", type=int, help="seed for every variant (default: the scenario's)")
    p.add_argument("-j", "--jobs", type=int, metavar="N",
                   help="local worker processes (default: one per CPU)")  # fmt: skip
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on a Dask distributed cluster (e.g. tcp://10.0.0.5:8786)")  # fmt: skip
    p.set_defaults(func=run)


# --- variants -------------------------------------------------------------------------


def parse_set(text: str) -> tuple[str, list[Any]]:
    from cdn.errors import UserError

    key, sep, values = text.partition("=")
    key = key.strip()
    if not sep or not key or not values.strip():
        raise UserError(
            f"--set {text!r}: write KEY=VALUE[,VALUE...], e.g. dns.policy=nearest,latency"
        )
    for step in key.split("."):
        if not _STEP.match(step):
            raise UserError(f"--set {text!r}: {step!r} is not a key (letters, digits, _ and -, "
                            "optionally with an index like edges[2])")  # fmt: skip
    return key, [_value(v.strip()) for v in values.split(",")]


def _value(v: str) -> Any:
    if v in ("true", "false"):
        return v == "true"
    for conv in (int, float):
        try:
            return conv(v)
        except ValueError:
            pass
    return v


def apply_set(raw: dict, key: str, value: Any) -> None:
    """Set ``key`` (dotted path; an array of tables without an index means every
    element) to ``value`` in the TOML data ``raw``."""
    from cdn.errors import UserError

    nodes: list = [raw]
    steps = key.split(".")
    for depth, step in enumerate(steps):
        m = _STEP.match(step)
        name, index = m.group(1), m.group(2)
        last = depth == len(steps) - 1
        nxt = []
        for node in nodes:
            if last and index is None:
                node[name] = value
                continue
            child = node.setdefault(name, {} if index is None else [])
            if isinstance(child, list):
                if index is not None:
                    if int(index) >= len(child):
                        raise UserError(f"--set {key}: {name} has {len(child)} entries")
                    child = [child[int(index)]]
                if last:
                    raise UserError(f"--set {key}: cannot replace a whole table")
                nxt.extend(c for c in child if isinstance(c, dict))
            elif isinstance(child, dict):
                nxt.append(child)
            else:
                raise UserError(f"--set {key}: {name} is a value, not a table")
        nodes = nxt


def to_toml(raw: dict) -> str:
    """TOML text for data read by tomllib (tables, arrays of tables, scalars)."""
    out: list[str] = []

    def emit(d: dict, prefix: str) -> None:
        subs = []
        for k, v in d.items():
            if isinstance(v, dict) or (
                isinstance(v, list) and v and all(isinstance(x, dict) for x in v)
            ):
                subs.append((k, v))
            else:
                out.append(f"{_key(k)} = {_scalar(v)}")
        for k, v in subs:
            path = f"{prefix}{_key(k)}"
            if isinstance(v, dict):
                out.append(f"\n[{path}]")
                emit(v, path + ".")
            else:
                for item in v:
                    out.append(f"\n[[{path}]]")
                    emit(item, path + ".")

    emit(raw, "")
    return "\n".join(out).strip() + "\n"


def _key(k: str) -> str:
    return k if _BARE_KEY.match(k) else json.dumps(k, ensure_ascii=False)


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v) if v == v and abs(v) != float("inf") else ("nan" if v != v else
                                                                  ("inf" if v > 0 else "-inf"))  # fmt: skip
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(_scalar(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_key(k)} = {_scalar(x)}" for k, x in v.items()) + "}"
    return json.dumps(str(v))


def _label(settings: list[tuple[str, Any]]) -> str:
    text = "_".join(f"{k}={v}" for k, v in settings)
    return re.sub(r"[^A-Za-z0-9_.=-]+", "-", text) or "base"


def run_variant(text: str, path: str, base_dir: str, out_dir: str, requests: int | None,
                seed: int | None) -> dict:  # fmt: skip
    """Simulate one variant (runs in a worker process); returns its headline figures."""
    from cdn.scenario import scenario_from_text
    from cdn.simulate import simulate

    sc = scenario_from_text(text, path, Path(base_dir))
    s = simulate(sc, out_dir=out_dir, requests=requests, seed=seed).summary
    lat = s["latency_ms"]
    return {
        "requests": s["requests"], "hit_ratio": s["hit_ratio"],
        "byte_hit_ratio": s["byte_hit_ratio"], "latency_p50_ms": lat["p50"],
        "latency_p90_ms": lat["p90"], "latency_p99_ms": lat["p99"],
        "latency_mean_ms": lat["mean"], "mapping_km_mean": s["mapping_distance_km"]["mean"],
        "origin_requests": s["origin"]["requests"], "origin_bytes": s["origin"]["bytes"],
        "errors": s["errors"], "retries": s["retries"],
    }  # fmt: skip


def variants(scenario: str, sets: list[str]) -> tuple[str, list[tuple[list, str]], Path]:
    """(scenario name, [(settings, toml text)], directory for relative paths)."""
    import tomllib

    from cdn.scenario import find_scenario, load_scenario

    base = load_scenario(scenario)  # validates the original first
    path = find_scenario(scenario)
    axes = [parse_set(s) for s in sets]
    keys = [k for k, _ in axes]
    out = []
    for combo in itertools.product(*(vals for _, vals in axes)):
        settings = list(zip(keys, combo, strict=True))
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        for k, v in settings:
            apply_set(data, k, v)
        data["name"] = f"{base.name}_{_label(settings)}" if settings else base.name
        out.append((settings, to_toml(data)))
    return base.name, out, path.resolve().parent


def run(args: argparse.Namespace) -> int:
    import csv
    import io
    import os
    import time

    from cdn.errors import UserError
    from cdn.results import atomic_write

    name, grid, base_dir = variants(args.scenario, args.sets)
    out = Path(args.output or Path("results") / f"{name}-sweep")
    # Validate every variant here, so a bad value is reported before any work starts.
    from cdn.scenario import scenario_from_text

    jobs = []
    for settings, text in grid:
        label = _label(settings) if settings else "base"
        scenario_from_text(text, f"{args.scenario} with {label}", base_dir)
        jobs.append((settings, label, text))
    start = time.perf_counter()
    call_args = [(text, f"{args.scenario} with {label}", str(base_dir), str(out / label),
                  args.requests, args.seed) for settings, label, text in jobs]  # fmt: skip
    if args.scheduler:
        try:
            from dask.distributed import Client
        except ImportError:
            raise UserError("--scheduler needs dask[distributed] installed") from None
        try:
            client = Client(args.scheduler, timeout=10)
        except OSError as exc:
            raise UserError(f"cannot reach the Dask scheduler at {args.scheduler}: {exc}") from None
        with client:
            futures = [client.submit(run_variant, *a, pure=False) for a in call_args]
            results = client.gather(futures)
    else:
        from concurrent.futures import ProcessPoolExecutor

        workers = args.jobs or min(len(call_args), os.cpu_count() or 1)
        if workers <= 1:
            results = [run_variant(*a) for a in call_args]
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                results = list(pool.map(run_variant, *zip(*call_args, strict=True)))
    keys = [k for k, _ in (jobs[0][0] if jobs else [])]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["variant", *keys, *HEADLINE])
    for (settings, label, _), r in zip(jobs, results, strict=True):
        w.writerow(
            [label, *(v for _, v in settings), *("" if r[h] is None else r[h] for h in HEADLINE)]
        )
    atomic_write(out / "sweep.csv", buf.getvalue())
    print(buf.getvalue(), end="")
    print(f"{len(jobs)} variant(s) in {time.perf_counter() - start:.1f} s wall; "
          f"results in {out}/<variant>/, table in {out / 'sweep.csv'}")  # fmt: skip
    return 0
