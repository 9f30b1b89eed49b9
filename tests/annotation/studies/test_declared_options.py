"""Every study option is declared once (annotation/options.py) and reaches, under its declared name or
a declared alias and with the same bounds, default and help: the creation page, `create_study`,
`POST /api/studies`, `GET /api/studies/<slug>`, the study page, the report's settings and the design
file. A value out of bounds is refused with the same message everywhere, and an option declared by a
test alone reaches the form, the command, the API and the report with no other code."""

from __future__ import annotations

import html
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from annotation.management.commands.create_study import Command
from annotation.models import Study
from annotation.options import MATCHING_PARTS, OPTIONS, Option, options_declared
from annotation.studies.forms import study_form_class
from annotation.studies.schemas import study_spec_model
from generation.matching.policy import POLICY_HELP
from tests.support.builders import build_open_study
from tests.support.reports import report_computed
from tests.support.researcher import api_client, page_settings

pytestmark = pytest.mark.django_db

PAIR = ["SecretModelX", "SecretModelY"]
# JSON Schema's names of pydantic's bounds.
SCHEMA_BOUNDS = {"ge": "minimum", "gt": "exclusiveMinimum", "le": "maximum", "lt": "exclusiveMaximum",
                 "max_length": "maxLength", "min_length": "minItems"}


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def flags_by_dest() -> dict[str, object]:
    parser = Command().create_parser("manage.py", "create_study")
    return {action.dest: action for action in parser._actions}


def form_post(source: Study, name: str, **fields) -> dict:
    return {"name": name, "prompt_set": source.prompt_set.pk, "pairs": ", ".join(PAIR), "raters": "5",
            "questions": ["quality", "faithfulness"], **fields}


def schema_bound(schema: dict, key: str):
    """A bound of a property, also where it is nullable (the bound sits in one branch of anyOf)."""
    return schema.get(key, next((s[key] for s in schema.get("anyOf", []) if key in s), None))


def bad_value(declared: Option):
    """A value just outside the option's declared bounds or pattern, or None when nothing can be."""
    b = declared.bounds
    if declared.pattern:
        return "ftp://example.org"
    if "min_length" in b:
        return []
    if "max_length" in b:
        return "x" * (b["max_length"] + 1)
    for key, step in (("ge", -1), ("le", 1)):
        if key in b:
            return b[key] + step * (1 if declared.kind == "int" else 0.5)
    for key in ("gt", "lt"):
        if key in b:
            return b[key]
    return None


@pytest.mark.parametrize("declared", OPTIONS, ids=lambda o: o.name)
def test_each_option_is_declared_once_with_the_same_help_default_and_bounds_everywhere(declared):
    schema = study_spec_model().model_json_schema()["properties"][declared.name]
    assert (schema["description"], schema.get("default")) == (declared.help, declared.default)
    for key, bound in declared.bounds.items():
        assert schema_bound(schema, SCHEMA_BOUNDS[key]) == bound, key
    form, flags = study_form_class()(), flags_by_dest()
    if declared.kind == "parts":  # the matching policy: a field and a flag per setting, with the policy's help
        for part in MATCHING_PARTS:
            assert form.fields[f"{declared.name}_{part}"].help_text == flags[f"{declared.name}_{part}"].help == POLICY_HELP[part]
            assert flag(part) in flags[f"{declared.name}_{part}"].option_strings
        return
    if declared.kind == "reasons":  # a field per question on the page, one JSON file on the command line
        assert {"quality_reasons", "faithfulness_reasons"} <= set(form.fields)
    else:
        field = form.fields[declared.name]
        assert (field.label, field.help_text) == (declared.title, declared.full_help)
        assert declared.range_words in field.help_text
    action = flags[declared.name]
    assert {flag(declared.name), *(flag(a) for a in declared.aliases)} <= set(action.option_strings)
    assert action.help == declared.full_help


@pytest.mark.parametrize("way", ["page", "command", "api"])
def test_every_option_reaches_the_api_the_study_page_the_report_and_the_design_file(researcher, researcher_client, way):
    source = build_open_study(n_prompts=2)
    api = api_client(researcher)
    if way == "page":
        assert researcher_client.post("/studies/new", form_post(source, "Walked", dynamic="on")).status_code == 302
    elif way == "command":
        call_command("create_study", "Walked", "--prompt-set", source.prompt_set.name, "--pair", *PAIR, "--dynamic", stdout=io.StringIO())
    else:
        body = {"name": "Walked", "prompt_set": source.prompt_set.name, "pairs": [PAIR], "dynamic": True}
        assert api.post("/api/studies", body, content_type="application/json").status_code == 201
    study = Study.objects.get(name="Walked")
    reported = api.get(f"/api/studies/{study.slug}").json()
    page = page_settings(researcher_client.get(f"/studies/{study.slug}").content.decode())
    report_computed(study)
    report = api.get(f"/api/studies/{study.slug}/report").json()["study"]
    shared = researcher_client.get(f"/studies/{study.slug}/report.html").content.decode()
    design = api.get(f"/api/studies/{study.slug}/design").json()
    for declared in OPTIONS:
        value = declared.value(study)
        assert reported[declared.output_name] == value, declared.name
        assert page[declared.title] == declared.words(value), declared.name
        # The report, which researchers share, carries every option but the private ones.
        assert (declared.output_name in report) == (not declared.private), declared.name
        assert (f"<dt>{html.escape(declared.title)}</dt>" in shared) == (not declared.private), declared.name
        if declared.design:
            assert design[declared.design] == value, declared.name
        # Defaults as declared (the seed and the completion code are drawn at random when left out).
        if declared.name not in ("seed", "completion_code", "dynamic", "matching", "reasons", "qualification", "questions", "sample_unit"):
            assert value == declared.default, declared.name


@pytest.mark.parametrize("declared", [o for o in OPTIONS if bad_value(o) is not None], ids=lambda o: o.name)
def test_a_value_out_of_bounds_is_refused_with_the_same_message_everywhere(researcher, researcher_client, declared):
    source = build_open_study(n_prompts=1)
    value = bad_value(declared)
    body = {"name": "Bad study", "prompt_set": source.prompt_set.name, "pairs": [PAIR], declared.name: value}
    response = api_client(researcher).post("/api/studies", body, content_type="application/json")
    assert response.status_code == 400
    message = response.json()["error"]
    assert message.startswith(f"{declared.name}: ")
    page = researcher_client.post("/studies/new", form_post(source, "Bad study", **{declared.name: value})).content.decode()
    assert html.escape(message) in page
    given = ",".join(value) if isinstance(value, list) else str(value)
    with pytest.raises(CommandError) as refused:
        call_command("create_study", "Bad study", "--prompt-set", source.prompt_set.name, "--pair", *PAIR,
                     flag(declared.name), given, stdout=io.StringIO())
    assert str(refused.value) == message
    assert not Study.objects.filter(name="Bad study").exists()


def test_the_page_shows_the_options_errors_with_its_own_and_takes_the_apis_names(researcher_client):
    source = build_open_study(n_prompts=1)
    page = researcher_client.post("/studies/new", form_post(source, "", raters="0")).content.decode()
    assert "This field is required." in page and html.escape("raters: input should be greater than or equal to 1") in page
    # The API output's name of an option works on the page too.
    fields = {k: v for k, v in form_post(source, "By alias").items() if k != "raters"}
    assert researcher_client.post("/studies/new", {**fields, "raters_per_item": "3"}).status_code == 302
    assert Study.objects.get(name="By alias").raters_per_item == 3


def test_the_command_says_which_invited_account_does_not_exist(researcher):
    source = build_open_study(n_prompts=1)
    with pytest.raises(CommandError, match="ghost"):
        call_command("create_study", "Invited", "--prompt-set", source.prompt_set.name, "--pair", *PAIR, "--invite", "ghost",
                     stdout=io.StringIO())
    call_command("create_study", "Invited", "--prompt-set", source.prompt_set.name, "--pair", *PAIR, "--invite", researcher.username,
                 "--completion-code", "", stdout=io.StringIO())
    study = Study.objects.get(name="Invited")
    assert list(study.invited.all()) == [researcher]
    assert len(study.completion_code) >= 6  # blank: one is drawn, as the help says


PAY_LINE = Option("pay_line", "text", "", "What raters are paid, shown before the first item", group="crowd", column=None,
                  bounds={"max_length": 80}, rating=True, design="pay_line")


def test_an_option_declared_by_a_test_alone_reaches_the_form_the_command_the_api_and_the_report(researcher, researcher_client):
    source = build_open_study(n_prompts=1)
    api = api_client(researcher)
    with options_declared(PAY_LINE):
        body = {"name": "API pay", "prompt_set": source.prompt_set.name, "pairs": [PAIR], "pay_line": "£9 an hour"}
        response = api.post("/api/studies", body, content_type="application/json")
        assert response.status_code == 201, response.content
        by_api = Study.objects.get(name="API pay")
        assert by_api.options["pay_line"] == "£9 an hour"
        assert api.get(f"/api/studies/{by_api.slug}").json()["pay_line"] == "£9 an hour"
        report_computed(by_api)
        assert api.get(f"/api/studies/{by_api.slug}/report").json()["study"]["pay_line"] == "£9 an hour"
        assert api.get(f"/api/studies/{by_api.slug}/design").json()["pay_line"] == "£9 an hour"

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
        assert api.post("/api/studies", too_long, content_type="application/json").json()["error"] == (
            "pay_line: string should have at most 80 characters")
    # Gone with its declaration: the key is unknown again.
    refused = api.post("/api/studies", {**body, "name": "After"}, content_type="application/json")
    assert refused.json()["error"] == "pay_line: unknown field"
