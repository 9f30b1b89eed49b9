"""The cost of a dynamic study's settlement run per newly finished item, at 1,000 and at 100,000 vote rows.

For each size: a dynamic study of 9 systems (36 pairs) x 300 prompts x 5 raters x 2 questions, prefilled
with bulk inserts to that many vote rows (finished items whose raters agree, alternating between the
pair's two systems so that every pair stays open), settled once from scratch (`study_pairs_rebuild`,
what `manage.py settle_study` runs: every vote read), then k more items finished (their votes inserted
and the items marked, as a vote marks them) and one incremental run timed (`study_pairs_settle`, what
the background runs), warm (this process keeps the pairs' Monitors) and cold (a fresh process: every
Monitor of a changed pair rebuilt from its stored path). Prints the figures.

    DATABASE_URL=postgres://... .venv/bin/python bench/bench_settle.py [--sizes 1000 100000] [--new 1 10 100]
"""

from __future__ import annotations

import argparse
import time

from _setup import database_drop, django_setup, postgres_url

SYSTEMS, PROMPTS, RATERS, VOTERS = 9, 300, 5, 50


def prefill(study, items, start: int, raters) -> None:
    """Finish `items` with RATERS agreeing votes each (bulk inserts), the item's pair-wise index choosing
    the side so that each pair's path alternates; mark them for settlement."""
    from datetime import timedelta

    from django.utils import timezone

    from annotation.models import Assignment, Item, Vote

    now = timezone.now()
    assignments, votes = [], []
    for n, item in enumerate(items, start=start):
        at = now + timedelta(milliseconds=n)
        for r in range(RATERS):
            assignments.append(Assignment(rater=raters[(n + r) % VOTERS], item=item, left="a", status=Assignment.Status.VOTED,
                                          leased_until=at, voted_at=at))
    Assignment.objects.bulk_create(assignments, batch_size=5000)
    for a in assignments:
        side = "a" if a.item.prompt_id % 2 else "b"
        votes += [Vote(assignment=a, question=q, choice=side, reasons=[study.reasons[q][0]["key"]], watch_ms=4000, created_at=a.voted_at)
                  for q in study.questions]
    Vote.objects.bulk_create(votes, batch_size=5000)
    Item.objects.filter(pk__in=[i.pk for i in items]).update(votes_done=RATERS, claimed=RATERS, settle_due=True)


def measure(rows: int, news: list[int]) -> None:
    from analysis import sequential
    from annotation.models import Item, Vote
    from annotation.raters.services import rater_join
    from annotation.rating.dynamic import study_pairs_rebuild, study_pairs_settle
    from tests.support.builders import build_open_study

    study = build_open_study(n_prompts=PROMPTS, raters=RATERS, n_systems=SYSTEMS, copy_files=False, seed=rows, dynamic=True,
                             name=f"settle bench {rows}")
    raters = [rater_join(study=study, worker_id=f"b{n}") for n in range(VOTERS)]
    # Prompt by prompt, every pair in turn: each pair's path alternates between its systems and stays open.
    pool = sorted(Item.objects.filter(study=study), key=lambda i: (i.prompt_id, i.pair_id))
    per_item = RATERS * len(study.questions)
    filled = rows // per_item
    started = time.perf_counter()
    prefill(study, pool[:filled], 0, raters)
    fill_s = time.perf_counter() - started
    assert Vote.objects.filter(assignment__item__study=study).count() == filled * per_item
    sequential._MONITORS.clear()
    started = time.perf_counter()
    states = study_pairs_rebuild(study_id=study.pk)
    scratch_s = time.perf_counter() - started
    assert all(s.status == "open" for s in states.values())
    print(f"{filled * per_item:>7} vote rows ({filled} finished items, prefill {fill_s:.1f} s): from scratch {scratch_s:.2f} s")
    done = filled
    for k in news:
        for cold in (False, True):
            prefill(study, pool[done:done + k], done, raters)
            done += k
            if cold:
                sequential._MONITORS.clear()
            started = time.perf_counter()
            study_pairs_settle(study_id=study.pk)
            took = time.perf_counter() - started
            print(f"    {k:>4} new finished items, {'cold' if cold else 'warm'}: {took * 1000:8.1f} ms per run, "
                  f"{took * 1000 / k:7.2f} ms per item")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000], help="vote rows to prefill")
    parser.add_argument("--new", type=int, nargs="+", default=[1, 10, 100], help="newly finished items per timed run")
    args = parser.parse_args()
    url = postgres_url("_settle_bench")
    database_drop(url, create=True)
    django_setup(database=url, broker="", migrate=True)
    try:
        for rows in args.sizes:
            measure(rows, args.new)
    finally:
        from django.db import connections

        connections.close_all()
        database_drop(url)


if __name__ == "__main__":
    main()
