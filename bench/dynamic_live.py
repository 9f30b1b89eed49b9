"""A few dynamic studies through the real assignment code on PostgreSQL (bench_dynamic.py --live N).

Each study: every pair of three systems (the simulator's systems 0, 3 and 6, whose pairs' item win rates
are about 0.77, 0.74 and 0.91) on LIVE_PROMPTS prompts, 5 raters per item, `dynamic` on. LIVE_RATERS
simulated raters take turns through `assignment_next` and `vote_submit`, the code the annotator API
runs, each judging as the simulator's raters do (the better video with probability 0.8 on average, the
left one 5 points more often); each vote that finishes an item asks for the study's settlement, which a
thread of this process runs in the background, as in production without a broker. Afterwards it checks
what the platform did against the rule: the states recomputed from the votes equal those stored live, no
settled pair got an assignment after it settled, every item that was not stopped got exactly its raters
and none more, and no rater rated an item twice.
"""

from __future__ import annotations

import time

import numpy as np
from _setup import database_drop, django_setup, postgres_url

LIVE_SYSTEMS = (0, 3, 6)  # of the simulator's systems (tests.support.builders has three names)
LIVE_PROMPTS = 100
LIVE_RATERS = 8
RATERS_PER_ITEM = 5


def run_study(n: int, strengths: np.ndarray, rng: np.random.Generator, accuracy: float, left_bias: float, seed: int) -> dict:
    from annotation.models import Assignment, Item, StudyPair, Vote
    from annotation.rating.dynamic import pair_states
    from tests.support.builders import SYSTEM_NAMES, build_open_study
    from tests.support.raters import SimulatedRater, rate_in_turns
    from tests.support.settlement import settlement_idle

    study = build_open_study(n_prompts=LIVE_PROMPTS, raters=RATERS_PER_ITEM, n_systems=len(LIVE_SYSTEMS), copy_files=False,
                             seed=n, name=f"live dynamic {n}", dynamic=True)
    strength = dict(zip(SYSTEM_NAMES, strengths, strict=True))
    items = Item.objects.filter(study=study).select_related("pair__system_a", "pair__system_b")
    a_better = {}
    for item in items:
        gap = strength[item.pair.system_a.name] - strength[item.pair.system_b.name]
        a_better[item.pk] = bool(rng.random() < 1 / (1 + np.exp(-gap)))
    raters = [SimulatedRater(f"live{n}-{r}", accuracy=accuracy, left_bias=left_bias, seed=seed,
                             truth=lambda item, _question: "a" if a_better[item.pk] else "b").join(study)
              for r in range(LIVE_RATERS)]
    started = time.perf_counter()
    rate_in_turns(raters)
    settlement_idle(study)  # the background's last runs
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
    # Its own database, named after DATABASE_URL's with `_dynamic` added, dropped afterwards.
    live_url = postgres_url("_dynamic")
    database_drop(live_url, create=True)
    django_setup(database=live_url, broker="", fast_raters=True, migrate=True)
    rng = np.random.default_rng(seed)
    print(f"\nthrough the real assignment code on PostgreSQL: {studies} studies of systems "
          f"{', '.join(map(str, LIVE_SYSTEMS))} (3 pairs) x {LIVE_PROMPTS} prompts x {RATERS_PER_ITEM} raters, "
          f"{LIVE_RATERS} raters taking turns")
    ok = True
    for n in range(studies):
        result = run_study(n, strengths[list(LIVE_SYSTEMS)], rng, accuracy, left_bias, seed)
        ok &= not result["problems"]
        print(f"  study {n + 1}: {result['votes']} votes of {result['full']} ({1 - result['votes'] / result['full']:.1%} fewer), "
              f"{result['settled']} of {result['pairs']} pairs stopped, {result['seconds']:.0f} s; "
              + ("live states = recomputed, no settled pair served again, every item its raters" if not result["problems"]
                 else "PROBLEMS: " + "; ".join(result["problems"][:5])))
    from django.db import connections

    connections.close_all()
    database_drop(live_url)
    return ok
