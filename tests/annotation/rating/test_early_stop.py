"""Early stopping (Study.early_stop): an item is handed out no more once its outcome is decided, through
the real claim and vote code with raters voting at once; the outcome is the full protocol's."""

from __future__ import annotations

import io
import random
import threading
from collections import Counter

import pytest
from django.db import connection

from annotation.models import Assignment, Item, Rater, Vote
from annotation.rating.assignment import assignment_next
from annotation.rating.early_stop import outcome_decided
from annotation.rating.schemas import Ballot
from annotation.rating.voting import assignment_for_vote, vote_submit
from annotation.reports.exports import votes_write
from annotation.reports.services import study_report
from tests.support.builders import build_open_study

RATERS = 5
QUESTIONS = ("quality", "faithfulness")


@pytest.mark.parametrize(
    ("tallies", "remaining", "decided"),
    [
        ({"quality": Counter(a=3)}, 2, True),  # 5 raters, forced choice: 3 agreeing votes decide
        ({"quality": Counter(a=2, b=1)}, 2, False),
        ({"quality": Counter(a=3, b=1)}, 1, True),
        ({"quality": Counter(a=2, b=2)}, 1, False),
        ({"quality": Counter(a=3), "faithfulness": Counter(a=2, b=1)}, 2, False),  # every question must be decided
        ({"quality": Counter(a=3, b=2)}, 0, True),
        ({"quality": Counter(a=2, b=2)}, 0, False),  # a tie after every vote: not "decided" early, just done
    ],
)
def test_the_rule_leading_choice_ahead_by_more_than_the_votes_to_come(tallies, remaining, decided):
    questions = list(tallies)
    assert outcome_decided(tallies=tallies, questions=questions, choices=("a", "b"), remaining=remaining) is decided


def test_with_ties_allowed_a_tie_is_one_more_choice():
    tallies = {"quality": Counter(a=3, tie=0)}
    assert outcome_decided(tallies=tallies, questions=["quality"], choices=("a", "b", "tie"), remaining=2)
    assert not outcome_decided(tallies={"quality": Counter(a=2, tie=1)}, questions=["quality"], choices=("a", "b", "tie"), remaining=2)


def preferences(items: int, agreement: float, seed: int = 5) -> dict[tuple[int, str, str], str]:
    """(item number, question, worker) -> the system ("a"/"b") that rater prefers: each item has a
    better side per question, and each rater agrees with it with probability `agreement`."""
    rng = random.Random(seed)
    prefs = {}
    for n in range(items):
        for question in QUESTIONS:
            better = rng.choice("ab")
            for r in range(RATERS):
                agree = rng.random() < agreement
                prefs[(n, question, f"r{r}")] = better if agree else {"a": "b", "b": "a"}[better]
    return prefs


def rate_concurrently(study, prefs, numbers: dict[int, int]) -> None:
    """Every rater at once, in its own thread, through assignment_next and vote_submit, voting its
    preference on each item it is handed."""
    errors = []

    def rater(worker: str) -> None:
        try:
            me = Rater.objects.get(study=study, worker_id=worker)
            while (shown := assignment_next(rater_id=me.pk, slug=study.slug).assignment) is not None:
                item = Assignment.objects.get(token=shown.token).item_id
                body = {}
                for q in QUESTIONS:
                    wanted = prefs[(numbers[item], q, worker)]
                    body[q] = {"choice": "left" if wanted == shown.left else "right", "reasons": [study.reasons[q][0]["key"]]}
                target = assignment_for_vote(rater_ids={me.pk}, token=shown.token)
                vote_submit(target=target, ballot=Ballot.model_validate({**body, "watch_ms": 1000}))
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=rater, args=(f"r{r}",)) for r in range(RATERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors


def outcomes(study) -> dict[tuple[str, str], str]:
    """(prompt key, question) -> the choice with the most votes, or tie."""
    counts: dict[tuple[str, str], Counter] = {}
    for key, question, choice in Vote.objects.filter(assignment__item__study=study).values_list(
        "assignment__item__prompt__key", "question", "choice"
    ):
        counts.setdefault((key, question), Counter())[choice] += 1
    result = {}
    for where, c in counts.items():
        (top, n), *rest = c.most_common()
        result[where] = "tie" if rest and rest[0][1] == n else top
    return result


def run(name: str, early_stop: bool, prefs) -> object:
    study = build_open_study(n_prompts=24, raters=RATERS, name=name, seed=9, copy_files=False, early_stop=early_stop)
    Rater.objects.bulk_create(Rater(study=study, worker_id=f"r{r}") for r in range(RATERS))
    numbers = {item.pk: int(item.prompt.key[1:]) - 1 for item in Item.objects.filter(study=study).select_related("prompt")}
    rate_concurrently(study, prefs, numbers)
    return study


@pytest.mark.django_db(transaction=True)
def test_early_stopping_saves_votes_and_gives_the_full_protocols_outcome():
    if connection.vendor != "postgresql":
        pytest.skip("concurrent raters need PostgreSQL")
    prefs = preferences(24, agreement=0.8)
    full = run("Full count", False, prefs)
    early = run("Early stop", True, prefs)

    full_votes = Counter(Item.objects.filter(study=full).values_list("votes_done", flat=True))
    assert full_votes == {RATERS: 24}  # without early_stop: exactly 5 raters each, as always
    stopped = list(Item.objects.filter(study=early, votes_done__lt=RATERS))
    assert stopped, "some items end with fewer than 5 votes"
    for item in Item.objects.filter(study=early):
        assert item.votes_done <= RATERS and item.claimed <= RATERS
        voters = item.assignments.filter(status="voted").values_list("rater_id", flat=True)
        assert len(voters) == len(set(voters))
    for item in stopped:
        tallies: dict[str, Counter] = {}
        for question, choice in Vote.objects.filter(assignment__item=item).values_list("question", "choice"):
            tallies.setdefault(question, Counter())[choice] += 1
        assert item.decided
        assert outcome_decided(tallies=tallies, questions=QUESTIONS, choices=("a", "b"), remaining=RATERS - item.votes_done)
    # Given the same raters voting the same way, every item's outcome (and so every win rate) is the full count's.
    assert outcomes(early) == outcomes(full)
    assert Vote.objects.filter(assignment__item__study=early).count() < Vote.objects.filter(assignment__item__study=full).count()
    # The votes CSV says which items stopped early.
    out = io.StringIO()
    votes_write(study=early, out=out)
    header, *rows = out.getvalue().splitlines()
    assert header.endswith(",position,early_stop")
    assert {row.rsplit(",", 1)[1] for row in rows} == {"0", "1"}
    # The study's report says its agreement is not comparable with a full count's.
    for pair in study_report(study=early, bootstrap=0)["pairs"]:
        assert pair["agreement"]["early_stop"] is True and pair["agreement"]["fleiss_kappa"] is None
    assert all("early_stop" not in pair["agreement"] for pair in study_report(study=full, bootstrap=0)["pairs"])
