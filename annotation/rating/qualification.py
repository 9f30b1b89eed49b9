"""The study's qualification: pairs with a known right answer, shown before the first item, with
feedback after each. A rater who makes more mistakes than the study allows is screened out (handed
no item, so none of their votes exist to count); one who gets through is admitted. Every answer is
kept on the rater.

Qualification pairs are items of the study (the same prompt and pair of systems), shown from the
same matched videos; which system goes left is drawn per rater and pair, and reproducible. A pair
shown to a rater is recorded as a practice assignment, so that rater is never handed it to vote on.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from annotation.models import Assignment, Item, Rater
from annotation.rating.sides import LEFT, RIGHT, TIE, A, B, on_screen
from juice.refusals import Conflict


class QualificationError(Conflict):
    """An answer that cannot be taken (no qualification, already decided, the wrong pair)."""


@dataclass(frozen=True)
class QualificationPair:
    index: int
    total: int
    item: Item
    left: str  # "a" or "b": which system of the item's pair is shown on the left


@dataclass(frozen=True)
class Feedback:
    correct: bool
    expected: dict[str, str]  # question -> left | right | tie
    admitted: bool
    screened_out: bool


def _left(rater: Rater, index: int) -> str:
    return (A, B)[hashlib.sha256(f"{rater.study.seed}:{rater.worker_id}:{index}".encode()).digest()[0] & 1]


def _item(rater: Rater, spec: dict) -> Item:
    a, b = spec["pair"]
    pairs = Q(pair__system_a__name=a, pair__system_b__name=b) | Q(pair__system_a__name=b, pair__system_b__name=a)
    item = Item.objects.select_related("pair__system_a", "pair__system_b", "prompt").filter(
        pairs, study=rater.study, prompt__key=spec["prompt"], is_attention=False, status=Item.Status.READY
    ).order_by("sample").first()  # with several samples per prompt, sample 0
    if item is None:
        raise QualificationError(f"the qualification pair of prompt {spec['prompt']} is not ready")
    return item


def qualification_next(*, rater: Rater) -> QualificationPair | None:
    """The next qualification pair this rater has not answered; None when they are admitted or screened out."""
    items = (rater.study.qualification or {}).get("items", [])
    index = len(rater.qualification)
    if rater.admitted or rater.screened_out or index >= len(items):
        return None
    return QualificationPair(index, len(items), _item(rater, items[index]), _left(rater, index))


def qualification_answer(*, rater: Rater, index: int, choices: dict[str, str]) -> Feedback:
    """Check the answers (question -> left | right | tie) to qualification pair `index`, record them,
    and admit or screen out the rater once that is decided."""
    with transaction.atomic():
        rater = Rater.objects.select_for_update(of=("self",)).select_related("study").get(pk=rater.pk)
        shown = qualification_next(rater=rater)
        if shown is None or shown.index != index:
            raise QualificationError("this qualification pair is not the one to answer now")
        spec = rater.study.qualification["items"][index]
        left, right = on_screen(shown.left, shown.item.pair.system_a.name, shown.item.pair.system_b.name)
        where = {left: LEFT, right: RIGHT, TIE: TIE}  # the expected answers name systems (or tie)
        expected = {q: where[answer] for q, answer in spec["answers"].items()}
        correct = all(choices.get(q) == where for q, where in expected.items())
        rater.qualification = [*rater.qualification, {"index": index, "answers": choices, "correct": correct}]
        # The rater now knows this item's expected answer: it is never handed to them to vote on.
        Assignment.objects.get_or_create(rater=rater, item=shown.item, defaults={
            "left": shown.left, "status": Assignment.Status.PRACTICE, "leased_until": timezone.now(),
        })
        mistakes = sum(not entry["correct"] for entry in rater.qualification)
        if mistakes > rater.study.qualification.get("mistakes_allowed", 0):
            rater.screened_out = True
        elif len(rater.qualification) == len(rater.study.qualification["items"]):
            rater.admitted = True
        rater.save(update_fields=["qualification", "screened_out", "admitted"])
    return Feedback(correct, expected, rater.admitted, rater.screened_out)
