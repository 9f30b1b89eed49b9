"""Early stopping (Study.early_stop): an item is handed out no more once its outcome is decided, through
the real claim and vote code with raters voting at once; the outcome is the full protocol's."""

from __future__ import annotations

import io
import random
import threading
from collections import Counter

import pytest
from django.db import connection

from annotation.models import Item, Vote
from annotation.rating.early_stop import outcome_decided
from annotation.reports.exports import votes_write
from annotation.reports.services import study_report
from tests.support.builders import build_open_study
from tests.support.raters import SimulatedRater

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


def better_sides(items: int, seed: int = 5) -> dict[tuple[str, str], str]:
    """(prompt key, question) -> the better system ("a"/"b") of each item, drawn at random."""
    rng = random.Random(seed)
    return {(f"p{n + 1:04d}", question): rng.choice("ab") for n in range(items) for question in QUESTIONS}


def rate_concurrently(study, better: dict[tuple[str, str], str], agreement: float) -> None:
    """Every rater at once, in its own thread, through the rating services; each agrees with an
    item's better side with probability `agreement`, and judges an item alike in every study."""
    errors = []
    raters = [SimulatedRater(f"r{r}", accuracy=agreement, truth=lambda item, q: better[(item.prompt.key, q)]).join(study)
              for r in range(RATERS)]

    def rate(rater: SimulatedRater) -> None:
        try:
            rater.rate_all()
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=rate, args=(rater,)) for rater in raters]
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


def run(name: str, early_stop: bool, better: dict[tuple[str, str], str]) -> object:
    study = build_open_study(n_prompts=24, raters=RATERS, name=name, seed=9, copy_files=False, early_stop=early_stop)
    rate_concurrently(study, better, agreement=0.8)
    return study


@pytest.mark.django_db(transaction=True)
def test_early_stopping_saves_votes_and_gives_the_full_protocols_outcome():
    if connection.vendor != "postgresql":
        pytest.skip("concurrent raters need PostgreSQL")
    better = better_sides(24)
    full = run("Full count", False, better)
    early = run("Early stop", True, better)

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
