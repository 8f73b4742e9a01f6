"""``cdn rtt A B`` and ``cdn rtt --csv pairs.csv``: the network model's predictions."""

from __future__ import annotations

import argparse
import sys

COLUMNS = ("lat_a", "lon_a", "lat_b", "lon_b")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "rtt",
        help="predict the round-trip time and path between two places",
        description=(
            "Predict the round-trip time between two places with the built-in "
            "speed-of-light backbone model, and show the great-circle distance, the "
            "fiber floor (light in fiber along the great circle) and the path with "
            "each hop's one-way latency. Places are IATA codes (FRA), city names "
            "('Sao Paulo', 'Portland, US') or 'lat,lon'. With --csv, predict many "
            "pairs at once from a CSV with columns lat_a,lon_a,lat_b,lon_b (other "
            "columns are kept) and write the rows with an added rtt_ms column."
        ),
        epilog="examples:  cdn rtt LHR JFK   |   cdn rtt Lagos Mumbai --access 5ms   |   "
        "cdn rtt --csv pairs.csv -o out.csv",
    )
    p.add_argument("a", nargs="?", metavar="A", help="first place")
    p.add_argument("b", nargs="?", metavar="B", help="second place")
    p.add_argument(
        "--access",
        default="0ms",
        metavar="DURATION",
        help="one-way last-mile delay added at each end, e.g. 5ms (default: 0ms)",
    )
    p.add_argument("--csv", metavar="PAIRS.CSV", help="CSV of pairs to predict ('-' for stdin)")
    p.add_argument(
        "-o", "--output", metavar="OUT.CSV", help="with --csv: write here instead of stdout"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cdn.errors import UserError
    from cdn.units import UnitError, parse_duration

    try:
        access = parse_duration(args.access)
    except UnitError as exc:
        raise UserError(f"--access: {exc}") from None
    if access < 0:
        raise UserError(f"--access must be >= 0, got {args.access}")
    if args.csv:
        if args.a or args.b:
            raise UserError("give either two places or --csv, not both")
        return run_csv(args.csv, args.output, access)
    if args.output:
        raise UserError("-o/--output only applies with --csv")
    if not (args.a and args.b):
        raise UserError("give two places (e.g. 'cdn rtt LHR JFK') or --csv PAIRS.CSV")
    from cdn.places import resolve_place

    print(describe(resolve_place(args.a), resolve_place(args.b), access))
    return 0


def describe(a, b, access: float = 0.0) -> str:
    """The human-readable report for one pair."""
    from cdn.geo import fiber_rtt_ms, great_circle_km
    from cdn.network import NetworkModel

    model = NetworkModel.default()
    km = great_circle_km(a.lat, a.lon, b.lat, b.lon)
    floor = fiber_rtt_ms(km)
    rtt = model.rtt_ms(a, b, access, access)
    ratio = f" ({rtt / floor:.2f}x the floor)" if floor > 0 else ""
    lines = [
        f"{a.name} -> {b.name}",
        f"  predicted RTT   {rtt:8.1f} ms{ratio}",
        f"  great circle    {km:8,.0f} km",
        f"  fiber floor     {floor:8.1f} ms RTT (light in fiber along the great circle)",
    ]
    if access:
        lines.append(f"  last mile       {access * 1000:8.1f} ms one-way at each end (included)")
    hops = model.route(a, b)
    lines.append("  path (one-way ms per hop):")
    width = max(len(f"{h.a} -> {h.b}") for h in hops)
    for h in hops:
        lines.append(
            f"    {h.a + ' -> ' + h.b:<{width}}  {h.kind:<6} {h.km:7,.0f} km {h.one_way_ms:7.2f} ms"
        )
    total = sum(h.one_way_ms for h in hops)
    lines.append(f"    {'one way, without last mile':<{width}}  {'':<6} {'':>10} {total:7.2f} ms")
    return "\n".join(lines)


def run_csv(path: str, output: str | None, access: float) -> int:
    import csv
    import io
    import os
    import tempfile

    import numpy as np

    from cdn.errors import UserError
    from cdn.network import NetworkModel

    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8-sig", newline="") as f:
                text = f.read()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    fields = list(reader.fieldnames or [])
    missing = [c for c in COLUMNS if c not in fields]
    if missing:
        raise UserError(
            f"{path}: missing column(s) {', '.join(missing)}; the header must have "
            f"{', '.join(COLUMNS)} (found: {', '.join(fields) or 'no header'})"
        )
    rows, coords = [], []
    for row in reader:
        values = []
        for col in COLUMNS:
            raw = row.get(col)
            try:
                v = float(raw)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                shown = "missing" if raw is None or raw == "" else repr(raw)
                raise UserError(
                    f"{path} line {reader.line_num}: {col} is {shown}; expected a number in degrees"
                ) from None
            limit = 90.0 if col.startswith("lat") else 180.0
            if not -limit <= v <= limit:
                raise UserError(
                    f"{path} line {reader.line_num}: {col} = {raw} is out of range; "
                    f"allowed -{limit:g} to {limit:g}"
                )
            values.append(v)
        rows.append(row)
        coords.append(values)
    arr = np.array(coords, float).reshape(-1, 4)
    rtt = NetworkModel.default().rtt_pairs_ms(*arr.T) + 2000.0 * 2 * access
    out_fields = fields + ([] if "rtt_ms" in fields else ["rtt_ms"])
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=out_fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row, value in zip(rows, rtt, strict=True):
        row["rtt_ms"] = f"{value:.2f}"
        writer.writerow(row)
    if output is None:
        sys.stdout.write(buf.getvalue())
        return 0
    directory = os.path.dirname(os.path.abspath(output))
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".rtt-", suffix=".csv.tmp", dir=directory)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(buf.getvalue())
        os.replace(tmp, output)
    except OSError as exc:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)
        raise UserError(f"cannot write {output}: {exc.strerror}") from None
    print(f"wrote {len(rows)} rows with rtt_ms to {output}", file=sys.stderr)
    return 0
