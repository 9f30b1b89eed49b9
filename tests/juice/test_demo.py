"""`make demo` from a fresh clone: the Makefile's own commands build the demo on the embedded defaults
(SQLite, tasks in-process) and serve a site on which a rater completes a rating; a second run reuses it all.

The clone is of the committed HEAD of the repository the tests run from, with its `.venv` linked in
(the install step is the only one left out: `make demo-serve`).
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.support import ROOT
from tests.support.servers import free_port

pytestmark = pytest.mark.worker

# Nothing of the test run's configuration may reach the demo: it must work on the defaults alone.
UNSET = ("DATABASE_URL", "CELERY_BROKER_URL", "MEDIA_ROOT", "DJANGO_SETTINGS_MODULE")


@pytest.fixture
def clone(tmp_path) -> Path:
    target = tmp_path / "juice"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(target)], check=True)
    (target / ".venv").symlink_to((ROOT / ".venv").resolve())
    return target


def wait_for_page(url: str, server: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"make demo-serve exited with {server.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if requests.get(url, timeout=5).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(1)
    raise AssertionError(f"no page at {url} after {timeout:.0f} s:\n{log.read_text()[-4000:]}")


def test_make_demo_from_a_fresh_clone_serves_a_site_where_a_rater_completes_a_rating(clone, tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    log = tmp_path / "demo.log"
    started = time.monotonic()
    with open(log, "wb") as out:
        # Its own session: stopping it stops make and the server it started.
        server = subprocess.Popen(
            ["make", "--no-print-directory", "demo-serve", f"DEMO_PORT={port}"],
            cwd=clone, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        wait_for_page(f"http://127.0.0.1:{port}/login/", server, log, timeout=240)
        first_run = time.monotonic() - started
        printed = log.read_text()
        assert "username 'researcher', password 'juice-demo'" in printed
        assert "Tasks run in this process" in printed
        join = re.search(rf"(http://127\.0\.0\.1:{port}/s/\w+/join\?worker=demo-rater-1)\s", printed)
        assert join, printed
        status, vote = rate_once(join.group(1))
        assert status == 201, vote
    finally:
        os.killpg(server.pid, signal.SIGINT)  # Ctrl-C
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()

    # Three systems, 16 generated and 8 uploaded videos, one study of 3 pairs x 8 prompts.
    counts = demo_counts(clone)
    assert counts == {"systems": 3, "videos": 24, "studies": 1, "items": 24, "ready": 24, "votes": 2}, counts

    # Again: everything is reused, nothing is made twice, and it is quick.
    again = time.monotonic()
    rerun = subprocess.run([".venv/bin/python", "manage.py", "demo"], cwd=clone, env=env, capture_output=True, text=True, check=True)
    assert "Generating" not in rerun.stdout and "Building" not in rerun.stdout and "Creating the study" not in rerun.stdout
    assert demo_counts(clone) == counts
    assert time.monotonic() - again < 30
    print(f"first run to a serving site: {first_run:.0f} s; second run: {time.monotonic() - again:.1f} s")


def rate_once(join_url: str) -> tuple[int, dict]:
    """A rater's browser over plain HTTP: join (session cookie), fetch the next item, vote with the CSRF token."""
    browser = requests.Session()
    page = browser.get(join_url, timeout=30)
    assert page.status_code == 200 and page.url.endswith("/rate"), page.url
    base, slug = page.url.split("/s/")[0], page.url.split("/s/")[1].split("/")[0]
    task = browser.get(f"{base}/api/annotate/{slug}/next", timeout=30).json()
    assert task["assignment"] and set(task["videos"]) == {"left", "right"}
    video = browser.get(base + task["videos"]["left"], headers={"Range": "bytes=0-11"}, timeout=30)
    assert video.status_code == 206 and video.content[4:8] == b"ftyp"  # an MP4 a browser can seek in
    body = {q["key"]: {"choice": "left", "reasons": [q["reasons"][0]["key"]]} for q in task["questions"]}
    vote = browser.post(
        f"{base}/api/annotate/assignments/{task['assignment']}/vote", json={**body, "watch_ms": 3000},
        headers={"X-CSRFToken": browser.cookies["csrftoken"]}, timeout=30,
    )
    return vote.status_code, vote.json()


def demo_counts(clone: Path) -> dict[str, int]:
    queries = {
        "systems": "select count(*) from generation_system",
        "videos": "select count(*) from generation_video",
        "studies": "select count(*) from annotation_study where status = 'open'",
        "items": "select count(*) from annotation_item",
        "ready": "select count(*) from annotation_item where status = 'ready'",
        "votes": "select count(*) from annotation_vote",
    }
    with sqlite3.connect(clone / "var" / "db.sqlite3") as db:
        return {name: db.execute(sql).fetchone()[0] for name, sql in queries.items()}
