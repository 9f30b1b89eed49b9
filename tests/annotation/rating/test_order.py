"""Each rater meets the items in their own order, reproducibly, while items still fill evenly; each
vote records the item's place in the rater's sequence, and the votes CSV carries it as `position`."""

from __future__ import annotations

import csv
import io

import pytest

from annotation.models import Assignment, Item
from annotation.reports.exports import votes_write
from tests.support.builders import build_open_study
from tests.support.raters import answer
from tests.support.rating import join, next_item, vote

pytestmark = pytest.mark.django_db


def prompts_in_order(study, worker: str) -> list[str]:
    """Rate the whole study as `worker`, voting with ?next=1 as the rating page does; returns the
    prompts in the order they came."""
    client = join(study, worker)
    offer, seen = next_item(client, study), []
    while offer["assignment"] is not None:
        seen.append(Assignment.objects.get(token=offer["assignment"]).item.prompt.key)
        response = vote(client, offer["assignment"], answer(study), then_next=True)
        assert response.status_code == 201, response.content
        offer = response.json()["next"]
    return seen


def test_two_raters_see_different_orders_and_a_copy_with_the_same_seed_repeats_them():
    study = build_open_study(n_prompts=12, raters=5, seed=7)
    first, second = prompts_in_order(study, "ann"), prompts_in_order(study, "bob")
    assert sorted(first) == sorted(second) == [f"p{n:04d}" for n in range(1, 13)]
    assert first != second
    copy = build_open_study(n_prompts=12, raters=5, seed=7, name="Copy of the study")
    assert prompts_in_order(copy, "ann") == first
    other_seed = build_open_study(n_prompts=12, raters=5, seed=8, name="Another seed")
    assert prompts_in_order(other_seed, "ann") != first


def test_items_still_fill_evenly_and_each_gets_exactly_its_raters():
    study = build_open_study(n_prompts=24, raters=5, seed=3, questions=("quality",))
    clients = {worker: join(study, worker) for worker in ("r1", "r2", "r3", "r4", "r5")}
    offers = {worker: next_item(client, study) for worker, client in clients.items()}
    while any(offer["assignment"] for offer in offers.values()):
        for worker, client in clients.items():  # one vote each per round, as raters working side by side
            if offers[worker]["assignment"] is None:
                continue
            claimed = dict(Item.objects.filter(study=study).values_list("pk", "claimed"))
            seen = set(Assignment.objects.filter(rater__worker_id=worker).values_list("item_id", flat=True))
            response = vote(client, offers[worker]["assignment"], answer(study), then_next=True)
            offers[worker] = response.json()["next"]
            if offers[worker]["assignment"] is not None:
                # The fewest claims first, among the items this rater has not seen: the shuffle only breaks ties.
                item = Assignment.objects.get(token=offers[worker]["assignment"]).item_id
                assert claimed[item] == min(n for pk, n in claimed.items() if pk not in seen)
    for item in Item.objects.filter(study=study):
        raters = item.assignments.filter(status=Assignment.Status.VOTED).values_list("rater_id", flat=True)
        assert len(raters) == len(set(raters)) == 5


def test_each_vote_records_its_place_in_the_raters_sequence_and_the_csv_carries_it():
    study = build_open_study(n_prompts=3, raters=2, seed=11)
    order = prompts_in_order(study, "ann")
    out = io.StringIO()
    votes_write(study=study, out=out)
    rows = [row for row in csv.DictReader(io.StringIO(out.getvalue())) if row["rater"] == "ann" and row["question"] == "quality"]
    assert {row["prompt_id"]: int(row["position"]) for row in rows} == {key: n for n, key in enumerate(order, start=1)}
    # A plain `next` (no vote before it) records the place too.
    client = join(study, "bob")
    offer = next_item(client, study)
    assert Assignment.objects.get(token=offer["assignment"]).position == 1
    vote(client, offer["assignment"], answer(study))
    assert Assignment.objects.get(token=next_item(client, study)["assignment"]).position == 2


def test_in_a_study_larger_than_the_window_each_rater_starts_at_their_own_place():
    """Beyond WINDOW items the claim takes a window of the study's shuffle read as a circle from the
    rater's own starting point, so an item's place in the sequence differs from rater to rater."""
    from annotation.models import Rater
    from annotation.raters.order import PRIME
    from annotation.rating.claim import WINDOW

    study = build_open_study(n_prompts=3 * WINDOW, raters=5, seed=11, questions=("quality",))
    firsts = []
    for worker in ("ann", "bob", "cy", "dee", "eve", "fay"):
        client = join(study, worker)
        free = dict(Item.objects.filter(study=study, claimed=0).values_list("pk", "shuffle"))
        offer = next_item(client, study)
        item = Assignment.objects.get(token=offer["assignment"]).item_id
        start = Rater.objects.get(study=study, worker_id=worker).order_b
        # The first item is one of the WINDOW free items that follow the rater's start on the circle.
        following = sorted(free, key=lambda pk: (free[pk] - start) % PRIME)[:WINDOW]
        assert item in following
        firsts.append(sorted(free, key=free.get).index(item))  # its place in the study's own shuffle
        vote(client, offer["assignment"], answer(study), then_next=False)
    # Not the head of the study's shuffle for everyone: the raters start all around the circle.
    assert max(firsts) > 2 * WINDOW and min(firsts) < WINDOW, firsts
