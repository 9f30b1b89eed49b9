"""Sending Celery tasks, and asking the broker how much waits in a queue.

Tasks are sent once the caller's transaction commits (a worker must find the rows it is given).
With a broker, failing to reach it is logged, not raised: the rows keep saying what is still to do,
and the reconcilers that celery beat runs send it again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import transaction
from kombu.exceptions import OperationalError

from juice.celery import app

logger = logging.getLogger(__name__)


def enqueue_after_commit(send: Callable[[], object]) -> None:
    """Call `send` (a task's delay or apply_async) after the caller's transaction commits. In-process
    (no broker) the task runs there and then, and its errors are the caller's. Work that a web request
    must not wait for is background work instead: `juice.background.background_run`."""
    transaction.on_commit(send, robust=not app.conf.task_always_eager)


def queue_drained(name: str) -> bool:
    """Whether nothing waits in queue `name` but celery beat's periodic tasks sent to it, which beat
    sends together, so that a reconciler running among them on that queue finds them there too;
    False when the broker cannot be asked. A reconciler resends a task's lost messages only then."""
    length = queue_length(name)
    return length is not None and length <= len(_periodic_tasks_on(name))


def _periodic_tasks_on(name: str) -> list[str]:
    """The tasks of celery beat's schedule that the task routes send to queue `name`."""
    tasks = [entry["task"] for entry in app.conf.beat_schedule.values()]
    return [task for task in tasks if (app.amqp.router.route({}, task).get("queue") or _default()).name == name]


def _default():
    return app.amqp.queues[app.conf.task_default_queue]


def queue_length(name: str) -> int | None:
    """How many messages wait in queue `name`; None without a broker, or when it cannot be reached."""
    if app.conf.task_always_eager:
        return None
    with app.connection_for_read() as connection:
        try:
            return connection.default_channel.queue_declare(queue=name, passive=True).message_count
        except connection.channel_errors:  # no worker has declared it yet: nothing waits in it
            return 0
        except (OperationalError, *connection.connection_errors, OSError):
            return None
