"""One racing process of the concurrency test: its raters claim and vote until nothing is left.

Run as `python -m tests.support.race_rater SLUG START_AT WORKER...` with DATABASE_URL naming the test
database; prints a JSON line with what this process got accepted. Every rater is driven by two
processes at once, like a rater with two tabs open, and sends one vote in five twice (a double click).
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "juice.settings")

import django

django.setup()

from annotation.models import Rater  # noqa: E402
from tests.support.raters import SimulatedRater, rate_in_turns  # noqa: E402


def main(slug: str, start_at: float, workers: list[str]) -> None:
    rows = Rater.objects.filter(study__slug=slug, worker_id__in=workers)
    # Each process (a rater's tab) draws its own choices and double clicks.
    raters = [SimulatedRater(row.worker_id, double_click=0.2, rater_id=row.pk, slug=slug, seed=os.getpid()) for row in rows]
    time.sleep(max(0.0, start_at - time.time()))
    rate_in_turns(raters)
    print(json.dumps({"accepted": [token for r in raters for token in r.accepted], "lost": sum(r.lost for r in raters),
                      "doubles": sum(r.doubles for r in raters), "refused": sum(r.refused for r in raters)}))


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), sys.argv[3:])
