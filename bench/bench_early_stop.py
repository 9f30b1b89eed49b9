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
import os
import random
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ("quality", "faithfulness")


def setup(folder: Path) -> None:
    """Django on a fresh SQLite file in `folder`, tasks in-process, media under `folder`."""
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = f"sqlite:///{folder / 'bench.sqlite3'}"
    os.environ["MEDIA_ROOT"] = str(folder / "media")
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ["JUICE_RATE_VOTE_PER_MINUTE"] = str(10**9)  # simulated raters vote faster than people
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "juice.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def preferences(items: int, raters: int, agreement: float, seed: int) -> dict[tuple[int, str, int], str]:
    rng = random.Random(seed)
    prefs = {}
    for n in range(items):
        for question in QUESTIONS:
            better = rng.choice("ab")
            for r in range(raters):
                prefs[(n, question, r)] = better if rng.random() < agreement else {"a": "b", "b": "a"}[better]
    return prefs


def rate(study, raters: int, prefs) -> None:
    """The raters in turn, one vote each per round, until none is handed anything."""
    from annotation.models import Assignment, Item, Rater
    from annotation.rating.assignment import assignment_next
    from annotation.rating.schemas import Ballot
    from annotation.rating.voting import assignment_for_vote, vote_submit

    numbers = {i.pk: int(i.prompt.key[1:]) - 1 for i in Item.objects.filter(study=study).select_related("prompt")}
    active = {r: Rater.objects.create(study=study, worker_id=f"r{r}") for r in range(raters)}
    while active:
        for r, rater in list(active.items()):
            shown = assignment_next(rater_id=rater.pk, slug=study.slug).assignment
            if shown is None:
                del active[r]
                continue
            item = Assignment.objects.get(token=shown.token).item_id
            body = {q: {"choice": "left" if prefs[(numbers[item], q, r)] == shown.left else "right",
                        "reasons": [study.reasons[q][0]["key"]]} for q in QUESTIONS}
            target = assignment_for_vote(rater_ids={rater.pk}, token=shown.token)
            vote_submit(target=target, ballot=Ballot.model_validate({**body, "watch_ms": 1000}))


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
        setup(Path(tmp))
        from annotation.models import Vote
        from tests.support.builders import build_open_study

        print(f"{args.items} items x {args.raters} raters, questions {', '.join(QUESTIONS)}")
        print(f"{'agreement':>9}  {'votes (full)':>12}  {'votes (early stop)':>18}  {'saved':>6}  same outcomes")
        for level in args.agreement:
            prefs = preferences(args.items, args.raters, level, args.seed)
            copies = {}
            for early in (False, True):
                study = build_open_study(n_prompts=args.items, raters=args.raters, copy_files=False, seed=args.seed,
                                         name=f"agreement {level} {'early' if early else 'full'}", early_stop=early)
                rate(study, args.raters, prefs)
                copies[early] = study
            full, early = (Vote.objects.filter(assignment__item__study=copies[e]).count() // len(QUESTIONS) for e in (False, True))
            same = outcomes(copies[False]) == outcomes(copies[True])
            print(f"{level:>9.2f}  {full:>12}  {early:>18}  {1 - early / full:>6.1%}  {'yes' if same else 'NO'}")
            if not same:
                sys.exit("error: an early-stopped outcome differs from the full count's")


if __name__ == "__main__":
    main()
