"""One way to run background work: `background_run(task, *ids, key=...)`, which every caller uses.

With a broker, the Celery task `work_run` runs it on a worker; without one (tasks in-process, the
embedded default), a thread of this server process does, so that the web request answers first. Either
way the work starts once the caller's transaction commits (it must find the rows it is given), takes ids
only, and is safe to re-run: a message may be delivered twice, a run may be cut short by a kill.

Runs are coalesced per key (a BackgroundWork row): at most one runs and one waits. A request sets the
row's `waiting` flag and sends a message only when the flag was clear, so a thousand votes in a second
send one; a run clears the flag as it starts and, when it ends, runs again if the flag was set meanwhile.
A run holds a lease (`running_until`, JUICE_BACKGROUND_LEASE_SECONDS): a message that finds the lease
held comes back when it expires, so a killed worker delays the work, never loses it. A message lost on
the way (a broker outage) is sent again by the next request for the key once the request is older than
JUICE_BACKGROUND_LOST_SECONDS, and by celery beat's `background_resend`.
"""

from __future__ import annotations

import importlib
import json
import logging
import threading
import time
import traceback
from collections.abc import Callable
from datetime import timedelta

from celery import shared_task
from django import db
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from juice.celery import app
from juice.models import BackgroundWork

logger = logging.getLogger(__name__)

_TASKS: dict[str, Callable[..., object]] = {}


def background_task(function: Callable[..., object]) -> Callable[..., object]:
    """Declare `function` (ids in, safe to re-run) as background work that `background_run` may be given.
    Its module must be one that a Celery worker imports (a `tasks` module of an app)."""
    function.background_name = f"{function.__module__}.{function.__qualname__}"
    _TASKS[function.background_name] = function
    return function


def background_task_named(name: str) -> Callable[..., object]:
    """The background task of this name, its module imported if it was not yet."""
    if name not in _TASKS:
        importlib.import_module(name.rpartition(".")[0])
    if name not in _TASKS:
        raise LookupError(f"no background task {name!r}")
    return _TASKS[name]


def background_run(task: Callable[..., object] | str, *ids: int, key: str, delay: float = 0) -> None:
    """Run `task(*ids)` in the background once the caller's transaction commits, coalesced under `key`:
    if a run of `key` already waits, this request is part of it. `task` is a function declared with
    `background_task`, or its name (`module.function`) where a lower layer may not import it. `delay`
    (seconds) lets more requests join the waiting run before it starts (a debounce). Never raises for
    the background's sake: a message that cannot be sent is logged and sent again later."""
    name = task if isinstance(task, str) else getattr(task, "background_name", None)
    if name is None or (not isinstance(task, str) and _TASKS.get(name) is not task):
        raise ValueError(f"{task!r} is not declared with @background_task")
    transaction.on_commit(lambda: _request(name, list(ids), key, delay), robust=True)


# One statement per request, on both databases: create the key's row waiting, or set its flag if it was
# clear (or its message looks lost: untaken for long, no run holding the key); a row comes back only
# then, and only then is a message sent. A vote pays this one statement, which mostly changes nothing:
# the row already waits. It then reads the row and writes nothing (the NOT EXISTS, the negation of the
# ON CONFLICT's WHERE, which stays the rule), where an upsert would lock the row, and so make its
# transaction write and flush the log at commit: 0.8 ms of PostgreSQL CPU and several ms of wall time a
# vote (bench/bench_scale.py, README).
REQUEST_SQL = """
INSERT INTO juice_backgroundwork ("key", task, args, waiting, requested_at, runs, error)
SELECT %(key)s, %(task)s, {args}, TRUE, %(now)s, 0, ''
WHERE NOT EXISTS (SELECT 1 FROM juice_backgroundwork w WHERE w."key" = %(key)s AND w.waiting
                  AND (w.requested_at >= %(lost)s OR w.running_until >= %(now)s))
ON CONFLICT ("key") DO UPDATE SET waiting = TRUE, requested_at = excluded.requested_at, task = excluded.task, args = excluded.args
WHERE juice_backgroundwork.waiting = FALSE
   OR (juice_backgroundwork.requested_at < %(lost)s
       AND (juice_backgroundwork.running_until IS NULL OR juice_backgroundwork.running_until < %(now)s))
RETURNING id
"""


def _request(name: str, args: list[int], key: str, delay: float) -> None:
    now = timezone.now()
    lost = now - timedelta(seconds=settings.JUICE_BACKGROUND_LOST_SECONDS)
    connection = db.connections["default"]
    sql = REQUEST_SQL.format(args="CAST(%(args)s AS jsonb)" if connection.vendor == "postgresql" else "%(args)s")
    stamp = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(sql, {"key": key, "task": name, "args": json.dumps(args), "now": stamp(now), "lost": stamp(lost)})
        flipped = cursor.fetchone() is not None
    if flipped:
        _send(key, delay)


def _send(key: str, delay: float) -> None:
    if app.conf.task_always_eager:
        threading.Thread(target=_in_thread, args=(key, delay), daemon=True, name=f"background {key}").start()
        return
    try:
        work_run.apply_async((key,), countdown=delay)
    except Exception:  # the broker is out of reach: the row still says the work waits, and it is sent again
        logger.exception("could not send background work %s; it is sent again later", key)


def _in_thread(key: str, delay: float) -> None:
    try:
        time.sleep(delay)
        retry = work_run_once(key)
        while retry is not None:  # a run of this key holds its lease (another thread, a process killed)
            time.sleep(retry)
            retry = work_run_once(key)
    except Exception:  # a thread's error reaches no caller: it is logged, and the row keeps the state
        logger.exception("in-process background work %s failed", key)
    finally:
        db.connections.close_all()


@shared_task(name="juice.background.work_run", acks_late=True)
def work_run(key: str) -> None:
    """Run the work waiting under `key` (and what comes to wait while it runs)."""
    retry = work_run_once(key)
    if retry is not None:
        work_run.apply_async((key,), countdown=retry)


def work_run_once(key: str) -> float | None:
    """Run what waits under `key`, again while more comes to wait. Returns None when nothing is left to
    do here, or the seconds after which to try again because another run holds the key's lease."""
    while True:
        now = timezone.now()
        lease = timedelta(seconds=settings.JUICE_BACKGROUND_LEASE_SECONDS)
        claimed = (
            BackgroundWork.objects.filter(key=key, waiting=True)
            .filter(Q(running_until=None) | Q(running_until__lt=now))
            .update(waiting=False, running_until=now + lease, runs=F("runs") + 1)
        )
        if not claimed:
            held = BackgroundWork.objects.filter(key=key, waiting=True).values_list("running_until", flat=True).first()
            if held is None:
                return None  # nothing waits, or the run holding the key takes it when it ends
            return max(1.0, min(30.0, (held - now).total_seconds() + 0.5))
        work = BackgroundWork.objects.get(key=key)
        error = ""
        try:
            background_task_named(work.task)(*work.args)
        except Exception:
            logger.exception("background work %s failed", key)
            error = traceback.format_exc()
        finally:
            BackgroundWork.objects.filter(key=key).update(running_until=None, finished_at=timezone.now(), error=error[-4000:])


@shared_task(name="juice.background.background_resend")
def background_resend() -> int:
    """Send again the work whose message looks lost (celery beat, every minute). Returns how many."""
    now = timezone.now()
    lost = now - timedelta(seconds=settings.JUICE_BACKGROUND_LOST_SECONDS)
    keys = list(
        BackgroundWork.objects.filter(waiting=True, requested_at__lt=lost)
        .filter(Q(running_until=None) | Q(running_until__lt=now))
        .values_list("key", flat=True)
    )
    for key in keys:
        BackgroundWork.objects.filter(key=key).update(requested_at=now)
        _send(key, 0)
    return len(keys)
