"""Reports from cache (annotation/reports/cache.py, juice/background.py): computed in the background after
votes, served from files with the time they were computed, never computed in a web request; `202` before
the first; a report behind the votes is said to be so and caught up, on a Celery worker as in a server
thread without a broker, after a lost message or a killed worker too."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from django.db import connection

import analysis
from annotation.models import Study
from annotation.reports.cache import report_store
from annotation.reports.schemas import ReportOut
from annotation.reports.services import study_report
from juice.auth import api_token_create
from juice.models import BackgroundWork
from tests.support import ROOT
from tests.support.builders import build_open_study
from tests.support.raters import SimulatedRater
from tests.support.reports import report_computed
from tests.support.servers import free_port, wait_for_port
from tests.support.workers import queues_empty, wait_for, worker

CHOICES = ["left", "left", "right", "left", "right"]


def fresh(study: Study) -> dict:
    """The report computed now, as the API answers it."""
    return ReportOut.model_validate(study_report(study=study)).model_dump(mode="json", exclude_unset=True)


def served(body: dict) -> dict:
    return {k: v for k, v in body.items() if k not in ("computed_at", "up_to_date")}


@pytest.fixture
def api(client, researcher):
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {api_token_create(user=researcher)}"
    return client


@pytest.mark.django_db
def test_a_report_behind_the_votes_says_so_and_equals_a_fresh_computation_once_caught_up(api, researcher_client):
    study = build_open_study(n_prompts=3, raters=5, name="Cached study")
    for i, choice in enumerate(CHOICES[:4]):
        SimulatedRater(f"w{i}", choice=choice).join(study).rate_all()
    report_computed(study)
    before = api.get(f"/api/studies/{study.slug}/report").json()
    assert before["up_to_date"] is True and served(before) == fresh(study)

    SimulatedRater("w4", choice="right").join(study).rate_all()  # the last votes
    behind = api.get(f"/api/studies/{study.slug}/report")
    assert behind.status_code == 200 and behind["X-Report-Up-To-Date"] == "0"
    assert behind.json()["up_to_date"] is False and served(behind.json()) == served(before)  # the older report, as it was
    page = researcher_client.get(f"/studies/{study.slug}/report.html").content.decode()
    assert "Newer votes since; updating." in page and "Compute the report again" in page

    report_computed(study)
    after = api.get(f"/api/studies/{study.slug}/report").json()
    assert after["up_to_date"] is True and served(after) == fresh(study) != served(before)
    assert after["pairs"][0]["items"] == 3 and sum(after["pairs"][0]["vote_splits"].values()) == 3
    # Every format is the same computation: the CSV and Markdown downloads hold the JSON's figures.
    csv = researcher_client.get(f"/studies/{study.slug}/report.csv").content.decode()
    assert csv == analysis.render_report(study_report(study=study), "csv")


@pytest.mark.django_db
def test_the_button_and_the_api_ask_for_a_fresh_report(api, researcher_client):
    study = build_open_study(n_prompts=2, raters=3)
    page = researcher_client.get(f"/studies/{study.slug}").content.decode()
    assert f'action="/studies/{study.slug}/report/refresh"' in page
    answer = researcher_client.post(f"/studies/{study.slug}/report/refresh")
    assert answer.status_code == 302 and answer["Location"] == f"/studies/{study.slug}/report.html"
    asked = api.post(f"/api/studies/{study.slug}/report")
    assert (asked.status_code, asked.json()) == (202, {"status": "computing"})
    assert researcher_client.get(f"/studies/{study.slug}/report/status").content.decode().count("being computed") == 1
    openapi = api.get("/api/openapi.json").json()["paths"]["/api/studies/{slug}/report"]
    assert set(openapi["get"]["responses"]) >= {"200", "202"} and "202" in openapi["post"]["responses"]


@pytest.mark.django_db(transaction=True)
def test_a_vote_arriving_while_a_report_is_computed_waits_for_nothing_and_is_never_lost(monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("the snapshot of a computation is PostgreSQL's REPEATABLE READ")
    study = build_open_study(n_prompts=2, raters=3)
    for worker_id in ("w0", "w1"):
        SimulatedRater(worker_id, choice="left").join(study).rate_all()
    reading, voted = threading.Event(), threading.Event()
    build = analysis.build_report

    def slow_build(*args, **kwargs):  # the computation has read its votes; it goes on once the vote is in
        reading.set()
        assert voted.wait(30)
        return build(*args, **kwargs)

    monkeypatch.setattr(analysis, "build_report", slow_build)

    def compute():
        try:
            report_store(study=Study.objects.get(pk=study.pk))
        finally:
            connection.close()

    computing = threading.Thread(target=compute)
    computing.start()
    assert reading.wait(30)
    started = time.monotonic()
    SimulatedRater("w2", choice="right").join(study).rate_all()
    waited = time.monotonic() - started
    voted.set()
    computing.join(30)
    monkeypatch.setattr(analysis, "build_report", build)
    assert waited < 5, f"the votes took {waited:.1f} s while a report was computed"
    # The report was filed under the state it read (without the new votes): it is served as behind, then caught up.
    from annotation.reports.cache import report_cached

    assert report_cached(study=study, check=False) is not None
    assert report_cached(study=study).up_to_date is False
    report_computed(study)
    cached = report_cached(study=study)
    assert cached.up_to_date and json.loads(cached.text("api.json")) == fresh(study)


def poll_report(client, slug: str, *, until, timeout: float, log: Path):
    def answer():
        response = client.get(f"/api/studies/{slug}/report")
        return response if until(response) else None

    return wait_for(answer, timeout, "the report to be computed", log)


def up_to_date(response) -> bool:
    return response.status_code == 200 and response.json()["up_to_date"]


@pytest.mark.worker
@pytest.mark.usefixtures("empty_queues")
@pytest.mark.django_db(transaction=True)
def test_first_request_answers_202_then_the_worker_computes_the_report_and_follows_the_votes(api, media_root, tmp_path, settings):
    settings.JUICE_REPORT_DEBOUNCE_SECONDS = 0
    study = build_open_study(n_prompts=3, raters=5, copy_files=False)
    for i, choice in enumerate(CHOICES[:4]):
        SimulatedRater(f"w{i}", choice=choice).join(study).rate_all()
    first = api.get(f"/api/studies/{study.slug}/report")
    assert (first.status_code, first.json()) == (202, {"status": "computing"})
    log = tmp_path / "worker.log"
    with worker(media_root, log, queues="media"):
        body = poll_report(api, study.slug, until=up_to_date, timeout=60, log=log).json()
        assert served(body) == fresh(study)
        SimulatedRater("w4", choice="right").join(study).rate_all()  # each vote asks for a new report, coalesced
        poll_report(api, study.slug, until=lambda r: up_to_date(r) and served(r.json()) == fresh(study), timeout=60, log=log)
    assert served(api.get(f"/api/studies/{study.slug}/report").json()) == fresh(study)
    runs = BackgroundWork.objects.get(key=f"report:{study.pk}").runs
    assert runs < 10, f"{runs} computations for 9 ratings of 2 questions: not coalesced"


@pytest.mark.worker
@pytest.mark.usefixtures("empty_queues")
@pytest.mark.django_db(transaction=True)
def test_a_lost_message_or_a_killed_worker_leaves_the_report_behind_never_wrong_and_it_catches_up(api, media_root, tmp_path,
                                                                                                  settings):
    settings.JUICE_REPORT_DEBOUNCE_SECONDS = 0
    settings.JUICE_BACKGROUND_LOST_SECONDS = 1
    study = build_open_study(n_prompts=3, raters=5, copy_files=False)
    for i, choice in enumerate(CHOICES[:3]):
        SimulatedRater(f"w{i}", choice=choice).join(study).rate_all()
    # A broker restart loses the queued messages: the report stays behind, and the next requests send it again.
    assert api.get(f"/api/studies/{study.slug}/report").status_code == 202
    queues_empty()
    log = tmp_path / "worker.log"
    with worker(media_root, log, queues="media"):
        time.sleep(1.5)
        poll_report(api, study.slug, until=up_to_date, timeout=60, log=log)
    assert served(api.get(f"/api/studies/{study.slug}/report").json()) == fresh(study)

    # A worker killed while it computes: the run's lease (2 s here) runs out and another worker takes it.
    os.environ["JUICE_BACKGROUND_LEASE_SECONDS"] = "2"
    try:
        with worker(media_root, log, queues="media") as doomed:
            assert api.post(f"/api/studies/{study.slug}/report").status_code == 202
            wait_for(lambda: BackgroundWork.objects.filter(key=f"report:{study.pk}").exclude(running_until=None).exists()
                     or BackgroundWork.objects.get(key=f"report:{study.pk}").runs >= 2, 60, "a run to start", log)
            os.killpg(doomed.pid, signal.SIGKILL)
            doomed.wait()
        SimulatedRater("w3", choice="left").join(study).rate_all()  # new votes while no worker runs
        behind = api.get(f"/api/studies/{study.slug}/report").json()
        assert behind["up_to_date"] is False and served(behind) != fresh(study)  # behind, and saying so
        with worker(media_root, log, queues="media"):
            poll_report(api, study.slug, until=up_to_date, timeout=90, log=log)
    finally:
        del os.environ["JUICE_BACKGROUND_LEASE_SECONDS"]
    assert served(api.get(f"/api/studies/{study.slug}/report").json()) == fresh(study)


SETUP = """
import django; django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from juice.auth import api_token_create, researcher_create
from tests.support.builders import build_open_study
study = build_open_study(n_prompts=3, raters=3, copy_files=False)
print(study.slug, api_token_create(user=researcher_create(username="rhea", password="rhea-password-1")[0]))
"""

FRESH = """
import django, json; django.setup()
from annotation.models import Study
from annotation.reports.schemas import ReportOut
from annotation.reports.services import study_report
print(json.dumps(ReportOut.model_validate(study_report(study=Study.objects.get())).model_dump(mode="json", exclude_unset=True)))
"""


@pytest.mark.worker
def test_without_a_broker_a_thread_of_the_server_computes_the_report(tmp_path: Path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'juice.sqlite3'}", "MEDIA_ROOT": str(tmp_path / "media"),
           "JUICE_DATA_DIR": str(tmp_path / "data"), "DJANGO_SETTINGS_MODULE": "juice.settings", "JUICE_RATE_VOTE_PER_MINUTE": "10000"}
    env.pop("CELERY_BROKER_URL", None)
    env.pop("JUICE_REPORTS_DIR", None)
    setup = subprocess.run([sys.executable, "-c", SETUP], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert setup.returncode == 0, setup.stderr
    slug, key = setup.stdout.split()
    port = free_port()
    site, auth = f"http://127.0.0.1:{port}", {"Authorization": f"Token {key}"}
    server = subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "juice.wsgi", "-b", f"127.0.0.1:{port}"], cwd=ROOT, env=env)
    try:
        wait_for_port(port, server)
        first = requests.get(f"{site}/api/studies/{slug}/report", headers=auth, timeout=60)
        assert (first.status_code, first.json()) == (202, {"status": "computing"})
        for n in range(3):
            rater = requests.Session()
            rater.get(f"{site}/s/{slug}/join?worker=r{n}", timeout=60)
            data = rater.get(f"{site}/api/annotate/{slug}/next", timeout=60).json()
            body = {"quality": {"choice": "left" if n else "right", "reasons": ["pixel_sharpness"]},
                    "faithfulness": {"choice": "right", "reasons": ["spatial_alignment"]}, "watch_ms": 3000}
            while data.get("assignment"):
                vote = rater.post(f"{site}/api/annotate/assignments/{data['assignment']}/vote?next=1", json=body,
                                  headers={"X-CSRFToken": rater.cookies["csrftoken"]}, timeout=60)
                assert vote.status_code == 201, vote.text
                data = vote.json().get("next") or {}
        deadline, answer = time.monotonic() + 60, None
        while time.monotonic() < deadline:
            answer = requests.get(f"{site}/api/studies/{slug}/report", headers=auth, timeout=60)
            if answer.status_code == 200 and answer.json()["up_to_date"]:
                break
            time.sleep(0.3)
        assert answer.status_code == 200 and answer.json()["up_to_date"], answer.text
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    computed = subprocess.run([sys.executable, "-c", FRESH], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert computed.returncode == 0, computed.stderr
    assert served(answer.json()) == json.loads(computed.stdout)
    assert (tmp_path / "data" / "reports").is_dir()  # under the data folder
