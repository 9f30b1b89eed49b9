"""The JSON API fuzzed from its own OpenAPI document (schemathesis): every operation of
`/api/openapi.json` gets generated requests, valid and invalid, through the site's WSGI application on
the test database (PostgreSQL under `make test`), sent as a researcher with an API token or as a joined
rater with the browser's cookies and CSRF header. No answer may be a 5xx, and each must be one its
operation declares: its status (the document declares every one, no catch-all), its content type, its
headers and its body's schema; a schema-violating request must be refused, a request without the
credentials or with made-up ones too, and another method must answer 405. A third of the requests name
real objects (the study, the rater's live assignment or practice pair, the prompt set, a system, with a
ballot the study may accept) so they reach the services, a third a NUL character where a name goes.
After each operation's run the database must still hold the annotation invariants
(tests/support/invariants.py), and the operations a rater or a reader reaches must have succeeded too.

Bounded: JUICE_FUZZ_EXAMPLES examples per operation (default 25, under a minute in all), derandomized so
`make test` runs the same requests every time. To search further, raise it and pick other examples:
`JUICE_FUZZ_EXAMPLES=200 JUICE_FUZZ_SEED=7 .venv/bin/pytest tests/juice/test_api_fuzz.py`.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie

import pytest
import schemathesis
from django.conf import settings
from django.core import signals
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from django.test import Client
from django.utils.crypto import get_random_string
from hypothesis import HealthCheck, Phase, given, seed
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from annotation.models import Assignment, Rater, Study, Vote
from annotation.raters.cookies import RATER_COOKIE
from generation.models import System
from juice.auth import api_token_create
from juice.openapi import openapi_document
from tests.support.builders import SYSTEM_NAMES, build_open_study
from tests.support.invariants import annotation_problems
from tests.support.raters import answer

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("JUICE_FUZZ_EXAMPLES", "25"))
# Another seed draws other examples (the default run is the same every time).
SEED = os.environ.get("JUICE_FUZZ_SEED")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance, negative_data_rejection, unsupported_method, ignored_auth]
OPERATIONS = [(path, method.upper()) for path, operations in openapi_document()["paths"].items() for method in operations]


# Two practice pairs, both may be missed: every rater is admitted once they answered them.
QUALIFICATION = {
    "items": [{"prompt": "p0001", "pair": ["SecretModelX", "SecretModelY"], "answers": {"quality": "SecretModelX"}},
              {"prompt": "p0002", "pair": ["SecretModelY", "SecretModelX"], "answers": {"quality": "SecretModelY"}}],
    "mistakes_allowed": 2,
}


@dataclass
class World:
    """What the fuzzed requests act on, and the rater who sends the annotator's requests (a browser:
    its cookies, and the CSRF token the page would send)."""

    study: Study
    token: str
    rater: Client = field(default_factory=Client)
    workers: int = 0
    csrf: str = field(default_factory=lambda: get_random_string(32))

    def join(self) -> None:
        """A new rater joins and consents: their qualification comes next."""
        self.workers += 1
        self.rater = Client()
        joined = self.rater.get(f"/s/{self.study.slug}/join", {"worker": f"F{self.workers}"})
        assert joined.status_code == 302, joined.content
        assert self.rater.post(f"/api/annotate/{self.study.slug}/consent").status_code == 201

    def qualify(self) -> None:
        """The rater answers the practice pairs left to them (all on the left)."""
        url = f"/api/annotate/{self.study.slug}/qualification"
        while (pair := self.rater.get(url).json()["pair"]) is not None:
            body = {"index": pair["index"], **{q["key"]: {"choice": "left"} for q in pair["questions"]}}
            assert self.rater.post(url, json.dumps(body), content_type="application/json").status_code == 201

    def assignment(self) -> str | None:
        """The rater's live assignment; a new rater's once this one has nothing left (None when no one has)."""
        for _ in range(3):
            self.qualify()
            offered = self.rater.get(f"/api/annotate/{self.study.slug}/next").json()
            if offered.get("assignment"):
                return offered["assignment"]
            self.join()
        return None

    def cookies(self) -> dict[str, str]:
        jar: SimpleCookie = self.rater.cookies
        return {RATER_COOKIE: jar[RATER_COOKIE].value, settings.CSRF_COOKIE_NAME: self.csrf}

    def real(self, path: str, name: str) -> str | None:
        """A real object's value for the path parameter `name` of `path`."""
        if name == "slug":
            return self.study.slug
        if name == "token":
            return self.assignment()
        if path.startswith("/api/prompt-sets/"):
            return self.study.prompt_set.name
        return System.objects.order_by("pk").values_list("name", flat=True).first()


class InTestTransaction:
    """The site's WSGI application answering in the test's transaction: as Django's test client does, a
    request neither closes nor replaces the test's database connection."""

    def __init__(self):
        self.handler = WSGIHandler()

    def __call__(self, environ, start_response):
        signals.request_started.disconnect(close_old_connections)
        signals.request_finished.disconnect(close_old_connections)
        try:
            response = self.handler(environ, start_response)
            body = b"".join(response)
            response.close()
            return [body]
        finally:
            signals.request_started.connect(close_old_connections)
            signals.request_finished.connect(close_old_connections)


@pytest.fixture
def schema(db):
    """The document as the site serves it, its operations sent to the site's WSGI application."""
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", InTestTransaction())
    # Credentials are the real ones each request is sent with (below); the ignored_auth check sends
    # each operation without them and with made-up ones too.
    schema.config.generation.update(with_security_parameters=False)
    return schema


@pytest.fixture
def world(researcher, settings) -> Iterator[World]:
    """An open study with consent and a qualification, a researcher's token and a joined rater. The
    join and vote limits are raised for the run, and the counts it made (in the cache) forgotten after
    it, so the tests after it are not refused as too many joins from one address."""
    settings.JUICE_RATE_VOTE_PER_MINUTE = settings.JUICE_RATE_JOIN_PER_MINUTE = 10_000
    cache.clear()
    study = build_open_study(n_prompts=4, raters=3, copy_files=False, consent="I agree to take part.",
                             qualification=QUALIFICATION)
    world = World(study=study, token=api_token_create(user=researcher))
    world.join()
    yield world
    cache.clear()


def credentials(operation, world: World) -> tuple[dict[str, str], dict[str, str]]:
    """(headers, cookies) of the operation's credentials: the researcher's token, or the rater's cookies with the
    CSRF header."""
    schemes = {name for alternative in operation.definition.raw.get("security", []) for name in alternative}
    if "apiToken" in schemes:
        return {"Authorization": f"Token {world.token}"}, {}
    if "raterCookie" in schemes:
        return {"X-CSRFToken": world.csrf}, world.cookies()
    return {}, {}


@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_an_operation_answers_as_declared_whatever_it_is_sent(schema, world, path, method):
    operation = schema[path][method]
    real_names = {p["name"] for p in operation.definition.raw.get("parameters", []) if p["in"] == "path"}
    # A multipart form carries text only: a body made invalid with a null or a number where text goes is
    # sent as text a valid body could hold ("null"), so its acceptance proves nothing.
    form = "multipart/form-data" in operation.definition.raw.get("requestBody", {}).get("content", {})
    checks = [check for check in CHECKS if not (form and check is negative_data_rejection)]
    choices = st.sampled_from(["left", "right", "tie"])

    @seed(int(SEED or 0))
    @hypothesis_settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=SEED is None,
                         phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)),
           names=st.sampled_from(["generated", "real", "nul"]), ballot=st.builds(answer, st.just(world.study), choices), choice=choices,
           index=st.one_of(st.just(0), st.integers()), then_next=st.booleans())
    def fuzzed(case, names, ballot, choice, index, then_next):
        if names == "nul":  # a NUL, which PostgreSQL keeps in no text, where a name is looked up
            case.path_parameters = {name: "x\x00y" for name in real_names}
        if names == "real":
            if path.endswith("/qualification"):
                world.join()  # a rater whose practice pairs are still to answer
            for name in real_names:
                if (value := world.real(path, name)) is not None:
                    case.path_parameters[name] = value
            # A body the study may accept, the choice (a tie where it allows none) and the index drawn (the
            # new rater's pair to answer is 0).
            if path.endswith("/vote"):
                case.body = ballot
                case.query = {"next": "1"} if then_next else {}
            elif path.endswith("/qualification") and method == "POST":
                case.body = {"index": index, **{q: {"choice": choice} for q in world.study.questions}}
            elif path == "/api/studies" and isinstance(case.body, dict):  # the options fuzzed, the prompts and systems real
                case.body = {**case.body, "prompt_set": world.study.prompt_set.name, "pairs": [list(SYSTEM_NAMES[:2])]}
        headers, cookies = credentials(operation, world)
        response = case.call(headers=headers, cookies=cookies)
        answered[response.status_code] += 1
        # The cookies named as sent headers tell ignored_auth they are real credentials: it sends the
        # operation again without them, and with made-up ones, and expects a refusal.
        sent = {**headers, "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())} if cookies else headers
        case.validate_response(response, checks=checks, headers=sent)

    answered: Counter[int] = Counter()
    fuzzed()
    assert annotation_problems() == []
    # Not only refusals: the operations a rater or a reader reaches with real names did their work.
    if method == "GET" or path.startswith("/api/annotate/"):
        assert any(200 <= status < 300 for status in answered), answered


def test_the_invariant_check_names_what_is_broken(world):
    """The check after the fuzzing can fail: each corruption it looks for is named."""
    assert annotation_problems() == []
    token = world.assignment()
    live = Assignment.objects.get(token=token)
    Vote.objects.create(assignment=live, question="quality", choice="a", reasons=["no_such_reason"])
    Rater.objects.filter(pk=live.rater_id).update(votes_done=7)
    problems = annotation_problems()
    assert "a vote on an assignment that is not voted (live, expired, reported or practice)" in problems
    assert f"rater {live.rater_id}: votes_done 7 but 0 voted assignments" in problems
    assert any("gives reasons ['no_such_reason']" in problem for problem in problems)
