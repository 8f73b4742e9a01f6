"""Run mnot's HTTP cache conformance suite (cache-tests.fyi) against our edge.

The suite is the npm package ``http-cache-tests`` (BSD-3-Clause). It ships an
origin server (``server/server.mjs``) and a CLI (``cli.mjs``) that sends every
test's requests to a base URL and prints a JSON object: test id -> ``true`` or
``[kind-of-failure, message]``. Here the base URL is our edge, acting as a
reverse proxy in front of the suite's own origin, so the suite measures the
edge as a shared cache. Each test has a kind: ``required`` (an RFC MUST),
``optimal`` (a SHOULD or a good practice) or ``check`` (informational: which
of two allowed behaviours the cache picks). A test whose ``depends_on`` tests
did not pass counts as a dependency failure, as on the suite's web page.

The suite is never downloaded at run time. Install it once outside the repo:

    mkdir -p /tmp/ct && cd /tmp/ct && npm install http-cache-tests@0.4.5
    python benchmarks/conformance.py --suite /tmp/ct/node_modules/http-cache-tests

(or set CACHE_TESTS_DIR). ``--vendors`` also prints the counts from the
results files the package ships (Varnish, nginx, Squid, ATS, ...), classified
the same way against the same test list.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

INSTALL_HINT = (
    "http-cache-tests not found. Install it outside the repo, then point --suite at it:\n"
    "  mkdir -p /tmp/ct && cd /tmp/ct && npm install http-cache-tests@0.4.5\n"
    "  python benchmarks/conformance.py --suite /tmp/ct/node_modules/http-cache-tests"
)

# Dumps every test's kind, name and dependencies, the same list cli.mjs runs.
META_JS = """
const base = process.argv[1]
const tests = (await import(base + '/tests/index.mjs')).default
tests.push((await import(base + '/tests/surrogate-control.mjs')).default)
const out = {}
for (const s of tests) for (const t of s.tests) {
  out[t.id] = {kind: t.kind || 'required', name: t.name, depends_on: t.depends_on || []}
}
console.log(JSON.stringify(out))
"""

PASSING = ("pass", "yes")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"process {proc.args!r} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def load_meta(suite: Path) -> dict:
    out = subprocess.run(
        ["node", "--input-type=module", "-e", META_JS, suite.resolve().as_uri()],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def classify(meta: dict, results: dict) -> dict[str, str]:
    """Test id -> outcome, as lib/display.mjs determineTestResult does."""
    memo: dict[str, str] = {}

    def outcome(test_id: str) -> str:
        if test_id in memo:
            return memo[test_id]
        test, result = meta[test_id], results.get(test_id)
        if result is None:
            value = "untested"
        elif any(outcome(d) not in PASSING for d in test["depends_on"] if d in meta):
            value = "dependency_fail"
        elif isinstance(result, list) and result and result[0] == "Setup":
            value = "setup_fail"
        elif test["kind"] == "check":
            value = "yes" if result is True else "no"
        elif test["kind"] == "optimal":
            value = "pass" if result is True else "optional_fail"
        else:
            value = "pass" if result is True else "fail"
        memo[test_id] = value
        return value

    return {test_id: outcome(test_id) for test_id in meta}


def counts(meta: dict, outcomes: dict[str, str]) -> dict[str, collections.Counter]:
    by_kind: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for test_id, value in outcomes.items():
        by_kind[meta[test_id]["kind"]][value] += 1
    return by_kind


def print_counts(label: str, meta: dict, outcomes: dict[str, str]) -> None:
    print(f"== {label}")
    for kind, counter in sorted(counts(meta, outcomes).items()):
        total = sum(counter.values())
        detail = ", ".join(f"{k} {v}" for k, v in sorted(counter.items()))
        passed = counter["pass"] + counter["yes"]
        print(f"  {kind:9s} {passed:3d}/{total:3d} passed  ({detail})")


def run_suite(suite: Path, edge_args: list[str], workdir: Path) -> dict:
    """Start the suite's origin and our edge, run the CLI, stop both."""
    origin_port, edge_port = free_port(), free_port()
    env = dict(os.environ, npm_config_protocol="http", npm_config_port=str(origin_port))
    env["npm_config_pidfile"] = str(workdir / "server.pid")
    procs: list[subprocess.Popen] = []
    try:
        origin = subprocess.Popen(
            ["node", "server/server.mjs"],
            cwd=suite,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(workdir / "origin.log", "w"),  # noqa: SIM115 (lives as long as the process)
        )
        procs.append(origin)
        wait_port(origin_port, origin)
        edge_cmd = [sys.executable, "-m", "cdn", "edge"]
        edge_cmd += ["--origin", f"http://127.0.0.1:{origin_port}"]
        edge_cmd += ["--listen", f"127.0.0.1:{edge_port}", *edge_args]
        edge = subprocess.Popen(
            edge_cmd,
            stdout=subprocess.DEVNULL,
            stderr=open(workdir / "edge.log", "w"),  # noqa: SIM115 (lives as long as the process)
        )
        procs.append(edge)
        wait_port(edge_port, edge)
        cli_env = dict(os.environ, npm_config_base=f"http://127.0.0.1:{edge_port}")
        cli_env["npm_package_config_id"] = ""  # empty id: run every test
        out = subprocess.run(
            ["node", "--no-warnings", "cli.mjs"],
            cwd=suite,
            env=cli_env,
            check=True,
            capture_output=True,
            text=True,
            timeout=600,
        )
        (workdir / "results.json").write_text(out.stdout)
        return json.loads(out.stdout)
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--suite",
        default=os.environ.get("CACHE_TESTS_DIR", "/tmp/ct/node_modules/http-cache-tests"),
        help="node_modules/http-cache-tests directory (env CACHE_TESTS_DIR)",
    )
    ap.add_argument("--vendors", action="store_true", help="also count the shipped results")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir with results.json")
    ap.add_argument("edge_args", nargs="*", help="extra arguments for `cdn edge` (after --)")
    args = ap.parse_args(argv)
    suite = Path(args.suite)
    if not (suite / "cli.mjs").is_file() or shutil.which("node") is None:
        print(INSTALL_HINT)
        return 0
    meta = load_meta(suite)
    workdir = Path(tempfile.mkdtemp(prefix="cache-tests-"))
    try:
        results = run_suite(suite, args.edge_args, workdir)
        outcomes = classify(meta, results)
        print_counts("our edge (reverse proxy in front of the suite's origin)", meta, outcomes)
        print("required tests not passed:")
        for test_id, value in outcomes.items():
            if meta[test_id]["kind"] == "required" and value != "pass":
                print(f"  {value:15s} {test_id}: {meta[test_id]['name']}")
        if args.vendors:
            for path in sorted((suite / "results").glob("*.json")):
                vendor = json.loads(path.read_text())
                print_counts(f"shipped results: {path.stem}", meta, classify(meta, vendor))
    finally:
        if args.keep:
            print(f"results kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
