"""Dynamic studies settle in the background (annotation/rating/dynamic.py): tests that read pair states have
the pending settlement run here, through the code the background runs, or wait for the server's threads."""

from __future__ import annotations

import time

from annotation.models import Study
from annotation.rating.dynamic import settle_key, study_settle
from juice.models import BackgroundWork


def settlement_caught_up(study: Study) -> None:
    """Run `study`'s settlement now, as the background task does after a vote that finished an item."""
    study_settle(study.pk)


def settlement_idle(study: Study, timeout: float = 60) -> None:
    """Wait until no settlement of `study` waits or runs in the background (in-process threads, or a
    worker), then run one more here: whatever was left behind is caught up."""
    deadline = time.monotonic() + timeout
    while BackgroundWork.objects.filter(key=settle_key(study.pk)).exclude(waiting=False, running_until=None).exists():
        assert time.monotonic() < deadline, "the background settlement did not finish"
        time.sleep(0.05)
    settlement_caught_up(study)
