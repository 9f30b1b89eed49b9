"""A worker proving it is alive while long work runs: a thread that calls `beat` every `period` seconds
(generation jobs in jobs/worker.py, matched encodes in matching/encodes.py). What a beat writes is the
caller's, a compare-and-swap on the claim, so a worker whose work was taken from it writes nothing; a
worker that dies stops beating, and the reconciler or the next claim finds its work stale.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connection


class Heartbeat:
    """`with Heartbeat(beat, period=...):` calls `beat()` in a thread every `period` seconds until the
    block ends (the first call one period in). The thread closes its own database connection."""

    def __init__(self, beat: Callable[[], object], *, period: float) -> None:
        self._beat, self._period = beat, period
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            while not self._stop.wait(self._period):
                self._beat()
        finally:
            connection.close()  # this thread's own connection

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
