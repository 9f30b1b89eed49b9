"""A study's crowd options (CONTRACT.md, "Study options"): the JSON API, the creation page and the
`create_study` command accept the same names, store them on the study, and refuse bad values."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from annotation.models import Study
from tests.support.builders import build_open_study
from tests.support.researcher import api_client, page_settings

pytestmark = pytest.mark.django_db

QUALIFICATION = {
    "items": [{"prompt": "p0001", "pair": ["SecretModelX", "SecretModelY"], "answers": {"quality": "SecretModelX"}}],
    "mistakes_allowed": 1,
}
OPTIONS = {
    "instructions": "# Watch both\nPick the *better* one.",
    "consent": "I agree to take part.",
    "qualification": QUALIFICATION,
    "min_watch_ms": 3000,
    "completion_url": "https://app.prolific.com/submissions/complete?cc={code}",
    "screenout_url": "https://app.prolific.com/submissions/complete?cc=SCREENED",
    "signed_links": True,
    "early_stop": True,
    "dynamic": True,
    "dynamic_alpha": 0.1,
    "dynamic_ranking": True,
    "seed": 42,
}


def stored_options(study: Study) -> dict:
    return {key: getattr(study, key) for key in OPTIONS}


def test_the_api_stores_every_crowd_option_and_reports_it(researcher):
    source = build_open_study(n_prompts=2)
    api = api_client(researcher)
    body = {"name": "Crowd study", "prompt_set": source.prompt_set.name, "pairs": [["SecretModelX", "SecretModelY"]], **OPTIONS}
    response = api.post("/api/studies", json.dumps(body), content_type="application/json")
    assert response.status_code == 201, response.content
    study = Study.objects.get(name="Crowd study")
    assert stored_options(study) == OPTIONS
    reported = api.get(f"/api/studies/{study.slug}").json()
    assert {key: reported[key] for key in OPTIONS} == OPTIONS
    # A dynamic study reports where its pairs stand: open, as no item has finished; nothing saved yet.
    assert reported["pair_states"] == [{"pair": ["SecretModelX", "SecretModelY"], "status": "open", "settled_at": None, "reason": ""}]
    assert reported["votes_saved"] == {"full": 10, "spent": 0, "saved_pairs": 0, "saved_items": 0, "saved": 0, "saved_share": 0.0}
    researcher_client = Client()
    researcher_client.force_login(researcher)
    page = researcher_client.get(f"/studies/{study.slug}").content.decode()
    settings = page_settings(page)
    assert (settings["Qualification"], settings["Early stopping"]) == ("1 pair(s), 1 mistake(s) allowed", "yes")
    assert (settings["Dynamic evaluation"], settings["Dynamic alpha"], settings["Dynamic ranking"]) == ("yes", "0.1", "yes")
    assert 'id="pairs"' in page


def test_without_options_a_study_behaves_as_before(researcher):
    source = build_open_study(n_prompts=1)
    body = {"name": "Plain study", "prompt_set": source.prompt_set.name, "pairs": [["SecretModelX", "SecretModelY"]]}
    assert api_client(researcher).post("/api/studies", json.dumps(body), content_type="application/json").status_code == 201
    study = Study.objects.get(name="Plain study")
    assert (study.consent, study.qualification, study.min_watch_ms, study.completion_url, study.screenout_url) == ("", {}, 0, "", "")
    assert (study.signed_links, study.early_stop) == (False, False)
    assert (study.dynamic, study.dynamic_alpha, study.dynamic_ranking) == (False, 0.05, False)
    # Each study has its own secret for signed links, and its own seed.
    assert len(study.link_secret) == 64 and study.link_secret != source.link_secret


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"min_watch_ms": -1}, "min_watch_ms: input should be greater than or equal to 0"),
        ({"completion_url": "javascript:alert(1)"}, "completion_url: enter a web address starting with http://"),
        ({"signed_links": "yes"}, "signed_links: input should be a valid boolean"),
        ({"dynamic": "yes"}, "dynamic: input should be a valid boolean"),
        ({"dynamic_ranking": 1}, "dynamic_ranking: input should be a valid boolean"),
        ({"dynamic_alpha": 0}, "dynamic_alpha: input should be greater than 0"),
        ({"dynamic_alpha": 0.6}, "dynamic_alpha: input should be less than or equal to 0.5"),
        ({"dynamic_alpha": "0.05"}, "dynamic_alpha: input should be a valid number"),
        ({"qualification": {"items": []}}, "qualification.items: list should have at least 1 item"),
        ({"qualification": {**QUALIFICATION, "items": [{**QUALIFICATION["items"][0], "prompt": "p9999"}]}},
         "qualification item 1: no prompt 'p9999'"),
        ({"qualification": {**QUALIFICATION, "items": [{**QUALIFICATION["items"][0], "pair": ["SecretModelX", "Nope"]}]}},
         "qualification item 1: pair 1: no system named 'Nope'"),
        ({"qualification": {**QUALIFICATION, "items": [{**QUALIFICATION["items"][0], "answers": {"quality": "left"}}]}},
         "qualification item 1: the answer to 'quality' must be 'SecretModelX' or 'SecretModelY'"),
        ({"questions": ["faithfulness"], "qualification": QUALIFICATION}, "qualification item 1: the study does not ask 'quality'"),
    ],
)
def test_the_api_refuses_bad_options_with_400(researcher, options, message):
    source = build_open_study(n_prompts=1)
    body = {"name": "Crowd study", "prompt_set": source.prompt_set.name, "pairs": [["SecretModelX", "SecretModelY"]], **options}
    response = api_client(researcher).post("/api/studies", json.dumps(body), content_type="application/json")
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert not Study.objects.filter(name="Crowd study").exists()


def test_the_command_takes_the_same_options_with_dashes(tmp_path):
    source = build_open_study(n_prompts=2)
    (tmp_path / "instructions.md").write_text(OPTIONS["instructions"])
    (tmp_path / "consent.txt").write_text(OPTIONS["consent"])
    (tmp_path / "qualification.json").write_text(json.dumps(QUALIFICATION))
    call_command(
        "create_study", "Command study", "--prompt-set", source.prompt_set.name, "--pair", "SecretModelX", "SecretModelY",
        "--instructions", str(tmp_path / "instructions.md"), "--consent", str(tmp_path / "consent.txt"),
        "--qualification", str(tmp_path / "qualification.json"), "--min-watch-ms", "3000",
        "--completion-url", OPTIONS["completion_url"], "--screenout-url", OPTIONS["screenout_url"],
        "--signed-links", "--early-stop", "--dynamic", "--dynamic-alpha", "0.1", "--dynamic-ranking", "--seed", "42",
        stdout=open("/dev/null", "w"),  # noqa: SIM115
    )
    assert stored_options(Study.objects.get(name="Command study")) == OPTIONS


def test_the_command_refuses_an_alpha_out_of_range():
    source = build_open_study(n_prompts=1)
    for alpha in ("0", "0.7"):
        with pytest.raises(CommandError, match="dynamic_alpha: input should be"):
            call_command("create_study", "Bad alpha", "--prompt-set", source.prompt_set.name, "--pair", "SecretModelX", "SecretModelY",
                         "--dynamic", "--dynamic-alpha", alpha)
    assert not Study.objects.filter(name="Bad alpha").exists()
    # The contract's name, with dashes: --alpha.
    call_command("create_study", "Alpha by name", "--prompt-set", source.prompt_set.name, "--pair", "SecretModelX", "SecretModelY",
                 "--dynamic", "--alpha", "0.2", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert Study.objects.get(name="Alpha by name").dynamic_alpha == 0.2


def test_the_api_takes_the_contracts_name_alpha_for_dynamic_alpha(researcher):
    source = build_open_study(n_prompts=1)
    body = {"name": "Alpha study", "prompt_set": source.prompt_set.name, "pairs": [["SecretModelX", "SecretModelY"]],
            "dynamic": True, "alpha": 0.2}
    response = api_client(researcher).post("/api/studies", json.dumps(body), content_type="application/json")
    assert response.status_code == 201, response.content
    assert response.json()["dynamic_alpha"] == 0.2 and Study.objects.get(name="Alpha study").dynamic_alpha == 0.2


def test_the_command_names_a_bad_qualification_file(tmp_path):
    source = build_open_study(n_prompts=1)
    (tmp_path / "q.json").write_text("{not json")
    with pytest.raises(CommandError, match=r"--qualification .*q.json: not valid JSON \(line 1"):
        call_command("create_study", "Bad", "--prompt-set", source.prompt_set.name, "--pair", "SecretModelX", "SecretModelY",
                     "--qualification", str(tmp_path / "q.json"))
    assert not Study.objects.filter(name="Bad").exists()


def test_the_creation_page_takes_the_options(researcher_client):
    source = build_open_study(n_prompts=2)
    form = {
        "name": "Page study", "prompt_set": source.prompt_set.pk, "pairs": "SecretModelX, SecretModelY", "raters": "5",
        "questions": ["quality", "faithfulness"], "lease_seconds": "600", "attention_items": "0",
        **{k: v for k, v in OPTIONS.items() if k not in {"qualification", "signed_links", "early_stop", "dynamic", "dynamic_ranking"}},
        "qualification": json.dumps(QUALIFICATION), "signed_links": "on", "early_stop": "on", "dynamic": "on", "dynamic_ranking": "on",
    }
    response = researcher_client.post("/studies/new", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert stored_options(Study.objects.get(name="Page study")) == OPTIONS
    bad = researcher_client.post("/studies/new", {**form, "name": "Bad page study", "qualification": '{"items": "x"}'})
    assert "qualification.items: input should be a valid array" in bad.content.decode()
    bad = researcher_client.post("/studies/new", {**form, "name": "Bad page study", "completion_url": "ftp://x"})
    assert "completion_url: enter a web address starting with http://" in bad.content.decode()
    for alpha, message in (("0", "greater than 0"), ("0.6", "less than or equal to 0.5")):
        bad = researcher_client.post("/studies/new", {**form, "name": "Bad page study", "dynamic_alpha": alpha})
        assert message in bad.content.decode()
    assert not Study.objects.filter(name="Bad page study").exists()


def test_dynamic_evaluation_refuses_several_samples_per_prompt(researcher):
    # The sequential test counts every item as independent; the samples of one prompt are not.
    source = build_open_study(n_prompts=1)
    body = {"name": "Dynamic samples", "prompt_set": source.prompt_set.name, "pairs": [["SecretModelX", "SecretModelY"]],
            "dynamic": True, "samples": 2}
    response = api_client(researcher).post("/api/studies", json.dumps(body), content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"].startswith("dynamic: dynamic evaluation needs one sample per prompt")
    assert not Study.objects.filter(name="Dynamic samples").exists()
    with pytest.raises(CommandError, match="dynamic evaluation needs one sample per prompt"):
        call_command("create_study", "Dynamic samples", "--prompt-set", source.prompt_set.name, "--pair", "SecretModelX",
                     "SecretModelY", "--dynamic", "--samples", "2")
