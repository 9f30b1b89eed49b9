"""`/api/openapi.json`: a valid OpenAPI 3.1 document of every JSON operation the URL map serves, each
with its input and output schemas, and the API's real answers match the schemas it declares."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.http import JsonResponse
from django.test import Client
from django.urls import URLResolver, get_resolver, path, reverse
from django.urls.converters import IntConverter
from openapi_spec_validator import validate

from annotation.models import Study
from juice.auth import api_token_create
from juice.openapi import openapi_document
from tests.support.builders import build_open_study
from tests.support.raters import answer
from tests.support.rating import join, next_item, vote

pytestmark = pytest.mark.django_db

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# The POST operations that take no body: the rater's consent is the request itself.
WITHOUT_BODY = {("/api/annotate/{slug}/consent", "post"), ("/api/studies/{slug}/report", "post")}


def undeclared_view(request):
    return JsonResponse({})


# An API path whose view declares no operation (used with ROOT_URLCONF pointing here).
urlpatterns = [path("api/undeclared", undeclared_view)]


def api_patterns(resolver: URLResolver | None = None, prefix: str = "") -> list[tuple[str, object]]:
    """(route, pattern) for every route of the URL map under `api/`, read from Django's resolver."""
    found = []
    for entry in (resolver or get_resolver()).url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            found += api_patterns(entry, route)
        elif route.startswith("api/"):
            found.append((route, entry))
    return found


def example_url(route: str, pattern) -> str:
    """The route with each parameter filled in (1 for an integer, `x` otherwise)."""
    converters = pattern.pattern.converters

    def value(match: re.Match) -> str:
        return "1" if isinstance(converters[match[1]], IntConverter) else "x"

    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", value, route)


@pytest.fixture
def document() -> dict:
    response = Client().get("/api/openapi.json")  # no login: it describes the API and holds no data
    assert response.status_code == 200
    return response.json()


@pytest.fixture
def api(researcher) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Token {api_token_create(user=researcher)}")


def assert_answer_declared(document: dict, path: str, method: str, response) -> None:
    """The response's JSON validates against the schema its operation declares for its status."""
    responses = document["paths"][path][method]["responses"]
    declared = responses[str(response.status_code)]
    schema = declared["content"]["application/json"]["schema"]
    jsonschema.validate(response.json(), {**schema, "components": document["components"]},
                        cls=jsonschema.Draft202012Validator)


def test_the_document_is_valid_openapi_3_1(document):
    assert document["openapi"].startswith("3.1")
    validate(document)  # openapi-spec-validator picks the 3.1 validator from the `openapi` field


def test_it_describes_every_api_path_with_every_method_it_answers(document, api):
    routes = api_patterns()
    assert {"/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route) for route, _ in routes} == set(document["paths"])
    for route, pattern in routes:
        url = example_url(route, pattern)
        # A method the view does not answer is refused with 405 before anything else it checks.
        answered = {m for m in METHODS if api.generic(m, url, "", content_type="application/json").status_code != 405}
        described = document["paths"]["/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)]
        assert {m.lower() for m in answered} == set(described), url


def test_every_operation_has_its_input_and_output_schemas(document):
    schemas = document["components"]["schemas"]

    def resolved(content: dict) -> dict:
        (media,) = content.values()
        return schemas[media["schema"]["$ref"].removeprefix("#/components/schemas/")]

    for path_, operations in document["paths"].items():
        for method, operation in operations.items():
            successes = {status: r for status, r in operation["responses"].items() if status.startswith("2")}
            assert successes, (path_, method)
            for declared in operation["responses"].values():
                assert resolved(declared["content"])
            if method == "post" and (path_, method) not in WITHOUT_BODY:
                assert resolved(operation["requestBody"]["content"])["properties"], (path_, method)
            assert {p["name"] for p in operation["parameters"] if p["in"] == "path"} == set(re.findall(r"{(\w+)}", path_))


def test_a_path_without_a_declaration_stops_the_document(settings):
    settings.ROOT_URLCONF = __name__
    with pytest.raises(ImproperlyConfigured, match="/api/undeclared is an API path without @api_operation"):
        openapi_document.__wrapped__()


def test_real_answers_match_their_declared_schemas(document, api):
    study = build_open_study(n_prompts=3, raters=2, dynamic=True, early_stop=True)
    rater = join(study, "W1")
    offered = next_item(rater, study)
    assert_answer_declared(document, "/api/annotate/{slug}/next", "get", rater.get(f"/api/annotate/{study.slug}/next"))
    path_ = "/api/annotate/assignments/{token}/vote"
    refused = vote(rater, offered["assignment"], {"quality": {"choice": "sideways", "reasons": []}})
    assert refused.status_code == 400
    assert_answer_declared(document, path_, "post", refused)
    voted = vote(rater, offered["assignment"], answer(study), then_next=True)
    assert voted.status_code == 201
    assert voted.json()["next"]["assignment"]
    assert_answer_declared(document, path_, "post", voted)
    plain = vote(rater, voted.json()["next"]["assignment"], answer(study))
    assert plain.json() == {"ok": True}
    assert_answer_declared(document, path_, "post", plain)

    detail = api.get(f"/api/studies/{study.slug}")
    assert detail.status_code == 200
    assert detail.json()["raters"][0]["votes"] == 2
    assert_answer_declared(document, "/api/studies/{slug}", "get", detail)
    missing = api.get("/api/studies/nosuchstudy")
    assert missing.status_code == 404
    assert_answer_declared(document, "/api/studies/{slug}", "get", missing)


def test_a_created_study_answers_as_declared(document, api):
    source = build_open_study(n_prompts=2)
    body = {"name": "Declared", "prompt_set": source.prompt_set.name, "pairs": [["SecretModelX", "SecretModelY"]], "raters": 3}
    created = api.post("/api/studies", json.dumps(body), content_type="application/json")
    assert created.status_code == 201, created.content
    assert_answer_declared(document, "/api/studies", "post", created)
    assert Study.objects.filter(name="Declared").exists()
    refused = api.post("/api/studies", json.dumps({**body, "raters": 0}), content_type="application/json")
    assert refused.status_code == 400
    assert_answer_declared(document, "/api/studies", "post", refused)


def test_the_api_tokens_page_links_to_the_document(researcher_client):
    page = researcher_client.get(reverse("api-tokens")).content.decode()
    assert f'href="{reverse("api-openapi")}"' in page


def test_every_status_an_operation_may_answer_is_declared_with_its_schema(document):
    """No catch-all `default`: a client (and the fuzz test's status check, test_api_fuzz.py) knows every answer."""
    for path_, operations in document["paths"].items():
        for method, operation in operations.items():
            statuses = set(operation["responses"])
            assert "default" not in statuses, (path_, method)
            assert {"413", "500", "503"} <= statuses, (path_, method)
            if "{" in path_:
                assert "404" in statuses, (path_, method)
            if any(alternative for alternative in operation["security"]):
                assert "403" in statuses, (path_, method)
            for status in ("429", "503"):
                if status in statuses:
                    assert operation["responses"][status]["headers"]["Retry-After"]["required"], (path_, method)
    vote = document["paths"]["/api/annotate/assignments/{token}/vote"]["post"]["responses"]
    assert "CSRF" in vote["403"]["description"]
    assert "429" in vote
