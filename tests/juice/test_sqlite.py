"""An SQLite database named by DATABASE_URL (as the README's configuration offers) holds concurrent
raters like the default one: 16 raters at once, as fast as they can, fill a study with no error."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.support import ROOT
from tests.support.servers import free_port, wait_for_port

pytestmark = pytest.mark.worker

RATERS, ITEMS, PER_ITEM = 16, 12, 10

SETUP = f"""
import django; django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from tests.support.builders import build_open_study
print(build_open_study(n_prompts={ITEMS}, raters={PER_ITEM}, copy_files=False).slug)
"""

COUNT = f"""
import django; django.setup()
from django.db.models import Count
from annotation.models import Assignment, Item, Vote
voted = Assignment.objects.filter(status="voted")
per_item = sorted(voted.values("item").annotate(n=Count("rater", distinct=True)).values_list("n", flat=True))
print(Vote.objects.count(), voted.count(), per_item == [{PER_ITEM}] * {ITEMS}, Item.objects.filter(votes_done={PER_ITEM}).count())
"""


def rate_until_done(site: str, slug: str, worker: str) -> list[int]:
    """One rater's whole session; returns the status of every answer it got."""
    browser, statuses = requests.Session(), []
    join = browser.get(f"{site}/s/{slug}/join?worker={worker}", timeout=60)
    statuses.append(join.status_code)
    body = {"quality": {"choice": "left", "reasons": ["pixel_sharpness"]},
            "faithfulness": {"choice": "right", "reasons": ["spatial_alignment"]}, "watch_ms": 3000}
    answer = browser.get(f"{site}/api/annotate/{slug}/next", timeout=60)
    statuses.append(answer.status_code)
    data = answer.json()
    while data.get("assignment"):
        vote = browser.post(f"{site}/api/annotate/assignments/{data['assignment']}/vote?next=1", json=body,
                            headers={"X-CSRFToken": browser.cookies["csrftoken"]}, timeout=60)
        statuses.append(vote.status_code)
        data = vote.json().get("next") or {}
    return statuses


def test_sixteen_raters_at_once_fill_a_study_on_an_sqlite_file_named_by_database_url(tmp_path: Path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'juice.sqlite3'}", "MEDIA_ROOT": str(tmp_path / "media"),
           "JUICE_DATA_DIR": str(tmp_path / "data"), "DJANGO_SETTINGS_MODULE": "juice.settings",
           "JUICE_WEB_THREADS": "4", "JUICE_RATE_VOTE_PER_MINUTE": "10000"}
    env.pop("CELERY_BROKER_URL", None)
    setup = subprocess.run([sys.executable, "-c", SETUP], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert setup.returncode == 0, setup.stderr
    slug = setup.stdout.strip()
    port = free_port()
    server = subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "juice.wsgi", "-b", f"127.0.0.1:{port}"], cwd=ROOT, env=env)
    try:
        wait_for_port(port, server)
        started = time.monotonic()
        with ThreadPoolExecutor(RATERS) as pool:
            sessions = list(pool.map(lambda n: rate_until_done(f"http://127.0.0.1:{port}", slug, f"r{n}"), range(RATERS)))
        seconds = time.monotonic() - started
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    statuses = {status for session in sessions for status in session}
    assert statuses <= {200, 201}, statuses  # no "database is locked", no 500
    count = subprocess.run([sys.executable, "-c", COUNT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert count.stdout.split() == [str(2 * ITEMS * PER_ITEM), str(ITEMS * PER_ITEM), "True", str(ITEMS)], count.stderr
    print(f"\n{ITEMS * PER_ITEM} votes by {RATERS} concurrent raters on SQLite in {seconds:.1f} s")
