"""Every error of the APIs is JSON, a database that cannot be reached is a 503 with Retry-After, and
pages keep their HTML: in-process here, through a real PostgreSQL restart in test_outages.py."""

from __future__ import annotations

import json

import pytest
from django.db import OperationalError
from django.test import Client

from juice.auth import api_token_create
from tests.support.builders import build_open_study
from tests.support.raters import answer
from tests.support.rating import join, next_item

pytestmark = pytest.mark.django_db


def broken(message: str, error: type[Exception]):
    def fail(*_, **__):
        raise error(message)

    return fail


def test_an_unknown_api_address_is_a_json_404(researcher):
    api = Client(HTTP_AUTHORIZATION=f"Token {api_token_create(user=researcher)}")
    response = api.get("/api/no-such-thing")
    assert (response.status_code, response["Content-Type"]) == (404, "application/json")
    assert response.json() == {"error": "no such API address or object"}
    page = Client().get("/no-such-page")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")


def test_a_method_an_api_does_not_answer_is_a_json_405_naming_the_allowed_ones(researcher):
    api = Client(HTTP_AUTHORIZATION=f"Token {api_token_create(user=researcher)}")
    response = api.put("/api/studies", "{}", content_type="application/json")
    assert (response.status_code, response["Content-Type"], response["Allow"]) == (405, "application/json", "POST")
    assert response.json() == {"error": "PUT is not answered here; use POST"}
    # Pages keep Django's own answer.
    assert Client().put("/login/").status_code in (200, 405)


def test_a_vote_without_its_csrf_token_is_a_json_403_that_says_so():
    study = build_open_study(n_prompts=1)
    rater = join(study, "W1", client=Client(enforce_csrf_checks=True))
    token = next_item(rater, study)["assignment"]
    response = rater.post(f"/api/annotate/assignments/{token}/vote", json.dumps(answer(study)), content_type="application/json")
    assert (response.status_code, response["Content-Type"]) == (403, "application/json")
    assert response.json()["error"].startswith("CSRF check failed")
    page = Client(enforce_csrf_checks=True).post("/login/", {"username": "x", "password": "y"})
    assert page.status_code == 403 and page["Content-Type"].startswith("text/html")


def test_an_unexpected_error_of_an_api_is_a_json_500(monkeypatch):
    study = build_open_study(n_prompts=1)
    client = join(study, "W1", client=Client(raise_request_exception=False))
    monkeypatch.setattr("annotation.rating.api.assignment_next", broken("a bug", RuntimeError))
    response = client.get(f"/api/annotate/{study.slug}/next")
    assert (response.status_code, response.json()) == (500, {"error": "internal error; it has been logged"})


def test_a_database_that_cannot_be_reached_is_a_503_to_retry(monkeypatch):
    study = build_open_study(n_prompts=1)
    client = join(study, "W1", client=Client(raise_request_exception=False))
    token = next_item(client, study)["assignment"]
    monkeypatch.setattr("annotation.rating.api.vote_submit", broken("connection refused", OperationalError))
    response = client.post(f"/api/annotate/assignments/{token}/vote", json.dumps(answer(study)), content_type="application/json")
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert "cannot be reached" in response.json()["error"]
    monkeypatch.setattr("annotation.rating.views.rater_from_cookie", broken("connection refused", OperationalError))
    page = client.get(f"/s/{study.slug}/rate")
    assert page.status_code == 503 and page["Retry-After"] == "5" and b"nothing you did is lost" in page.content
