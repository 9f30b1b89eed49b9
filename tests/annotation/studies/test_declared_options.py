"""Every study option is declared once (annotation/options.py) and reaches, under its declared name or
a declared alias and with the same bounds, default and help: the creation page, `create_study`,
`POST /api/studies`, `GET /api/studies/<slug>`, the study page, the report's settings and the design
file. A value out of bounds is refused with the same message everywhere, and an option declared by a
test alone reaches the form, the command, the API and the report with no other code."""

from __future__ import annotations

import html
import io
import json
import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from annotation.management.commands.create_study import Command
from annotation.models import Study
from annotation.options import OPTIONS, Option, options_declared
from annotation.studies.forms import option_fields, study_form_class
from annotation.studies.schemas import study_spec_model
from juice.auth import api_token_create
from tests.support.builders import build_open_study

pytestmark = pytest.mark.django_db

PAIR = ["SecretModelX", "SecretModelY"]
# JSON Schema's names of pydantic's bounds.
SCHEMA_BOUNDS = {"ge": "minimum", "gt": "exclusiveMinimum", "le": "maximum", "lt": "exclusiveMaximum",
                 "max_length": "maxLength", "min_length": "minItems"}


def api_client(researcher) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Token {api_token_create(user=researcher)}")


def flags_by_dest() -> dict[str, object]:
    parser = Command().create_parser("manage.py", "create_study")
    return {action.dest: action for action in parser._actions}


def page_settings(page: str) -> dict[str, str]:
    table = page.split('id="settings"', 1)[1].split("</table>", 1)[0]
    return {html.unescape(k): html.unescape(v) for k, v in re.findall(r'<th scope="row">(.*?)</th><td>(.*?)</td>', table)}


def form_post(source: Study, name: str, **fields) -> dict:
    return {"name": name, "prompt_set": source.prompt_set.pk, "pairs": ", ".join(PAIR), "raters": "5",
            "questions": ["quality", "faithfulness"], **fields}


def out_of_bounds(declared: Option):
    """A value just past one of the option's numeric bounds, or None when it has none."""
    b = declared.bounds
    for key, step in (("ge", -1), ("gt", 0), ("le", 1), ("lt", 0)):
        if key in b:
            return b[key] + step * (1 if declared.kind == "int" else 0.5) if step else b[key]
    return None


@pytest.mark.parametrize("declared", OPTIONS, ids=lambda o: o.name)
def test_each_option_is_declared_once_with_the_same_help_default_and_bounds_everywhere(declared):
    schema = study_spec_model().model_json_schema()["properties"][declared.name]
    assert schema["description"] == declared.help
    assert schema.get("default") == declared.default
    for key, bound in declared.bounds.items():
        assert schema.get(SCHEMA_BOUNDS[key], next((s.get(SCHEMA_BOUNDS[key]) for s in schema.get("anyOf", []) if SCHEMA_BOUNDS[key] in s),
                                                   None)) == bound, key
    fields = option_fields(declared)
    form = study_form_class()()
    for name in fields:
        assert name in form.fields
    if declared.kind not in ("reasons", "parts"):
        field = form.fields[declared.name]
        assert (field.label, field.help_text) == (declared.title, declared.full_help)
        attrs = field.widget.attrs
        assert {k: attrs.get({"ge": "min", "gt": "min", "le": "max", "lt": "max", "max_length": "maxlength"}[k])
                for k in declared.bounds if k != "min_length"} == {k: v for k, v in declared.bounds.items() if k != "min_length"}
        flag = flags_by_dest()[declared.name]
        assert f"--{declared.name.replace('_', '-')}" in flag.option_strings
        assert {f"--{a.replace('_', '-')}" for a in declared.aliases} <= set(flag.option_strings)
        assert flag.help == declared.full_help.replace("%", "%%")


def test_every_option_reaches_the_api_the_study_page_the_report_and_the_design_file(researcher, researcher_client):
    source = build_open_study(n_prompts=2)
    api = api_client(researcher)
    body = {"name": "Walked study", "prompt_set": source.prompt_set.name, "pairs": [PAIR], "dynamic": True}
    response = api.post("/api/studies", json.dumps(body), content_type="application/json")
    assert response.status_code == 201, response.content
    study = Study.objects.get(name="Walked study")
    reported = api.get(f"/api/studies/{study.slug}").json()
    page = page_settings(researcher_client.get(f"/studies/{study.slug}").content.decode())
    report = api.get(f"/api/studies/{study.slug}/report").json()["study"]
    design = api.get(f"/api/studies/{study.slug}/design").json()
    for declared in OPTIONS:
        assert declared.output_name in reported, declared.name
        assert page[declared.title] == report[declared.title] == declared.words(declared.value(study)), declared.name
        if declared.design:
            assert design[declared.design] == reported[declared.output_name], declared.name
    # Defaults as declared (the seed and the code are drawn at random when left out).
    for declared in OPTIONS:
        drawn_or_given = ("seed", "completion_code", "dynamic", "matching", "reasons", "qualification")
        if declared.name not in drawn_or_given and declared.default is not None:
            assert reported[declared.output_name] == declared.default, declared.name


@pytest.mark.parametrize("declared", [o for o in OPTIONS if out_of_bounds(o) is not None], ids=lambda o: o.name)
def test_a_value_out_of_bounds_is_refused_with_the_same_message_everywhere(researcher, researcher_client, declared):
    source = build_open_study(n_prompts=1)
    value = out_of_bounds(declared)
    body = {"name": "Bad study", "prompt_set": source.prompt_set.name, "pairs": [PAIR], declared.name: value}
    response = api_client(researcher).post("/api/studies", json.dumps(body), content_type="application/json")
    assert response.status_code == 400
    message = response.json()["error"]
    assert message.startswith(f"{declared.name}: input should be")
    page = researcher_client.post("/studies/new", form_post(source, "Bad study", **{declared.name: value})).content.decode()
    assert html.escape(message, quote=True) in page or message in html.unescape(page)
    with pytest.raises(CommandError) as refused:
        call_command("create_study", "Bad study", "--prompt-set", source.prompt_set.name, "--pair", *PAIR,
                     f"--{declared.name.replace('_', '-')}", str(value), stdout=io.StringIO())
    assert str(refused.value) == message
    assert not Study.objects.filter(name="Bad study").exists()


PAY_LINE = Option("pay_line", "text", "", "What raters are paid, shown before the first item", group="crowd", column=None,
                  bounds={"max_length": 80}, rating=True)


def test_an_option_declared_by_a_test_alone_reaches_the_form_the_command_the_api_and_the_report(researcher, researcher_client):
    source = build_open_study(n_prompts=1)
    api = api_client(researcher)
    with options_declared(PAY_LINE):
        body = {"name": "API pay", "prompt_set": source.prompt_set.name, "pairs": [PAIR], "pay_line": "£9 an hour"}
        response = api.post("/api/studies", json.dumps(body), content_type="application/json")
        assert response.status_code == 201, response.content
        by_api = Study.objects.get(name="API pay")
        assert by_api.options["pay_line"] == "£9 an hour"
        assert api.get(f"/api/studies/{by_api.slug}").json()["pay_line"] == "£9 an hour"
        assert api.get(f"/api/studies/{by_api.slug}/report").json()["study"]["Pay line"] == "£9 an hour"

        form = researcher_client.get("/studies/new").content.decode()
        assert 'name="pay_line"' in form and "What raters are paid" in form
        created = researcher_client.post("/studies/new", form_post(source, "Page pay", pay_line="£10 an hour"))
        assert created.status_code == 302, created.content.decode()[:2000]
        assert Study.objects.get(name="Page pay").options["pay_line"] == "£10 an hour"

        call_command("create_study", "Command pay", "--prompt-set", source.prompt_set.name, "--pair", *PAIR,
                     "--pay-line", "£11 an hour", stdout=io.StringIO())
        by_command = Study.objects.get(name="Command pay")
        assert by_command.options["pay_line"] == "£11 an hour"
        assert page_settings(researcher_client.get(f"/studies/{by_command.slug}").content.decode())["Pay line"] == "£11 an hour"
        too_long = {**body, "name": "Long pay", "pay_line": "x" * 81}
        assert api.post("/api/studies", json.dumps(too_long), content_type="application/json").json()["error"] == (
            "pay_line: string should have at most 80 characters")
    # Gone with its declaration: the key is unknown again.
    refused = api.post("/api/studies", json.dumps({**body, "name": "After"}), content_type="application/json")
    assert refused.json()["error"] == "pay_line: unknown field"
