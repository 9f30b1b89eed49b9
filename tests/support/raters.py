"""Simulated raters: the one model of a rater that the tests and the benchmarks share.

A `SimulatedRater` judges a shown pair question by question: it picks the system its `truth` calls
better with probability `accuracy`, `left_bias` more often when that system is on the left and as
much less when it is on the right; where neither is better (no `truth`, or over the JSON API, which
never says which system is on which side) it picks a side at random; with `choice` it always picks
that side. It gives each question the study's first reason. Its random draws are fixed by its seed,
its worker id and what it judges, so a rater judges an item the same way in every copy of a study
and in whatever order it meets it.

It votes through the rating services (`take_turn`: assignment_next, then vote_submit, the code the
annotator API runs), or answers the JSON API's `next` (`ballot_for_next`) for a client that speaks
HTTP itself. `answer` is a valid vote body with one fixed choice, for tests that post votes themselves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from annotation.models import Assignment, Item, Study
from annotation.raters.services import rater_join
from annotation.rating.assignment import assignment_next
from annotation.rating.schemas import Ballot
from annotation.rating.voting import VoteConflict, assignment_for_vote, vote_submit

# Which system of an item ("a" or "b") is better on a question; None where neither is.
Truth = Callable[[Item, str], str | None]


def ballot(reasons: Mapping[str, str], sides: Mapping[str, str], *, watch_ms: int = 4000) -> dict:
    """A vote body: for each question of `reasons` (question -> the reason given) its side in `sides`."""
    body: dict = {question: {"choice": sides[question], "reasons": [reason]} for question, reason in reasons.items()}
    body["watch_ms"] = watch_ms
    return body


def answer(study: Study, choice: str = "left", **extra) -> dict:
    """A valid vote body for `study`: the same choice and its first reason for every question; `extra`
    adds or replaces keys (watch_ms, a malformed answer)."""
    reasons = {question: study.reasons[question][0]["key"] for question in study.questions}
    return {**ballot(reasons, dict.fromkeys(reasons, choice)), **extra}


@dataclass(eq=False)
class SimulatedRater:
    """One simulated rater (see the module's docstring); after voting, what it got: the tokens of its
    accepted votes, the votes its other tab cast first (409), and its double clicks sent and refused."""

    worker: str
    accuracy: float = 1.0
    left_bias: float = 0.0
    truth: Truth | None = None
    choice: str | None = None
    double_click: float = 0.0  # the chance it sends an accepted vote again at once
    seed: object = 0
    watch_ms: int = 4000
    rater_id: int | None = None  # its Rater row, from `join` or made by the caller
    slug: str = ""
    accepted: list[str] = field(default_factory=list)
    lost: int = 0
    doubles: int = 0
    refused: int = 0

    def join(self, study: Study) -> SimulatedRater:
        """Join `study` through the raters' service, as the join link does."""
        self.rater_id, self.slug = rater_join(study=study, worker_id=self.worker).pk, study.slug
        return self

    def draw(self, *what: object) -> float:
        """A number in [0, 1) fixed by the rater's seed and worker id and by `what`."""
        digest = hashlib.blake2b(repr((self.seed, self.worker, *what)).encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64

    def side(self, key: object, question: str, *, left: str | None = None, better: str | None = None) -> str:
        """"left" or "right" on `question` of the pair `key`; `left` is the system shown on the left and
        `better` the better one ("a" or "b"), None where the rater is not told or neither is."""
        if self.choice is not None:
            return self.choice
        draw = self.draw(key, question)
        if left is None or better is None:
            return "left" if draw < 0.5 else "right"
        better_left = better == left
        picks_better = draw < self.accuracy + (self.left_bias if better_left else -self.left_bias)
        return "left" if better_left == picks_better else "right"

    def ballot_for_next(self, data: dict) -> dict:
        """The vote body for the assignment in `data`, an answer of the JSON API's `next`."""
        reasons = {question["key"]: question["reasons"][0]["key"] for question in data["questions"]}
        return ballot(reasons, {q: self.side(data["assignment"], q) for q in reasons}, watch_ms=self.watch_ms)

    def take_turn(self) -> bool:
        """Ask the rating services for the next assignment and vote on it; False when handed nothing."""
        offer = assignment_next(rater_id=self.rater_id, slug=self.slug)
        shown = offer.assignment
        if shown is None:
            return False
        questions, key, better = offer.study.questions, shown.token, {}
        if self.truth is not None:
            item = Assignment.objects.select_related("item__pair__system_a", "item__pair__system_b", "item__prompt").get(
                token=shown.token
            ).item
            # The pair and the prompt name the item in every copy of a study, as its row does not.
            key = (item.pair.system_a.name, item.pair.system_b.name, item.prompt.key)
            better = {question: self.truth(item, question) for question in questions}
        sides = {q: self.side(key, q, left=shown.left, better=better.get(q)) for q in questions}
        reasons = {question: offer.study.reasons[question][0]["key"] for question in questions}
        self._submit(shown.token, Ballot.model_validate(ballot(reasons, sides, watch_ms=self.watch_ms)))
        return True

    def rate_all(self) -> None:
        """Vote until handed nothing."""
        while self.take_turn():
            pass

    def _submit(self, token: str, given: Ballot) -> None:
        try:
            vote_submit(target=assignment_for_vote(rater_ids={self.rater_id}, token=token), ballot=given)
        except VoteConflict:
            self.lost += 1  # the rater's other tab voted on it first
            return
        self.accepted.append(token)
        if self.draw(token, "double click") < self.double_click:
            self.doubles += 1
            try:
                vote_submit(target=assignment_for_vote(rater_ids={self.rater_id}, token=token), ballot=given)
            except VoteConflict:
                self.refused += 1


def rate_in_turns(raters: Iterable[SimulatedRater]) -> None:
    """The raters in turn, one vote each per round, until none is handed anything."""
    active = list(raters)
    while active:
        active = [rater for rater in active if rater.take_turn()]
