"""JSON answers and JSON input shared by every API: answers built through their output schema, errors
as `{"error": ...}` (ErrorOut), the one map from a service's refusals to HTTP statuses, bodies parsed by
a schema."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from juice.refusals import Conflict, Forbidden, Invalid, NotFound, RateLimited, Refused

Schema = TypeVar("Schema", bound=BaseModel)

# How many of a body's problems an error names; the rest are counted.
MAX_PROBLEMS = 3


# Each kind of refusal (juice/refusals.py) as the APIs answer it; the most specific kind a refusal is counts.
REFUSAL_STATUS: dict[type[Refused], int] = {Invalid: 400, Forbidden: 403, NotFound: 404, Conflict: 409, RateLimited: 429}
# Seconds a rate-limited client waits: the limits count per minute (juice/ratelimit.py).
RETRY_AFTER = 60


# The databases keep no NUL in text (PostgreSQL refuses it), and no one means to send one.
NUL_REFUSED = "text may not contain the NUL character (\\u0000)"


class InputError(Invalid):
    """Input that does not fit its schema; the message names each field and what is wrong with it."""


def client_address(request: HttpRequest) -> str:
    """The address of the client that sent `request`. Behind trusted proxies (JUICE_TRUSTED_PROXIES)
    it is the nearest address in X-Forwarded-For that is not one of them: each proxy appends the
    address it heard from, so hops before the first untrusted one may be forged by the client."""
    remote = request.META.get("REMOTE_ADDR", "")
    if not _trusted(remote):
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop):
            return hop
    return hops[0] if hops else remote


def _trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in settings.JUICE_TRUSTED_PROXIES)


# A moment as the answers have always written it (Python's isoformat, "+00:00"), declared as a date-time.
DateTimeText = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
# A figure in an answer: an integer stays an integer, a float a float (a float field would write 3 as 3.0).
Number = int | float


class ErrorOut(BaseModel):
    """Every refusal of the API: a message that says what was wrong (fields some errors add are named
    by their operation)."""

    model_config = ConfigDict(extra="allow")

    error: str


def api_answer(answer: BaseModel, *, status: int = 200, **options) -> JsonResponse:
    """`answer` as the JSON body, with exactly the fields it was given (one left out stays out), so what
    is sent is what its schema declares. `options` go to JsonResponse."""
    return JsonResponse(answer.model_dump(mode="json", exclude_unset=True), status=status, **options)


def api_error(status: int, message: str, **extra) -> JsonResponse:
    return api_answer(ErrorOut(error=message, **extra), status=status)


def refusal_status(refusal: Refused) -> int:
    """The HTTP status that answers `refusal`: that of its most specific kind."""
    return next(REFUSAL_STATUS[kind] for kind in type(refusal).__mro__ if kind in REFUSAL_STATUS)


def refusal_answer(refusal: Refused) -> JsonResponse:
    """`{"error": message}` with the refusal's status (and Retry-After when rate-limited)."""
    response = api_error(refusal_status(refusal), str(refusal))
    if isinstance(refusal, RateLimited):
        response["Retry-After"] = str(RETRY_AFTER)
    return response


def refusals_answered(view: Callable[..., Any]) -> Callable[..., Any]:
    """An API view whose services' refusals (and the view's own) are answered by `refusal_answer`."""

    @functools.wraps(view)
    def answered(request: HttpRequest, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except Refused as refusal:
            return refusal_answer(refusal)

    return answered


def input_parse(schema: type[Schema], data: bytes | str | dict | None, context: dict | None = None) -> Schema:
    """`data` (a JSON body, or an already decoded object) as `schema` (its validators given `context`);
    an InputError naming the fields otherwise."""
    try:
        if isinstance(data, bytes | str):
            parsed = schema.model_validate_json(data or b"null", context=context)
        else:
            parsed = schema.model_validate(data, context=context)
    except ValidationError as exc:
        raise InputError(validation_message(exc)) from None
    if (where := nul_at(parsed.model_dump())) is not None:
        raise InputError(f"{where or 'the body'}: {NUL_REFUSED}")
    return parsed


def form_text(request: HttpRequest, name: str) -> str:
    """The form field `name` of a (multipart) POST, '' when absent; an InputError when it holds a NUL."""
    value = request.POST.get(name, "")
    if "\x00" in value:
        raise InputError(f"{name}: {NUL_REFUSED}")
    return value


def nul_at(value: Any, where: str = "") -> str | None:
    """The dotted place of the first string (value or key) in `value` that holds a NUL character, or None."""
    if isinstance(value, str):
        return where if "\x00" in value else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list | tuple | set) else ()
    for key, item in items:
        place = f"{where}.{key}" if where else str(key)
        if isinstance(key, str) and "\x00" in key:
            return place
        if (found := nul_at(item, place)) is not None:
            return found
    return None


def validation_message(exc: ValidationError) -> str:
    """One line per problem, `field: what is wrong`, as pydantic found them."""
    problems = [problem_message(error) for error in exc.errors(include_url=False)]
    shown = "; ".join(dict.fromkeys(problems[:MAX_PROBLEMS]))
    more = len(problems) - MAX_PROBLEMS
    return shown + (f"; and {more} more" if more > 0 else "")


def problem_message(error: dict) -> str:
    """One of pydantic's errors as `field: what is wrong` (the API, the forms and the commands say the same)."""
    kind = error["type"]
    if kind == "json_invalid":
        return "the body is not valid JSON"
    field = ".".join(str(part) for part in error["loc"])
    if not field and kind == "value_error":  # a rule across fields, whose message names them
        return error["msg"].removeprefix("Value error, ")
    if not field:
        return "the body must be a JSON object"
    if kind == "extra_forbidden":
        return f"{field}: unknown field"
    if kind == "missing":
        return f"{field}: missing"
    if kind == "value_error":
        return f"{field}: {error['msg'].removeprefix('Value error, ')}"
    return f"{field}: {error['msg'][0].lower()}{error['msg'][1:]}"
