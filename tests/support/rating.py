"""An annotator's browser over the JSON API, for the annotation tests."""

from __future__ import annotations

import json

from django.test import Client

from annotation.models import Study
from tests.support.builders import SYSTEM_NAMES


def join(study: Study, worker: str, param: str = "worker", client: Client | None = None) -> Client:
    client = client or Client()
    response = client.get(f"/s/{study.slug}/join", {param: worker})
    assert response.status_code == 302, response.content
    assert response["Location"] == f"/s/{study.slug}/rate"
    return client


def next_item(client: Client, study: Study) -> dict:
    response = client.get(f"/api/annotate/{study.slug}/next")
    assert response.status_code == 200, response.content
    return response.json()


def vote(client: Client, token: str, body: object, *, then_next: bool = False):
    """POST a vote; `then_next` asks for the next assignment in the answer (?next=1), as the rating page does."""
    url = f"/api/annotate/assignments/{token}/vote" + ("?next=1" if then_next else "")
    return client.post(url, json.dumps(body), content_type="application/json")


def assert_no_system_name(text: str) -> None:
    for name in SYSTEM_NAMES:
        assert name.lower() not in text.lower()
