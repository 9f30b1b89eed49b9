"""The annotator API's lean path: few statements per request, no session rows, shared rate limits."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.sessions.models import Session
from django.core import signing
from django.db import connection, connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from annotation.models import Assignment, Item, Rater, Study, Vote
from annotation.raters.cookies import RATER_COOKIE, RATER_COOKIE_SALT
from juice.middleware import ANNOTATOR_API
from tests.support import ROOT
from tests.support.builders import build_open_study
from tests.support.commands import run_manage
from tests.support.raters import answer
from tests.support.servers import free_port, wait_for_port

pytestmark = pytest.mark.django_db


def joined(study: Study, worker: str = "W1") -> Client:
    client = Client()
    assert client.get(f"/s/{study.slug}/join", {"worker": worker}).status_code == 302
    return client


def statements(queries: CaptureQueriesContext) -> list[str]:
    """The statements a request ran, without the savepoints only a test's enclosing transaction needs."""
    return [q["sql"] for q in queries.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]


def test_next_and_vote_take_a_few_fixed_statements():
    """The hot path runs the rating rules' own statements (annotation/rating/prepared.py), a fixed few per
    request, on PostgreSQL as on SQLite: no ORM query, nothing that grows with the study."""
    study = build_open_study(n_prompts=4)
    client = joined(study)
    client.get(f"/api/annotate/{study.slug}/next")  # the first request of a process also sweeps leases
    token = client.get(f"/api/annotate/{study.slug}/next").json()["assignment"]
    with CaptureQueriesContext(connection) as repeated:
        assert client.get(f"/api/annotate/{study.slug}/next").json()["assignment"] == token
    with CaptureQueriesContext(connection) as voted:
        response = client.post(f"/api/annotate/assignments/{token}/vote", json.dumps(answer(study)), content_type="application/json")
        assert response.status_code == 201
    with CaptureQueriesContext(connection) as claimed:
        assert client.get(f"/api/annotate/{study.slug}/next").json()["assignment"] not in (None, token)
    # next: the rater's state; a vote: the assignment, then four writes in one transaction; a claim:
    # the rater's state, then the assignment and the item's count in one transaction.
    assert [len(statements(q)) for q in (repeated, voted, claimed)] == [1, 5, 3]
    # A vote that asks for the next assignment (?next=1) claims with what the vote read.
    next_token = client.get(f"/api/annotate/{study.slug}/next").json()["assignment"]
    with CaptureQueriesContext(connection) as voted_then_claimed:
        url = f"/api/annotate/assignments/{next_token}/vote?next=1"
        response = client.post(url, json.dumps(answer(study)), content_type="application/json")
        assert response.status_code == 201
    assert response.json()["next"]["assignment"] not in (None, token, next_token)
    assert len(statements(voted_then_claimed)) == 7


def test_a_vote_is_checked_against_the_study_as_it_is_now():
    """A vote is checked against the study as it is when the vote arrives: an edit made since the
    assignment was handed out (here through the admin's fields) is seen."""
    study = build_open_study(n_prompts=2)
    client = joined(study)
    token = client.get(f"/api/annotate/{study.slug}/next").json()["assignment"]
    old = study.reasons["quality"][0]["key"]
    reasons = {**study.reasons, "quality": [{"key": "crisp", "label": "Crisper frames"}]}
    Study.objects.filter(pk=study.pk).update(reasons=reasons, tie_policy=Study.TiePolicy.ALLOW)
    stale = answer(study)
    response = client.post(f"/api/annotate/assignments/{token}/vote", json.dumps(stale), content_type="application/json")
    assert response.status_code == 400 and f"unknown reason {old!r}" in response.json()["error"]
    fresh = {**stale, "quality": {"choice": "tie", "reasons": ["crisp"]}}
    response = client.post(f"/api/annotate/assignments/{token}/vote", json.dumps(fresh), content_type="application/json")
    assert response.status_code == 201
    left = Assignment.objects.get(token=token).left
    assert dict(Vote.objects.values_list("question", "choice")) == {"quality": "tie", "faithfulness": left}


def test_a_vote_on_someone_elses_assignment_is_a_403_even_over_the_rate_limit(settings):
    settings.JUICE_RATE_VOTE_PER_MINUTE = 1
    study = build_open_study(n_prompts=2)
    token = joined(study, "W1").get(f"/api/annotate/{study.slug}/next").json()["assignment"]
    intruder = joined(study, "W2")
    intruder.get(f"/api/annotate/{study.slug}/next")
    body = json.dumps(answer(study))
    statuses = [intruder.post(f"/api/annotate/assignments/{token}/vote", body, content_type="application/json").status_code
                for _ in range(3)]
    assert statuses == [403, 403, 403]
    assert not Vote.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_same_vote_sent_many_times_at_once_is_stored_once():
    """A double click, or a client retrying before the answer came: one 201, the others 409."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serializes the writers; the race is PostgreSQL's")
    study = build_open_study(n_prompts=2, copy_files=False)
    client = joined(study)
    token = client.get(f"/api/annotate/{study.slug}/next").json()["assignment"]
    body = json.dumps(answer(study))
    cookie = client.cookies[RATER_COOKIE].value
    start = threading.Barrier(8)

    def send(_: int) -> int:
        browser = Client()
        browser.cookies[RATER_COOKIE] = cookie
        start.wait()
        try:
            return browser.post(f"/api/annotate/assignments/{token}/vote", body, content_type="application/json").status_code
        finally:
            connections.close_all()  # this thread's own connection

    with ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(send, range(8)))
    assert statuses == [201] + [409] * 7
    assert Vote.objects.filter(assignment__token=token).count() == 2
    assert Item.objects.get(assignments__token=token).votes_done == 1


def test_raters_keep_no_session_rows_and_a_forged_cookie_is_refused():
    study = build_open_study(n_prompts=2)
    client = joined(study)
    assert client.get(f"/api/annotate/{study.slug}/next").status_code == 200
    assert not Session.objects.exists()
    forged = Client()
    forged.cookies[RATER_COOKIE] = client.cookies[RATER_COOKIE].value.replace(":", ":x", 1)
    assert forged.get(f"/api/annotate/{study.slug}/next").status_code == 403
    unsigned = Client()
    unsigned.cookies[RATER_COOKIE] = json.dumps({study.slug: 1})
    assert unsigned.get(f"/api/annotate/{study.slug}/next").status_code == 403


def test_a_rater_cookie_of_one_study_opens_no_other():
    study = build_open_study(n_prompts=1)
    other = build_open_study(n_prompts=1, name="Other study")
    stolen = Client()
    # A cookie the site signed, but for a rater of `study`, offered to `other`: raters belong to one study.
    signer = signing.get_cookie_signer(salt=RATER_COOKIE + RATER_COOKIE_SALT)
    joined(study)
    stolen.cookies[RATER_COOKIE] = signer.sign(json.dumps({other.slug: Rater.objects.get(study=study).pk}))
    assert stolen.get(f"/api/annotate/{other.slug}/next").status_code == 403


def test_one_browser_rates_two_studies():
    study = build_open_study(n_prompts=1)
    other = build_open_study(n_prompts=1, name="Other study")
    client = joined(study)
    assert client.get(f"/s/{other.slug}/join", {"worker": "W1"}).status_code == 302
    for s in (study, other):
        token = client.get(f"/api/annotate/{s.slug}/next").json()["assignment"]
        response = client.post(f"/api/annotate/assignments/{token}/vote", json.dumps(answer(s)), content_type="application/json")
        assert response.status_code == 201
        # Its progress counts the vote, stored here by the full path (the cookie names two raters).
        assert client.get(f"/api/annotate/{s.slug}/next").json()["progress"]["done"] == 1
    # On the full path too, a vote with ?next=1 answers what next would, for the study voted in
    # (here not the last one this browser joined).
    third = build_open_study(n_prompts=2, name="Third study")
    fourth = build_open_study(n_prompts=2, name="Fourth study")
    for s in (third, fourth):
        assert client.get(f"/s/{s.slug}/join", {"worker": "W1"}).status_code == 302
    token = client.get(f"/api/annotate/{third.slug}/next").json()["assignment"]
    url = f"/api/annotate/assignments/{token}/vote?next=1"
    response = client.post(url, json.dumps(answer(third)), content_type="application/json")
    assert response.status_code == 201
    following = response.json()["next"]
    assert following["assignment"] not in (None, token)
    assert Assignment.objects.get(token=following["assignment"]).item.study_id == third.pk
    assert following["progress"] == {"done": 1, "total": 2}
    assert client.get(f"/api/annotate/{third.slug}/next").json() == following
    assert not Assignment.objects.filter(item__study=fourth).exists()


def test_the_lighter_chain_of_the_annotator_api_keeps_its_guards(researcher_client):
    study = build_open_study(n_prompts=1)
    client = joined(study)
    # A researcher's session in the same browser: the annotator API sets no session cookie and no Vary: Cookie.
    client.cookies["sessionid"] = researcher_client.cookies["sessionid"].value
    response = client.get(f"/api/annotate/{study.slug}/next")
    assert response.status_code == 200
    assert "sessionid" not in response.cookies and "Cookie" not in response.get("Vary", "")
    # What it keeps: the security headers, no caching, and CSRF on the vote.
    assert response["X-Content-Type-Options"] == "nosniff" and response["X-Frame-Options"] == "DENY"
    assert "no-store" in response["Cache-Control"]
    token = response.json()["assignment"]
    strict = Client(enforce_csrf_checks=True)
    strict.cookies[RATER_COOKIE] = client.cookies[RATER_COOKIE].value
    body = json.dumps(answer(study))
    assert strict.post(f"/api/annotate/assignments/{token}/vote", body, content_type="application/json").status_code == 403
    # A forged Host is refused there as everywhere.
    assert client.get(f"/api/annotate/{study.slug}/next", HTTP_HOST="evil.example").status_code == 400
    # Researcher pages still run the whole chain: their session is read.
    assert researcher_client.get("/").status_code == 200
    # The middleware finds the annotator API by its path prefix: both of its URLs must carry it.
    assert reverse("annotate-next", args=[study.slug]).startswith(ANNOTATOR_API)
    assert reverse("annotate-vote", args=[token]).startswith(ANNOTATOR_API)


def test_researcher_logins_stay_in_server_side_sessions(researcher_client):
    assert researcher_client.get("/").status_code == 200
    assert Session.objects.count() == 1  # logout deletes it, so a copied cookie dies with it


def test_a_shared_cache_holds_one_rate_count_for_every_process():
    url = os.environ.get("CELERY_BROKER_URL")
    if not url:
        pytest.skip("needs the Redis of make test")
    bump = "from django.core.cache import cache; cache.add('perf-test-hits', 0, 60); print(cache.incr('perf-test-hits'))"
    first = run_manage("shell", "--no-imports", "-c", "from django.core.cache import cache; cache.delete('perf-test-hits')",
                       JUICE_CACHE_URL=url)
    assert first.returncode == 0, first.stderr
    counts = [run_manage("shell", "--no-imports", "-c", bump, JUICE_CACHE_URL=url).stdout.strip() for _ in range(2)]
    assert counts == ["1", "2"]


def test_a_bad_cache_url_stops_with_one_clear_line():
    out = run_manage("check", JUICE_CACHE_URL="memcached://localhost")
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "JUICE_CACHE_URL='memcached://localhost'" in lines[0]


@pytest.mark.django_db(transaction=True)
def test_gunicorn_with_its_config_serves_a_rating():
    """gunicorn.conf.py (preloaded app, frozen imports, several workers) serves join, next and vote."""
    if connection.vendor != "postgresql":
        pytest.skip("served from the PostgreSQL test database, which a server process can reach")
    study = build_open_study(n_prompts=2, copy_files=False)
    db = connection.settings_dict
    port = free_port()
    env = {**os.environ, "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
           "JUICE_WEB_WORKERS": "2", "JUICE_WEB_THREADS": "2"}
    server = subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "juice.wsgi", "-b", f"127.0.0.1:{port}"], cwd=ROOT, env=env)
    try:
        wait_for_port(port, server)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        cookies = {}

        def request(method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
            headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
            if body is not None:
                headers.update({"Content-Type": "application/json", "X-CSRFToken": cookies.get("csrftoken", "")})
            conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
            response = conn.getresponse()
            for header in response.headers.get_all("Set-Cookie") or []:
                name, _, rest = header.partition("=")
                cookies[name.strip()] = rest.split(";", 1)[0]
            return response.status, response.read()

        assert request("GET", f"/s/{study.slug}/join?worker=W1")[0] == 302
        assert request("GET", f"/s/{study.slug}/rate")[0] == 200
        for _ in range(2):
            status, content = request("GET", f"/api/annotate/{study.slug}/next")
            assert status == 200
            token = json.loads(content)["assignment"]
            assert request("POST", f"/api/annotate/assignments/{token}/vote", answer(study))[0] == 201
        status, content = request("GET", f"/api/annotate/{study.slug}/next")
        assert json.loads(content)["completion_code"] == "DONE1234"
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
