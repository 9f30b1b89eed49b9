"""The database itself refuses what the annotation invariants forbid, whatever code writes to it.

The claim and the vote rely on these constraints (CONTRACT.md, "Invariants"): a bug or a race in
Python must end in an IntegrityError, never in a sixth rater or a rater seeing an item twice.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from annotation.models import Assignment, Item, Vote
from annotation.raters.services import rater_join
from tests.support.builders import build_open_study

pytestmark = pytest.mark.django_db


@pytest.fixture
def study():
    return build_open_study(n_prompts=2, raters=2, copy_files=False)


def lease(rater, item, status=Assignment.Status.ACTIVE, **extra) -> Assignment:
    until = timezone.now() + timedelta(minutes=10)
    return Assignment.objects.create(rater=rater, item=item, left=Assignment.Left.A, status=status, leased_until=until, **extra)


def refused(make) -> bool:
    try:
        with transaction.atomic():
            make()
    except IntegrityError:
        return True
    return False


def test_a_rater_holds_one_live_assignment_at_most(study):
    rater = rater_join(study=study, worker_id="w1")
    first, second = Item.objects.filter(study=study)[:2]
    lease(rater, first)
    assert refused(lambda: lease(rater, second))
    # Once the first is voted, the next live one is allowed.
    Assignment.objects.filter(rater=rater).update(status=Assignment.Status.VOTED)
    assert not refused(lambda: lease(rater, second))


def test_a_rater_never_gets_the_same_item_twice(study):
    rater = rater_join(study=study, worker_id="w1")
    item = Item.objects.filter(study=study).first()
    lease(rater, item, status=Assignment.Status.EXPIRED)
    assert refused(lambda: lease(rater, item))


def test_an_item_takes_no_more_claims_or_votes_than_its_raters(study):
    item = Item.objects.filter(study=study).first()
    Item.objects.filter(pk=item.pk).update(claimed=item.raters_needed)
    assert refused(lambda: Item.objects.filter(pk=item.pk).update(claimed=F("claimed") + 1))
    assert refused(lambda: Item.objects.filter(pk=item.pk).update(votes_done=item.raters_needed + 1))


def test_tokens_are_unique_and_a_question_is_answered_once(study):
    first, second = Item.objects.filter(study=study)[:2]
    assert refused(lambda: Item.objects.filter(pk=second.pk).update(token_a=first.token_a))
    assert refused(lambda: Item.objects.filter(pk=second.pk).update(token_b=first.token_b))
    one, two = rater_join(study=study, worker_id="w1"), rater_join(study=study, worker_id="w2")
    assignment = lease(one, first)
    assert refused(lambda: lease(two, first, token=assignment.token))
    Vote.objects.create(assignment=assignment, question="quality", choice="a", reasons=["pixel_sharpness"])
    assert refused(lambda: Vote.objects.create(assignment=assignment, question="quality", choice="b", reasons=["motion"]))
