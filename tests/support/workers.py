"""Real Celery worker processes on Redis for the tests, as in production."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.db import connection

from juice.celery import app
from tests.support import ROOT


def queues_empty() -> None:
    """No message of an earlier run may reach a test's workers (the `empty_queues` fixture)."""
    with app.connection_for_write() as conn:
        for queue in ("gpu", "media"):
            conn.default_channel.queue_purge(queue)


@contextlib.contextmanager
def worker(media_root: Path, log: Path, *, queues: str = "gpu,media", broker: str | None = None):
    """A Celery worker process on the test database (and on `broker`, if given, else make test's Redis)."""
    env = {
        **process_env(media_root, broker),
        "HF_HUB_OFFLINE": "1",
        "JUICE_HEARTBEAT_SECONDS": "1",
        "JUICE_STALE_SECONDS": "3",
        "JUICE_RETRY_DELAY_SECONDS": "0",
    }
    with open(log, "ab") as out:
        # Its own session, so that a kill reaches the pool's child process too.
        proc = subprocess.Popen(
            [str(ROOT / ".venv/bin/celery"), "-A", "juice", "worker", "-Q", queues, "--concurrency", "1", "-P", "prefork",
             "--without-gossip", "--without-mingle", "-n", f"test-{uuid.uuid4().hex[:6]}@%h", "--loglevel", "INFO"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def process_env(media_root: Path, broker: str | None = None) -> dict[str, str]:
    """The environment of a process that works on the test database, its media and `broker`."""
    db = connection.settings_dict
    env = {**os.environ, "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}", "MEDIA_ROOT": str(media_root),
           "JUICE_REPORTS_DIR": str(settings.JUICE_REPORTS_DIR)}
    if broker:
        env["CELERY_BROKER_URL"] = broker
    return env


def run_django(code: str, media_root: Path, broker: str | None = None, **env: str) -> str:
    """Run `code` in a Django process of its own on the test database (and `broker`); returns what it printed."""
    out = subprocess.run([sys.executable, "-c", f"import django; django.setup()\n{code}"], cwd=ROOT, capture_output=True,
                         text=True, timeout=180, env={**process_env(media_root, broker), **env})
    assert out.returncode == 0, out.stderr
    return out.stdout


def wait_for(condition, timeout: float, what: str, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; worker log:\n{log.read_text()[-4000:]}")
