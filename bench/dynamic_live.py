"""A few dynamic studies through the real assignment code on PostgreSQL (bench_dynamic.py --live N).

Each study: every pair of three systems (the simulator's systems 0, 3 and 6, whose pairs' item win
rates are about 0.77, 0.74 and 0.91) on LIVE_PROMPTS prompts, 5 raters per item, `dynamic` on. LIVE_RATERS simulated raters take
turns through `assignment_next` and `vote_submit`, the code the annotator API runs, each judging
as the simulator's raters do (the better video with probability 0.8 on average, the left one 5
points more often); each vote that finishes an item settles the study's pairs again, as in
production. Afterwards it checks what the platform did against the rule: the states recomputed
from the votes equal those stored live, no settled pair got an assignment after it settled, every
item that was not stopped got exactly its raters and none more, and no rater rated an item twice.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import psycopg

ROOT = Path(__file__).resolve().parent.parent
LIVE_SYSTEMS = (0, 3, 6)  # of the simulator's systems (tests.support.builders has three names)
LIVE_PROMPTS = 100
LIVE_RATERS = 8
RATERS_PER_ITEM = 5


def recreate(url: str, create: bool = True) -> None:
    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            admin.execute(f'CREATE DATABASE "{name}"')


def setup(url: str) -> None:
    """Django on a fresh database named after DATABASE_URL's, with `_dynamic` added (dropped afterwards)."""
    recreate(url)
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = url
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ["JUICE_RATE_VOTE_PER_MINUTE"] = str(10**9)  # simulated raters vote faster than people
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "juice.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def run_study(n: int, strengths: np.ndarray, rng: np.random.Generator, accuracy: float, left_bias: float) -> dict:
    from annotation.models import Assignment, Item, Rater, StudyPair, Vote
    from annotation.rating.assignment import assignment_next
    from annotation.rating.dynamic import pair_states
    from annotation.rating.schemas import Ballot
    from annotation.rating.voting import assignment_for_vote, vote_submit
    from tests.support.builders import SYSTEM_NAMES, build_open_study

    study = build_open_study(n_prompts=LIVE_PROMPTS, raters=RATERS_PER_ITEM, n_systems=len(LIVE_SYSTEMS), copy_files=False,
                             seed=n, name=f"live dynamic {n}", dynamic=True)
    strength = dict(zip(SYSTEM_NAMES, strengths, strict=True))
    items = Item.objects.filter(study=study).select_related("pair__system_a", "pair__system_b")
    a_better = {}
    for item in items:
        gap = strength[item.pair.system_a.name] - strength[item.pair.system_b.name]
        a_better[item.pk] = bool(rng.random() < 1 / (1 + np.exp(-gap)))
    raters = {r: Rater.objects.create(study=study, worker_id=f"live{n}-{r}") for r in range(LIVE_RATERS)}
    started = time.perf_counter()
    while raters:
        for r, rater in list(raters.items()):
            shown = assignment_next(rater_id=rater.pk, slug=study.slug).assignment
            if shown is None:
                del raters[r]
                continue
            item = Assignment.objects.get(token=shown.token).item_id
            body = {}
            for question in study.questions:
                better_left = a_better[item] == (shown.left == "a")
                correct = rng.random() < (accuracy + left_bias if better_left else accuracy - left_bias)
                side = "left" if better_left == correct else "right"
                body[question] = {"choice": side, "reasons": [study.reasons[question][0]["key"]]}
            target = assignment_for_vote(rater_ids={rater.pk}, token=shown.token)
            vote_submit(target=target, ballot=Ballot.model_validate({**body, "watch_ms": 1000}))
    seconds = time.perf_counter() - started
    problems = []
    stored = dict(StudyPair.objects.filter(study=study).values_list("pk", "status"))
    recomputed = {pk: state.status for pk, state in pair_states(study=study).items()}
    if any(stored[pk] != recomputed[pk] for pk in stored):
        problems.append(f"stored {stored} != recomputed {recomputed}")
    for pair in StudyPair.objects.filter(study=study).exclude(settled_at=None):
        if Assignment.objects.filter(item__pair=pair, created_at__gt=pair.settled_at).exists():
            problems.append(f"pair {pair.pk} served after it settled")
    for item in Item.objects.filter(study=study):
        voters = list(item.assignments.filter(status=Assignment.Status.VOTED).values_list("rater_id", flat=True))
        short = not item.decided and item.votes_done != item.raters_needed
        if len(voters) != len(set(voters)) or item.votes_done > item.raters_needed or short:
            problems.append(f"item {item.pk}: {item.votes_done} votes of {item.raters_needed}, decided {item.decided}")
    votes = Vote.objects.filter(assignment__item__study=study, question=study.questions[0]).count()
    settled = sum(status != StudyPair.Status.OPEN for status in stored.values())
    return {"votes": votes, "full": len(a_better) * RATERS_PER_ITEM, "settled": settled, "pairs": len(stored),
            "seconds": seconds, "problems": problems}


def run(studies: int, strengths: np.ndarray, accuracy: float, left_bias: float, seed: int) -> bool:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("error: --live needs PostgreSQL: set DATABASE_URL=postgres://USER@HOST:PORT/NAME")
    live_url = url.rstrip("/") + "_dynamic"
    setup(live_url)
    rng = np.random.default_rng(seed)
    print(f"\nthrough the real assignment code on PostgreSQL: {studies} studies of systems "
          f"{', '.join(map(str, LIVE_SYSTEMS))} (3 pairs) x {LIVE_PROMPTS} prompts x {RATERS_PER_ITEM} raters, "
          f"{LIVE_RATERS} raters taking turns")
    ok = True
    for n in range(studies):
        result = run_study(n, strengths[list(LIVE_SYSTEMS)], rng, accuracy, left_bias)
        ok &= not result["problems"]
        print(f"  study {n + 1}: {result['votes']} votes of {result['full']} ({1 - result['votes'] / result['full']:.1%} fewer), "
              f"{result['settled']} of {result['pairs']} pairs stopped, {result['seconds']:.0f} s; "
              + ("live states = recomputed, no settled pair served again, every item its raters" if not result["problems"]
                 else "PROBLEMS: " + "; ".join(result["problems"][:5])))
    from django.db import connections

    connections.close_all()
    recreate(live_url, create=False)
    return ok
