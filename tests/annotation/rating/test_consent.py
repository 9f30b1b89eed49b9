"""A study with a consent text hands out items only to raters who agreed to it, whatever client asks."""

from __future__ import annotations

import pytest

from annotation.models import Rater
from tests.support.builders import build_open_study
from tests.support.raters import answer
from tests.support.rating import join, next_item, vote

pytestmark = pytest.mark.django_db


def test_next_waits_for_the_consent_and_then_hands_out_items():
    study = build_open_study(n_prompts=2, raters=3, consent="I agree that my answers are used for research.")
    client = join(study, "w-consent")
    refused = next_item(client, study)
    assert refused["assignment"] is None and refused["completion_code"] is None
    assert "consent" in refused["message"]
    assert client.post(f"/api/annotate/{study.slug}/consent").status_code == 201
    assert Rater.objects.get(worker_id="w-consent").consented_at is not None
    offer = next_item(client, study)
    assert offer["assignment"] is not None
    assert vote(client, offer["assignment"], answer(study)).status_code == 201


def test_a_study_without_consent_text_needs_none():
    study = build_open_study(n_prompts=2, raters=3)
    client = join(study, "w-plain")
    assert next_item(client, study)["assignment"] is not None
