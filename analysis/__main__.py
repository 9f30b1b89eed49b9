"""Command line: `python -m analysis report VOTES.csv --format json|csv|html [-o PATH] ...`.

Exit status 0 on success, 2 on bad input (the message on stderr).
"""

import argparse
import sys
from pathlib import Path

from analysis.render import atomic_writer, render_report
from analysis.report import build_report
from analysis.votes import AnalysisError, read_votes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis", description="Analyse a JUICE votes CSV.")
    commands = parser.add_subparsers(dest="command", required=True)
    report = commands.add_parser("report", help="win rates, agreement, reasons and ranking of a votes CSV")
    report.add_argument("votes", type=Path, metavar="VOTES.csv")
    report.add_argument("--format", choices=("json", "csv", "html"), default="json")
    report.add_argument("-o", "--output", type=Path, metavar="PATH", help="write here instead of standard output")
    report.add_argument(
        "--bootstrap", type=_count, default=1000, metavar="N", help="resamples of prompts for the ranking intervals (default 1000)"
    )
    report.add_argument("--seed", type=int, default=0, metavar="S", help="random seed of the bootstrap (default 0)")
    report.add_argument("--exclude-raters", type=_names, default=(), metavar="A,B", help="rater ids whose votes to leave out")
    args = parser.parse_args(argv)

    try:
        votes = read_votes(args.votes)
        result = build_report(votes, bootstrap=args.bootstrap, seed=args.seed, exclude_raters=args.exclude_raters)
    except AnalysisError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    text = render_report(result, args.format)
    if args.output is None:
        sys.stdout.write(text)
    else:
        with atomic_writer(args.output) as out:
            out.write(text)
        print(f"wrote {args.format} report of {result['summary']['votes']:,} votes to {args.output}", file=sys.stderr)
    return 0


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


if __name__ == "__main__":
    sys.exit(main())
