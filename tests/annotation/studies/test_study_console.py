"""Creating a study from the browser answers at once: the study page then follows its matching,
refreshes itself and says the matching policy in words."""

from __future__ import annotations

import threading
import time

import pytest
from django.urls import reverse

from annotation.models import Item, Study
from annotation.studies import matching
from generation.matching.policy import policy_describe, policy_parse
from tests.support.builders import add_video, external_system, prompt_set

FORM = {"name": "Console study", "pairs": "A, B", "raters": "5", "questions": ["quality", "faithfulness"],
        "quality_reasons": "pixel_sharpness: Sharp", "faithfulness_reasons": "spatial_alignment: Right things",
        "lease_seconds": "600", "attention_items": "0"}


def two_systems(clips, prompts: int = 2):
    ps = prompt_set(count=prompts)
    for system, clip in ((external_system("A"), clips["wide"]), (external_system("B"), clips["square"])):
        for prompt in ps.prompts.all():
            add_video(system, prompt, clip)
    return ps


def test_the_policy_reads_as_words():
    assert policy_describe(policy_parse(None)) == (
        "Both videos of an item are center-cropped to the aspect ratio they share, scaled to the smaller of the two "
        "sizes (never upscaled), brought to the lower of the two frame rates by dropping frames, and cut to the shorter duration."
    )
    words = policy_describe(policy_parse({"aspect": "pad", "resolution": "64x64", "fps": "8", "duration": "loop"}))
    assert "padded with black bars" in words and "scaled to 64x64" in words and "8 fps" in words and "looped" in words


@pytest.mark.django_db
def test_the_form_explains_each_matching_option_with_the_papers_defaults(researcher_client):
    page = researcher_client.get(reverse("study-new")).content.decode()
    assert '<option value="crop" selected>' in page and '<option value="shortest" selected>' in page
    assert "the smaller of the two videos&#x27; sizes, never upscaled" in page
    assert "by dropping frames (frames are never invented)" in page


@pytest.mark.django_db
def test_a_non_default_policy_from_the_form_and_a_page_that_follows_matching(researcher_client, clips, empty_queues):
    """With a broker and no media worker yet: the POST answers with the study still preparing."""
    ps = two_systems(clips)
    response = researcher_client.post(reverse("study-new"), {
        **FORM, "prompt_set": ps.pk, "matching_aspect": "pad", "matching_resolution": "48x48", "matching_fps": "8",
        "matching_duration": "loop"})
    study = Study.objects.get(name="Console study")
    assert response.status_code == 302 and response.url == reverse("study-detail", args=[study.slug])
    assert study.status == Study.Status.PREPARING
    assert study.matching == {"aspect": "pad", "resolution": "48x48", "fps": "8", "duration": "loop"}
    page = researcher_client.get(response.url).content.decode()
    assert "0 of 2 items ready, 2 being matched" in page and '<progress id="matching-progress" max="2" value="0"' in page
    assert "padded with black bars to a common aspect ratio, scaled to 48x48" in page
    assert "{&#x27;aspect&#x27;" not in page and "'aspect'" not in page
    assert "<title>Console study · JUICE</title>" in page
    assert "data-live" in page and page.count("juice/live.js") == 1  # the page refreshes its live parts
    assert f'data-live-url="{response.url}"' in page  # its own address, also after a form's POST


@pytest.mark.django_db
def test_a_policy_that_cannot_apply_is_refused_with_its_reason(researcher_client, clips):
    ps = two_systems(clips)
    response = researcher_client.post(reverse("study-new"), {**FORM, "prompt_set": ps.pk, "matching_fps": "30"})
    assert response.status_code == 200 and "fps: 30 is above a source&#x27;s frame rate (8 fps)" in response.content.decode()
    response = researcher_client.post(reverse("study-new"), {**FORM, "prompt_set": ps.pk, "matching_resolution": "33x33"})
    assert "resolution: 33x33 needs even sides" in response.content.decode()
    assert not Study.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_in_process_the_post_answers_before_matching_and_the_study_opens_after(researcher_client, clips, monkeypatch, eager):
    """No broker (the demo): matching runs in a thread of the web process, not in the request."""
    go = threading.Event()
    attach = matching._attach

    def held(study_id):
        assert go.wait(30)
        return attach(study_id)

    monkeypatch.setattr(matching, "_attach", held)
    ps = two_systems(clips)
    response = researcher_client.post(reverse("study-new"), {**FORM, "prompt_set": ps.pk})
    study = Study.objects.get(name="Console study")
    assert response.status_code == 302 and study.status == Study.Status.PREPARING
    go.set()
    deadline = time.monotonic() + 60
    while Study.objects.get(pk=study.pk).status != Study.Status.OPEN:
        assert time.monotonic() < deadline, list(Item.objects.values_list("status", "error"))
        time.sleep(0.2)
    assert "(open)" in researcher_client.get(response.url).content.decode()
