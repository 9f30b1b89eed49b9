"""Command line: `python -m analysis report VOTES.csv ...` and `python -m analysis plan ...`.

Exit status 0 on success, 2 on bad input (the message on stderr).
"""

import argparse
import sys
import warnings
from pathlib import Path

from analysis.render import FORMATS, atomic_writer
from analysis.votes import AnalysisError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis", description="Analyse a JUICE votes CSV, or size a study.")
    commands = parser.add_subparsers(dest="command", required=True)
    _report_arguments(commands.add_parser("report", help="win rates, agreement, reasons and ranking of a votes CSV"))
    _plan_arguments(commands.add_parser("plan", help="how many prompts a pair needs to detect a given win rate"))
    args = parser.parse_args(argv)
    try:
        return _report(args) if args.command == "report" else _plan(args)
    except AnalysisError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _report_arguments(report: argparse.ArgumentParser) -> None:
    report.add_argument("votes", type=Path, metavar="VOTES.csv")
    report.add_argument("--format", choices=FORMATS, default="json", help="latex and markdown: the win-rate grid of each question")
    report.add_argument("-o", "--output", type=Path, metavar="PATH", help="write here instead of standard output")
    report.add_argument(
        "--bootstrap", type=_count, default=1000, metavar="N", help="resamples of prompts behind the ranking and net win rate intervals"
    )
    report.add_argument("--seed", type=int, default=0, metavar="S", help="random seed of the bootstrap (default 0)")
    report.add_argument("--exclude-raters", type=_names, default=(), metavar="A,B", help="rater ids whose votes to leave out")
    report.add_argument("--raters-csv", type=Path, metavar="PATH", help="also write every rater's figures to this CSV file")
    report.add_argument(
        "--rater-model", action="store_true", help="add a sensitivity analysis that weighs raters by estimated reliability (Dawid-Skene)"
    )
    report.add_argument(
        "--design", type=Path, metavar="FILE",
        help="the study's design file (design.json): checked against the votes; a dynamic study's report adds the sequential figures",
    )
    report.add_argument(
        "--aggregate-samples", action="store_true",
        help="with several samples per prompt (the sample column): first take each pair and prompt's majority over its samples",
    )


def _plan_arguments(plan: argparse.ArgumentParser) -> None:
    plan.add_argument(
        "--win-rate", type=float, required=True, metavar="P", help="share of decisive items whose majority prefers the better system"
    )
    plan.add_argument("--power", type=float, required=True, metavar="POWER", help="chance of detecting that difference, e.g. 0.8")
    plan.add_argument("--alpha", type=float, default=0.05, help="significance level of the two-sided test (default 0.05)")
    plan.add_argument("--tie-rate", type=float, default=0.0, metavar="T", help="expected share of items that end in a tie (default 0)")


def _report(args: argparse.Namespace) -> int:
    # Imported here: `plan` needs none of pandas.
    from analysis.design import read_design
    from analysis.render import render_rater_csv, render_report
    from analysis.report import build_rater_table, build_report
    from analysis.votes import read_votes

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        votes = read_votes(args.votes)
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)
    design = None if args.design is None else read_design(args.design)
    options = {"exclude_raters": args.exclude_raters, "rater_model": args.rater_model}
    result = build_report(votes, bootstrap=args.bootstrap, seed=args.seed, design=design, aggregate_samples=args.aggregate_samples,
                          **options)
    text = render_report(result, args.format)
    if args.output is None:
        sys.stdout.write(text)
    else:
        with atomic_writer(args.output) as out:
            out.write(text)
        print(f"wrote {args.format} report of {result['summary']['votes']:,} votes to {args.output}", file=sys.stderr)
    if args.raters_csv is not None:
        table = build_rater_table(votes, **options)
        with atomic_writer(args.raters_csv) as out:
            out.write(render_rater_csv(table))
        print(f"wrote the figures of {len(table):,} raters to {args.raters_csv}", file=sys.stderr)
    return 0


def _plan(args: argparse.Namespace) -> int:
    from analysis.planning import PlanningError, decisive_items_needed, items_needed

    try:
        first, decisive = decisive_items_needed(args.win_rate, args.power, args.alpha)
        items = items_needed(decisive, args.tie_rate)
    except PlanningError as error:
        raise AnalysisError(str(error)) from None
    print(
        f"{items:,} items (prompts) per pair: from {decisive:,} decisive items on, the two-sided exact binomial test at alpha "
        f"{args.alpha:g} has at least {100 * args.power:g}% power when the better system wins {100 * args.win_rate:g}% of them"
        + (f"; {items:,} items leave {decisive:,} decisive ones when {100 * args.tie_rate:g}% tie." if args.tie_rate else ".")
    )
    if first < decisive:
        print(f"(Power first reaches {100 * args.power:g}% at {first:,} decisive items but falls below it again until {decisive:,}.)")
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
