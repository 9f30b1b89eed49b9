"""What the API fuzz test (test_api_fuzz.py) found, each pinned by a request like the one that found it."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotation.models import Rater, Report, Study
from generation.models import PromptSet
from tests.support.builders import build_open_study, external_system
from tests.support.rating import join, next_item

pytestmark = pytest.mark.django_db


def test_text_with_a_nul_character_is_a_400_naming_the_field_not_a_500(api):
    """PostgreSQL keeps no NUL in text: a study named with one answered 500 (a DataError) before."""
    source = build_open_study(n_prompts=2)
    body = {"name": "bad\u0000name", "prompt_set": source.prompt_set.name, "pairs": [["SecretModelX", "SecretModelY"]]}
    response = api.post("/api/studies", json.dumps(body), content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"error": "name: text may not contain the NUL character (\\u0000)"}
    assert not Study.objects.filter(name__startswith="bad").exists()


def test_a_problem_report_with_a_nul_character_is_refused_and_keeps_the_assignment():
    study = build_open_study(n_prompts=2)
    rater = join(study, "W1")
    token = next_item(rater, study)["assignment"]
    body = {"problem": "other", "text": "it stops \u0000 here"}
    response = rater.post(f"/api/annotate/assignments/{token}/report", json.dumps(body), content_type="application/json")
    assert (response.status_code, response.json()) == (400, {"error": "text: text may not contain the NUL character (\\u0000)"})
    assert not Report.objects.exists()
    assert next_item(rater, study)["assignment"] == token


def test_a_nul_character_in_an_api_path_is_a_json_404_not_a_500(api):
    """Looking a name with a NUL up failed in PostgreSQL (a 500) on every operation with a path parameter."""
    study = build_open_study(n_prompts=2)
    rater = join(study, "W1")
    for url in ("/api/studies/a%00b", "/api/prompt-sets/a%00b", "/api/studies/a%00b/report"):
        response = api.get(url)
        assert (response.status_code, response.json()) == (404, {"error": "no such API address or object"}), url
    response = rater.post("/api/annotate/assignments/a%00b/vote", "{}", content_type="application/json")
    assert (response.status_code, response["Content-Type"]) == (404, "application/json")
    assert api.get("/studies/a%00b").status_code == 404  # pages too, as pages answer it


def test_a_nul_character_in_an_upload_form_field_is_a_400(api):
    upload = {"name": "bad\x00set", "file": SimpleUploadedFile("prompts.txt", b"a cat\na dog\n")}
    response = api.post("/api/prompt-sets", upload)
    assert (response.status_code, response.json()) == (400, {"error": "name: text may not contain the NUL character (\\u0000)"})
    assert not PromptSet.objects.exists()
    external_system("Ext")
    response = api.post("/api/systems/Ext/videos", {"prompt_set": "x\x00", "file": SimpleUploadedFile("v.zip", b"PK")})
    assert (response.status_code, response.json()) == (400, {"error": "prompt_set: text may not contain the NUL character (\\u0000)"})


@pytest.mark.parametrize(("key", "value", "error"), [
    ("name", "S" * 201, "name: string should have at most 200 characters"),
    ("lease_seconds", 10**15, "lease_seconds: input should be less than or equal to 2147483647"),
    ("attention_items", 2**31, "attention_items: input should be less than or equal to 2147483647"),
])
def test_a_study_option_its_column_cannot_hold_is_a_400_not_a_500(api, key, value, error):
    """A name over the column's 200 characters, or a number over PostgreSQL's integer, failed in the
    database (a 500) before: the declared bounds now say what the columns hold."""
    source = build_open_study(n_prompts=2)
    body = {"name": "Bounded", "prompt_set": source.prompt_set.name, "pairs": [["SecretModelX", "SecretModelY"]], key: value}
    response = api.post("/api/studies", json.dumps(body), content_type="application/json")
    assert (response.status_code, response.json()) == (400, {"error": error})
    assert Study.objects.count() == 1


@pytest.mark.parametrize("given", [{"quality": "left"}, {"quality": {"choice": "sideways"}}, {"quality": {"choice": ["left"]}}])
def test_a_qualification_answer_that_is_not_a_choice_is_a_400_not_a_mistake(given):
    """An answer of another shape than {"choice": "left"|"right"|"tie"} was recorded as a wrong answer
    (the document declared any value): the rater lost a practice pair to a broken client."""
    study = build_open_study(n_prompts=3, qualification={"items": [
        {"prompt": "p0001", "pair": ["SecretModelX", "SecretModelY"], "answers": {"quality": "SecretModelX"}}]})
    rater = join(study, "W1")
    url = f"/api/annotate/{study.slug}/qualification"
    response = rater.post(url, json.dumps({"index": 0, **given}), content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"].startswith("quality")
    assert Rater.objects.get().qualification == []
    assert rater.get(url).json()["pair"]["index"] == 0
