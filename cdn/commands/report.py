"""``cdn report``: figures and an offline HTML page from simulation results."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "report",
        help="draw figures and an HTML page from results (or compare two runs)",
        description=(
            "Draw the figures of a results directory written by `cdn simulate` (or a sweep "
            "directory written by `cdn sweep`) as PNG and SVG, and one self-contained HTML "
            "page, index.html, that opens offline. With two directories, compare the runs: "
            "per-region changes of p50, p95 and hit ratio, and both runs side by side."
        ),
    )
    p.add_argument("results", nargs="+", metavar="RESULTS_DIR",
                   help="one results directory, or two to compare (A then B)")  # fmt: skip
    p.add_argument("-o", "--output", metavar="DIR", help="where to write the report "
                   "(default: RESULTS_DIR/report/; for two: compare-A-B/ beside A)")  # fmt: skip
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cdn.errors import UserError

    if len(args.results) > 2:
        raise UserError(f"give one results directory, or two to compare; got {len(args.results)}")
    from cdn.report_html import write_comparison, write_report

    try:
        if len(args.results) == 1:
            paths = write_report(args.results[0], args.output)
        else:
            paths = write_comparison(args.results[0], args.results[1], args.output)
    except OSError as exc:  # an unwritable or vanished directory: say which
        raise UserError(f"cannot write the report: {exc}") from None
    index = next(p for p in paths if p.name == "index.html")
    print(f"wrote {len(paths)} files; open {index}")
    return 0
