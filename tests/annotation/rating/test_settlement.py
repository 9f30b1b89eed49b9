"""Incremental settlement (annotation/rating/dynamic.py) equals the recomputation from all the votes: whatever
order items finish in, however the background's runs split them, whoever the analysis leaves out meanwhile.
On the database the suite runs on (PostgreSQL, and SQLite without DATABASE_URL)."""

from __future__ import annotations

import os
import signal
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotation.models import Assignment, Item, Rater, StudyPair
from annotation.raters.services import rater_join
from annotation.rating.dynamic import (
    LOCK_SPACE,
    pair_states,
    scratch_paths,
    settle_key,
    settlement_check,
    state_summary,
    stored_paths,
    study_pairs_settle,
)
from annotation.rating.schemas import Ballot
from annotation.rating.voting import assignment_held, vote_submit
from juice.models import BackgroundWork
from tests.support.builders import build_open_study
from tests.support.raters import SimulatedRater, ballot
from tests.support.workers import queues_empty, wait_for, worker

pytestmark = pytest.mark.django_db

PROMPTS, SYSTEMS, RATERS_PER_ITEM, RATERS = 6, 3, 3, 4
ITEMS = PROMPTS * SYSTEMS  # three pairs of three systems
# Mostly the left video (always system A here), so that pairs settle within a few items; ties too.
CHOICES = ("left", "left", "left", "left", "right", "tie")


class Rollback(Exception):
    """Ends an example's transaction: each example starts from an empty database."""


def vote_as(rater: Rater, item: Item, choices: dict[str, str]) -> None:
    """`rater` votes on `item` through the vote service, as the annotator API does (system A on the left)."""
    assignment = Assignment.objects.create(rater=rater, item=item, left=Assignment.Left.A, status=Assignment.Status.ACTIVE,
                                           leased_until=timezone.now() + timedelta(minutes=10))
    Item.objects.filter(pk=item.pk).update(claimed=item.claimed + 1)
    item.claimed += 1
    reasons = {q: item.study.reasons[q][0]["key"] for q in item.study.questions}
    body = Ballot.model_validate(ballot(reasons, choices), context={"questions": item.study.questions})
    vote_submit(target=assignment_held(rater_ids={rater.pk}, token=assignment.token), ballot=body)


def states_of(states: dict, study) -> dict:
    names = {p.pk: (p.system_a.name, p.system_b.name) for p in StudyPair.objects.filter(study=study).select_related("system_a", "system_b")}
    return {pk: state_summary(state, names[pk]) for pk, state in states.items()}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_incremental_settlement_equals_the_recomputation_from_all_votes_in_any_order_and_split(data):
    try:
        with transaction.atomic():
            run_example(data)
            raise Rollback
    except Rollback:
        pass


def run_example(data) -> None:
    study = build_open_study(n_prompts=PROMPTS, raters=RATERS_PER_ITEM, n_systems=SYSTEMS, copy_files=False, seed=1, dynamic=True,
                             dynamic_alpha=0.5, allow_tie=True, name="Property study")
    raters = [rater_join(study=study, worker_id=f"r{n}") for n in range(RATERS)]
    items = list(Item.objects.filter(study=study).select_related("study"))
    order = data.draw(st.permutations(range(len(items))), label="finish order")
    cuts = data.draw(st.sets(st.integers(1, len(items) - 1), max_size=6), label="runs after items")
    stopped: set[int] = set()
    for n, index in enumerate(order, start=1):
        item = items[index]
        voters = data.draw(st.permutations(range(RATERS)), label="raters").__getitem__(slice(RATERS_PER_ITEM))
        for r in voters:
            vote_as(raters[r], item, {q: data.draw(st.sampled_from(CHOICES)) for q in study.questions})
        if n in cuts or n == len(items):
            # The analysis may leave a rater out (or take one back) between runs: screening, attention checks.
            screened = data.draw(st.sets(st.integers(0, RATERS - 1), max_size=1), label="screened out")
            Rater.objects.filter(study=study).update(screened_out=False)
            Rater.objects.filter(pk__in=[raters[r].pk for r in screened]).update(screened_out=True)
            stored = study_pairs_settle(study_id=study.pk)
            scratch = pair_states(study=study)
            assert stored is not None and states_of(stored, study) == states_of(scratch, study)
            study.refresh_from_db()
            assert settlement_check(study=study) == []
            assert study_pairs_settle(study_id=study.pk) is None  # a second delivery finds nothing new
            stopped |= {pk for pk, state in scratch.items() if state.status != "open"}
    # A pair stops for good at the first run whose recomputation stops it, and its items are decided.
    assert set(StudyPair.objects.filter(study=study).exclude(status=StudyPair.Status.OPEN).values_list("pk", flat=True)) == stopped
    assert set(Item.objects.filter(study=study, decided=True).values_list("pair_id", flat=True)) == stopped
    # Each finished item got one place, 1..n without gaps, in the order the runs saw them.
    places = sorted(Item.objects.exclude(finished_order=None).values_list("finished_order", flat=True))
    assert places == list(range(1, len(places) + 1))


def never_wrong(study) -> bool:
    """A settlement behind the votes is a prefix of the truth: each stored path begins the recomputed one."""
    recomputed, _ = scratch_paths(study=study)
    stored = stored_paths(study=study)
    return all(recomputed[pk][q][: len(stored[pk][q])] == stored[pk][q] for pk in recomputed for q in study.questions)


def turns(rater: SimulatedRater, n: int) -> None:
    for _ in range(n):
        assert rater.take_turn()


@pytest.mark.worker
@pytest.mark.usefixtures("empty_queues")
@pytest.mark.django_db(transaction=True)
def test_a_lost_message_or_a_killed_worker_leaves_settlement_behind_never_wrong_and_it_catches_up(media_root, tmp_path, settings):
    if connection.vendor != "postgresql":
        pytest.skip("the worker and the study's lock need PostgreSQL")
    settings.JUICE_BACKGROUND_LOST_SECONDS = 1
    settings.JUICE_REPORT_DEBOUNCE_SECONDS = 3600  # the reports' work stays out of the worker's way
    study = build_open_study(n_prompts=30, raters=1, n_systems=2, copy_files=False, dynamic=True, questions=("quality",),
                             name="Outage study")
    rater = SimulatedRater("w0", choice="left").join(study)  # system A wins every item shown on the left
    log = tmp_path / "worker.log"

    # A broker restart loses the queued messages: settlement stays behind; the next vote sends it again.
    turns(rater, 3)
    queues_empty()
    assert Item.objects.filter(study=study, settle_due=True).count() == 3 and never_wrong(study)
    with worker(media_root, log, queues="media"):
        time.sleep(1.5)
        turns(rater, 1)
        wait_for(lambda: settlement_check(study=study) == [], 60, "settlement to catch up", log)

    # A worker killed while it settles (here: waiting on the study's lock, which the test holds): its run's
    # lease (2 s) runs out, its transaction is rolled back, and the next worker takes the work.
    os.environ["JUICE_BACKGROUND_LEASE_SECONDS"] = "2"
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_SPACE, study.pk])
            holding.set()
            release.wait(120)
        connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(10)
        with worker(media_root, log, queues="media") as doomed:
            turns(rater, 2)
            held = BackgroundWork.objects.filter(key=settle_key(study.pk)).exclude(running_until=None)
            wait_for(held.exists, 60, "a run to start", log)
            os.killpg(doomed.pid, signal.SIGKILL)
            doomed.wait()
        release.set()
        holder.join(30)
        turns(rater, 2)  # votes while no worker runs
        assert Item.objects.filter(study=study, settle_due=True).count() == 4 and never_wrong(study)
        with worker(media_root, log, queues="media"):
            time.sleep(2.5)
            turns(rater, 1)
            wait_for(lambda: settlement_check(study=study) == [], 60, "settlement to catch up", log)
    finally:
        release.set()
        del os.environ["JUICE_BACKGROUND_LEASE_SECONDS"]
    assert StudyPair.objects.get(study=study).figures["items_finished"] == 9
