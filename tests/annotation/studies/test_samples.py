"""Studies with several samples per prompt: item (pair, prompt, i) shows sample i of both systems, each item
is served and voted like any other, the votes CSV carries `sample`, and the report follows the study's unit."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from annotation.models import Item, Study
from annotation.reports.exports import votes_write
from annotation.reports.services import study_report
from annotation.studies.services import StudyError
from juice.auth import api_token_create
from tests.support.builders import add_video, create_study, external_system, prompt_set
from tests.support.raters import answer
from tests.support.rating import join, next_item, vote

pytestmark = pytest.mark.django_db


def two_systems(clips: dict[str, Path], *, samples: int = 2, missing: tuple[str, str, int] | None = None):
    """Systems A and B with `samples` videos of each of two prompts, but for `missing` (system, prompt, sample)."""
    ps = prompt_set(count=2)
    systems = [external_system(n) for n in "AB"]
    for system in systems:
        for prompt in ps.prompts.all():
            for sample in range(samples):
                if (system.name, prompt.key, sample) != missing:
                    add_video(system, prompt, clips["same"], sample=sample)
    return ps, systems


def test_a_study_with_samples_has_k_items_per_prompt_served_voted_and_exported_with_their_sample(
    eager, clips, django_capture_on_commit_callbacks
):
    ps, (a, b) = two_systems(clips)
    with django_capture_on_commit_callbacks(execute=True):
        study = create_study(name="s", prompt_set=ps, pairs=[(a, b)], samples=2, raters=1)
    study.refresh_from_db()
    assert (study.status, study.samples, study.sample_unit) == (Study.Status.OPEN, 2, "item")
    items = list(study.items.select_related("prompt", "video_a", "video_b").order_by("prompt__position", "sample"))
    assert [(i.prompt.key, i.sample) for i in items] == [("p0001", 0), ("p0001", 1), ("p0002", 0), ("p0002", 1)]
    assert all(i.video_a.sample == i.video_b.sample == i.sample and i.video_a.system == a for i in items)

    rater = join(study, "w1")
    for _ in range(4):  # each sample's item is its own item: all four are served and voted
        token = next_item(rater, study)["assignment"]
        assert vote(rater, token, answer(study, "left")).status_code == 201
    assert next_item(rater, study)["assignment"] is None

    out = io.StringIO()
    votes_write(study=study, out=out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert list(rows[0])[-2:] == ["position", "sample"]
    assert sorted((r["prompt_id"], r["sample"]) for r in rows if r["question"] == "quality") == [
        ("p0001", "0"), ("p0001", "1"), ("p0002", "0"), ("p0002", "1"),
    ]

    report = study_report(study=study, bootstrap=50)
    assert report["samples"]["per_prompt"] == 2 and report["samples"]["unit"] == "item"
    assert report["pairs"][0]["items"] == 4
    Study.objects.filter(pk=study.pk).update(sample_unit="prompt")
    study.refresh_from_db()
    report = study_report(study=study, bootstrap=50)
    assert report["samples"]["unit"] == "prompt" and report["pairs"][0]["items"] == 2


def test_a_study_is_refused_when_a_system_lacks_a_sample(db, media_root, clips):
    ps, (a, b) = two_systems(clips, missing=("B", "p0002", 1))
    with pytest.raises(StudyError, match=r"1 videos are missing .*: B/p0002 sample 1$"):
        create_study(name="s", prompt_set=ps, pairs=[(a, b)], samples=2)
    with pytest.raises(StudyError, match=r"B/p0001 sample 2"):
        create_study(name="s", prompt_set=ps, pairs=[(a, b)], samples=3)
    assert not Study.objects.exists()


def test_without_samples_a_study_is_as_before(eager, clips, django_capture_on_commit_callbacks):
    ps, (a, b) = two_systems(clips)
    with django_capture_on_commit_callbacks(execute=True):
        study = create_study(name="s", prompt_set=ps, pairs=[(a, b)])
    assert (study.samples, study.sample_unit) == (1, "item")
    assert set(study.items.values_list("sample", flat=True)) == {0}
    out = io.StringIO()
    votes_write(study=study, out=out)
    assert "sample" not in out.getvalue().splitlines()[0].split(",")


def test_the_api_takes_samples_as_a_count_or_as_the_contracts_modes(researcher, eager, clips):
    ps, _systems = two_systems(clips)
    api = Client(HTTP_AUTHORIZATION=f"Token {api_token_create(user=researcher)}")
    base = {"prompt_set": ps.name, "pairs": [["A", "B"]], "raters": 1}

    def post(**body):
        return api.post("/api/studies", json.dumps(base | body), content_type="application/json")

    response = post(name="counted", samples=2, sample_unit="prompt")
    assert response.status_code == 201, response.content
    assert (response.json()["samples"], response.json()["sample_unit"]) == (2, "prompt")
    # "matched": every sample the systems have, reported per prompt; "items": each sample its own item.
    matched = post(name="matched", samples="matched").json()
    assert (matched["samples"], matched["sample_unit"]) == (2, "prompt")
    items = post(name="items", samples="items").json()
    assert (items["samples"], items["sample_unit"]) == (2, "item")
    assert Item.objects.filter(study__name="items").count() == 4

    for bad, field in (({"samples": 0}, "samples"), ({"samples": "paired"}, "samples"), ({"sample_unit": "vote"}, "sample_unit")):
        response = post(name="bad", **bad)
        assert response.status_code == 400 and response.json()["error"].startswith(f"{field}: ")


def test_the_command_and_the_page_take_the_same_options(researcher_client, eager, clips):
    ps, _systems = two_systems(clips)
    call_command("create_study", "cmd", "--prompt-set", ps.name, "--pair", "A", "B", "--raters", "1", "--samples", "2",
                 "--sample-unit", "prompt", stdout=io.StringIO(), stderr=io.StringIO())
    assert Study.objects.filter(name="cmd", samples=2, sample_unit="prompt").exists()
    with pytest.raises(CommandError, match="samples"):
        call_command("create_study", "bad", "--prompt-set", ps.name, "--pair", "A", "B", "--samples", "many",
                     stdout=io.StringIO(), stderr=io.StringIO())

    page = researcher_client.get("/studies/new").content.decode()
    assert 'name="samples"' in page and 'name="sample_unit"' in page
    form = {"name": "page", "prompt_set": ps.pk, "pairs": "A, B", "raters": 1, "questions": ["quality"],
            "lease_seconds": 600, "attention_items": 0, "samples": "2", "sample_unit": "prompt"}
    response = researcher_client.post("/studies/new", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Study.objects.filter(name="page", samples=2, sample_unit="prompt").exists()
