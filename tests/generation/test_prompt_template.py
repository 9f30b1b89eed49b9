"""A system's prompt template: the pipeline gets the prompt inside the template; the prompt set, which
raters are shown, keeps the original text."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from generation.models import Prompt, Video
from tests.support.generation import SMALL, add_system, make_prompts


@pytest.mark.django_db(transaction=True)
def test_the_pipeline_gets_the_templated_prompt_and_the_prompt_stays_as_written(tiny_models, eager):
    model = str(tiny_models["text-to-video"])
    add_system("long", "--pipeline", "LTXPipeline", "--model", model, *SMALL, "--param", "prompt_template=a photo of {prompt}, detailed")
    add_system("plain", "--pipeline", "LTXPipeline", "--model", model, *SMALL)
    make_prompts("short", ["a cat"])
    make_prompts("written-out", ["a photo of a cat, detailed"])
    for system, prompt_set in (("long", "short"), ("plain", "written-out"), ("plain", "short")):
        call_command("generate", "--system", system, "--prompt-set", prompt_set, "--wait", stdout=StringIO(), stderr=StringIO())

    templated = Video.objects.get(system__name="long")
    assert templated.sha256 == Video.objects.get(system__name="plain", prompt__prompt_set__name="written-out").sha256
    assert templated.sha256 != Video.objects.get(system__name="plain", prompt__prompt_set__name="short").sha256
    assert templated.prompt.text == "a cat" and Prompt.objects.get(prompt_set__name="short").text == "a cat"
