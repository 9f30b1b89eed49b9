"""The JSON API described by its schemas: each API view declares the operations it serves with
`@api_operation` (method, summary, input schema, output schema per status, who may call it), and
the OpenAPI 3.1 document served at `GET /api/openapi.json` is generated from those declarations and
the URL map, so clients can be generated and the API fuzzed with standard tools.

A path of the URL map under `api/` without a declaration stops the document: every operation is
described or none is served (tests/juice/test_openapi.py checks the methods each view answers).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.converters import IntConverter
from django.views.decorators.http import require_GET
from pydantic import BaseModel, ConfigDict
from pydantic.json_schema import models_json_schema

from juice.http import ErrorOut, api_answer

REF_TEMPLATE = "#/components/schemas/{model}"
JSON = "application/json"
FORM = "multipart/form-data"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


@dataclass(frozen=True)
class Credential:
    """One way a client proves who it is, as an OpenAPI security scheme. Sent as a cookie, it needs the
    CSRF header too on unsafe methods (the browser sends cookies to forged requests as well)."""

    name: str
    scheme: dict = field(compare=False)

    @property
    def cookie(self) -> bool:
        return self.scheme.get("in") == "cookie"


API_TOKEN = Credential("apiToken", {
    "type": "apiKey", "in": "header", "name": "Authorization",
    "description": "`Token <key>`: a researcher's API token, made on the API tokens page (/tokens/) or by "
                   "`manage.py create_api_token`. Token requests carry no cookie and need no CSRF header.",
})
RESEARCHER_SESSION = Credential("researcherSession", {
    "type": "apiKey", "in": "cookie", "name": settings.SESSION_COOKIE_NAME,
    "description": "a researcher logged in on the site (/login/), as the pages call the API",
})
CSRF = Credential("csrfToken", {
    "type": "apiKey", "in": "header", "name": "X-CSRFToken",
    "description": f"the value of the `{settings.CSRF_COOKIE_NAME}` cookie; needed beside a cookie on unsafe methods",
})
# The researchers' API: a token, or a researcher's logged-in session.
RESEARCHER = (API_TOKEN, RESEARCHER_SESSION)
# Why a researcher's call may be refused before the view runs (juice/auth.py's token_required).
RESEARCHER_ERRORS = {401: "no token, a malformed Authorization header, or an unknown or revoked token",
                     403: "the token's or the session's user is not a researcher, or a session request failed the CSRF check"}
# What any operation may answer besides its own answers, each an ErrorOut (juice/errors.py, juice/middleware.py):
# every status is declared, so a client (and the fuzz test, tests/juice/test_api_fuzz.py) knows each answer's schema.
COMMON_ERRORS = {413: "the request's body is larger than the site accepts (JUICE_MAX_UPLOAD_BYTES)",
                 500: "an internal error (it has been logged)",
                 503: "the database cannot be reached just now (a restart?); Retry-After says when to ask again"}
# The refusals that say when to ask again (juice/http.py's refusal_answer, juice/errors.py's server_error).
RETRY_AFTER = {429, 503}
RETRY_AFTER_HEADER = {"description": "seconds to wait before asking again", "required": True,
                      "schema": {"type": "string", "pattern": "^[0-9]+$"}}
# An operation with path parameters: one that names nothing, or that no route of the API reads as such.
PATH_ERRORS = {404: "no such object (or no API address of that shape)"}
# A cookie credential on an unsafe method: the CSRF check comes first (juice/errors.py's csrf_failure).
CSRF_ERRORS = {403: "the request failed the CSRF check (send the csrftoken cookie's value in X-CSRFToken)"}


@dataclass(frozen=True)
class Operation:
    """One method of an API path, as `api_operation` declares it."""

    method: str
    summary: str
    answers: Mapping[int, type[BaseModel]]
    errors: Mapping[int, str]
    body: type[BaseModel] | None
    media: str
    auth: tuple[Credential, ...]
    query: Mapping[str, str]
    description: str = ""


def api_operation(method: str, *, summary: str, answers: Mapping[int, type[BaseModel]], errors: Mapping[int, str] | None = None,
                  body: type[BaseModel] | None = None, form: type[BaseModel] | None = None,
                  auth: tuple[Credential, ...] = RESEARCHER, query: Mapping[str, str] | None = None,
                  description: str = "") -> Callable:
    """Declare that the decorated API view serves `method`: its JSON `body` (or multipart `form`) schema,
    its answers (status: output schema) and its refusals (status: when; answered as ErrorOut), the
    credentials it accepts (any one of `auth`; none for a public operation) and its optional query
    parameters (name: what it does). Stack one per method."""
    operation = Operation(method=method, summary=summary, answers=dict(answers), errors=dict(errors or {}),
                          body=body or form, media=FORM if form else JSON, auth=auth, query=dict(query or {}),
                          description=description)

    def declare(view: Callable) -> Callable:
        view.api_operations = {**getattr(view, "api_operations", {}), method: operation}
        return view

    return declare


def api_routes(resolver: URLResolver | None = None, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    """Every (route, pattern) of the URL map whose route starts with `api/`, in the map's order."""
    for entry in (resolver or get_resolver()).url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from api_routes(entry, route)
        elif route.startswith("api/"):
            yield route, entry


def _parameters(pattern: URLPattern, operation: Operation) -> list[dict]:
    """The path's parameters (as its converters read them), then the operation's query parameters."""
    path = [
        {"name": name, "in": "path", "required": True,
         "schema": {"type": "integer"} if isinstance(converter, IntConverter) else {"type": "string"}}
        for name, converter in pattern.pattern.converters.items()
    ]
    return path + [{"name": name, "in": "query", "required": False, "description": what, "schema": {"type": "string"}}
                   for name, what in operation.query.items()]


def _security(operation: Operation) -> list[dict]:
    """The alternatives of the operation's credentials, each with the CSRF header where it is a cookie on an unsafe method."""
    return [
        {credential.name: [], **({CSRF.name: []} if credential.cookie and operation.method in UNSAFE else {})}
        for credential in operation.auth
    ]


def _content(model: type[BaseModel], refs: dict, mode: str, media: str = JSON) -> dict:
    return {media: {"schema": refs[model, mode]}}


def _responses(operation: Operation, pattern: URLPattern, refs: dict) -> dict:
    """Each status the operation may answer, with its schema: its answers, then its refusals (its own, its
    credentials', its path parameters', and those of any operation), each an ErrorOut."""
    responses = {
        str(status): {"description": " ".join((model.__doc__ or HTTPStatus(status).phrase).split()),
                      "content": _content(model, refs, "serialization")}
        for status, model in operation.answers.items()
    }
    cookie = any(c.cookie for c in operation.auth) and operation.method in UNSAFE
    # Each reason a status may have is said; the generic ones only where nothing more precise is.
    own = (operation.errors, RESEARCHER_ERRORS if operation.auth == RESEARCHER else {},
           CSRF_ERRORS if cookie and operation.auth != RESEARCHER else {})
    generic = (PATH_ERRORS if pattern.pattern.converters else {}, COMMON_ERRORS)
    errors: dict[int, list[str]] = {}
    for status, when in (item for declared in own for item in declared.items()):
        errors.setdefault(status, []).append(when)
    for status, when in (item for declared in generic for item in declared.items()):
        errors.setdefault(status, [when])
    for status, whens in sorted(errors.items()):
        responses[str(status)] = {"description": "; or ".join(whens), "content": _content(ErrorOut, refs, "serialization")}
        if status in RETRY_AFTER:
            responses[str(status)]["headers"] = {"Retry-After": RETRY_AFTER_HEADER}
    return responses


def _operation_object(route: str, pattern: URLPattern, operation: Operation, refs: dict) -> dict:
    view = pattern.callback
    several = len(view.api_operations) > 1
    described = {
        "operationId": view.__name__ + (f"_{operation.method.lower()}" if several else ""),
        "summary": operation.summary,
        "tags": [route.split("/")[1].removesuffix(".json")],
        "security": _security(operation),
        "parameters": _parameters(pattern, operation),
        "responses": _responses(operation, pattern, refs),
    }
    if operation.description:
        described["description"] = operation.description
    if operation.body is not None:
        described["requestBody"] = {"required": True, "content": _content(operation.body, refs, "validation", operation.media)}
    return described


def _declared(routes: list[tuple[str, URLPattern]]) -> list[tuple[str, URLPattern, Operation]]:
    """Each (route, pattern, operation) its view declares; an API path without a declaration is an error."""
    declared = []
    for route, pattern in routes:
        operations = getattr(pattern.callback, "api_operations", None)
        if not operations:
            raise ImproperlyConfigured(f"/{route} is an API path without @api_operation on its view {pattern.lookup_str}")
        declared += [(route, pattern, op) for op in operations.values()]
    return declared


@functools.cache
def openapi_document() -> dict:
    """The OpenAPI 3.1 document of every operation under `/api/` (the URL map does not change while the site runs)."""
    declared = _declared(list(api_routes()))
    wanted = {(ErrorOut, "serialization")}
    for _route, _pattern, op in declared:
        wanted |= {(model, "serialization") for model in op.answers.values()}
        if op.body is not None:
            wanted.add((op.body, "validation"))
    refs, definitions = models_json_schema(sorted(wanted, key=lambda w: (w[0].__name__, w[1])), ref_template=REF_TEMPLATE)
    paths: dict[str, dict] = {}
    for route, pattern, op in declared:
        path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
        paths.setdefault(path, {})[op.method.lower()] = _operation_object(route, pattern, op, refs)
    return {
        "openapi": "3.1.0",
        "info": {"title": "JUICE", "version": "1",
                 "description": "The JSON API of JUICE: researchers' prompt sets, systems, studies and reports, "
                                "and the annotators' next item, vote, report, consent and qualification."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {c.name: c.scheme for c in (API_TOKEN, RESEARCHER_SESSION, CSRF, *_credentials(declared))},
        },
    }


def _credentials(declared: list) -> list[Credential]:
    """The credentials the operations accept beyond the researchers' (the annotators' cookie)."""
    return list(dict.fromkeys(c for *_, op in declared for c in op.auth if c not in RESEARCHER))


class OpenApiDocument(BaseModel):
    """The OpenAPI 3.1 document of this API."""

    model_config = ConfigDict(extra="allow")

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]
    components: dict[str, Any]


@api_operation("GET", summary="This document: every JSON operation with its input and output schemas",
               answers={200: OpenApiDocument}, auth=())
@require_GET
def openapi_json(request: HttpRequest) -> JsonResponse:
    """`GET /api/openapi.json`: public, as it describes the API and holds no data."""
    return api_answer(OpenApiDocument.model_validate(openapi_document()))
