"""Votes saved by early stopping (Study.early_stop), at several levels of agreement between raters.

    .venv/bin/python bench/bench_early_stop.py [--items 200] [--raters 5] [--agreement 0.6 0.7 0.8 0.9 1.0]

For each agreement level it builds two copies of a study in a temporary SQLite database (no server
needed), one with early stopping and one without, and has `--raters` simulated raters rate each copy
through the real claim and vote code (assignment_next, vote_submit), one vote each in turn. Every
item has a better side per question; each rater agrees with it with probability `agreement`, and
votes the same way in both copies. It prints the votes cast by each copy, the share saved, and
checks that every item's outcome (so every win rate) is the same in both.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from collections import Counter
from pathlib import Path

from _setup import django_setup

QUESTIONS = ("quality", "faithfulness")


def better_sides(items: int, seed: int) -> dict[tuple[str, str], str]:
    """(prompt key, question) -> the better system ("a"/"b") of each item, drawn at random."""
    rng = random.Random(seed)
    return {(f"p{n + 1:04d}", question): rng.choice("ab") for n in range(items) for question in QUESTIONS}


def rate(study, raters: int, better: dict[tuple[str, str], str], agreement: float, seed: int) -> None:
    """The raters in turn, one vote each per round, until none is handed anything; each agrees with
    an item's better side with probability `agreement`, and judges an item alike in both copies."""
    from tests.support.raters import SimulatedRater, rate_in_turns

    def truth(item, question: str) -> str:
        return better[(item.prompt.key, question)]

    rate_in_turns(SimulatedRater(f"r{r}", accuracy=agreement, truth=truth, seed=seed).join(study) for r in range(raters))


def outcomes(study) -> dict[tuple[int, str], str]:
    from annotation.models import Vote

    counts: dict[tuple[int, str], Counter] = {}
    for key, question, choice in Vote.objects.filter(assignment__item__study=study).values_list(
        "assignment__item__prompt__key", "question", "choice"
    ):
        counts.setdefault((key, question), Counter())[choice] += 1
    return {k: ("tie" if len(c) > 1 and c.most_common()[0][1] == c.most_common()[1][1] else c.most_common()[0][0])
            for k, c in counts.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--raters", type=int, default=5)
    parser.add_argument("--agreement", type=float, nargs="+", default=[0.6, 0.7, 0.8, 0.9, 1.0])
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-early-stop-") as tmp:
        # A fresh SQLite file: no server needed.
        django_setup(database=f"sqlite:///{Path(tmp) / 'bench.sqlite3'}", broker="", media_root=Path(tmp) / "media",
                     fast_raters=True, migrate=True)
        from annotation.models import Vote
        from tests.support.builders import build_open_study

        print(f"{args.items} items x {args.raters} raters, questions {', '.join(QUESTIONS)}")
        print(f"{'agreement':>9}  {'votes (full)':>12}  {'votes (early stop)':>18}  {'saved':>6}  same outcomes")
        for level in args.agreement:
            better = better_sides(args.items, args.seed)
            copies = {}
            for early in (False, True):
                study = build_open_study(n_prompts=args.items, raters=args.raters, copy_files=False, seed=args.seed,
                                         name=f"agreement {level} {'early' if early else 'full'}", early_stop=early)
                rate(study, args.raters, better, level, args.seed)
                copies[early] = study
            full, early = (Vote.objects.filter(assignment__item__study=copies[e]).count() // len(QUESTIONS) for e in (False, True))
            same = outcomes(copies[False]) == outcomes(copies[True])
            print(f"{level:>9.2f}  {full:>12}  {early:>18}  {1 - early / full:>6.1%}  {'yes' if same else 'NO'}")
            if not same:
                sys.exit("error: an early-stopped outcome differs from the full count's")


if __name__ == "__main__":
    main()
