"""One racing process of the concurrency test: its raters claim and vote until nothing is left.

Run as `python -m tests.support.race_rater SLUG START_AT WORKER...` with DATABASE_URL naming the test
database; prints a JSON line with what this process got accepted. Every rater is driven by two
processes at once, like a rater with two tabs open.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "juice.settings")

import django

django.setup()

from annotation.models import Rater  # noqa: E402
from annotation.rating.assignment import assignment_next  # noqa: E402
from annotation.rating.schemas import Ballot  # noqa: E402
from annotation.rating.voting import VoteConflict, assignment_for_vote, vote_submit  # noqa: E402
from tests.support.builders import answer  # noqa: E402


def main(slug: str, start_at: float, workers: list[str]) -> None:
    raters = [Rater.objects.select_related("study").get(study__slug=slug, worker_id=w) for w in workers]
    time.sleep(max(0.0, start_at - time.time()))
    accepted, lost, doubles, refused = [], 0, 0, 0
    while raters:
        for rater in list(raters):
            shown = assignment_next(rater_id=rater.pk, slug=slug).assignment
            if shown is None:
                raters.remove(rater)
                continue
            ballot = Ballot.model_validate(answer(rater.study, random.choice(["left", "right"])))
            try:
                vote_submit(target=assignment_for_vote(rater_ids={rater.pk}, token=shown.token), ballot=ballot)
            except VoteConflict:
                lost += 1  # the rater's other tab voted on it first
                continue
            accepted.append(shown.token)
            if random.random() < 0.2:  # a double click: the second vote must be refused
                doubles += 1
                try:
                    vote_submit(target=assignment_for_vote(rater_ids={rater.pk}, token=shown.token), ballot=ballot)
                except VoteConflict:
                    refused += 1
    print(json.dumps({"accepted": accepted, "lost": lost, "doubles": doubles, "refused": refused}))


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), sys.argv[3:])
