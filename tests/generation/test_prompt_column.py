"""System-specific prompts: a prompt set's `prompt:<name>` column holds a rewritten text that a system with
`prompt_column=<name>` is given instead of the prompt (inside its prompt template); the job records the text
the pipeline got, and raters see the original prompt."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from annotation.models import Study
from generation.models import GenerationJob, Prompt, Video
from tests.support.generation import SMALL, add_system, make_prompts
from tests.support.rating import join, next_item

CSV = (
    "id,text,prompt:ltx-long,category\n"
    "cat,a cat,\"a fluffy cat, on a beach\",animals\n"
    "dog,a dog,a dog swimming,animals\n"
)


def generate(system: str, prompt_set: str, seed: int = 0) -> str:
    out = StringIO()
    call_command("generate", "--system", system, "--prompt-set", prompt_set, "--seed", str(seed), "--wait", stdout=out,
                 stderr=StringIO())
    return out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_the_pipeline_gets_the_system_s_column_and_raters_see_the_original(tiny_models, eager, tmp_path):
    (tmp_path / "prompts.csv").write_text(CSV)
    call_command("import_prompts", str(tmp_path / "prompts.csv"), "--name", "set", stdout=StringIO())
    model = str(tiny_models["text-to-video"])
    add_system("rewritten", "--pipeline", "LTXPipeline", "--model", model, *SMALL, "--param", "batch_size=1",
               "--param", "prompt_column=ltx-long", "--param", "prompt_template={prompt}, slowly")
    add_system("plain", "--pipeline", "LTXPipeline", "--model", model, *SMALL, "--param", "batch_size=1")
    make_prompts("spelled-out", ["a fluffy cat, on a beach, slowly"])
    # Imported prompts count positions from 1: "cat" has seed 1, as the spelled-out prompt with --seed 1.
    for system, prompt_set, seed in (("rewritten", "set", 0), ("plain", "set", 0), ("plain", "spelled-out", 1)):
        assert "0 failed" in generate(system, prompt_set, seed)

    used = dict(GenerationJob.objects.filter(system__name="rewritten").values_list("prompt__key", "prompt_used"))
    # The column's text, inside the template: the template wraps whichever text the system works from.
    assert used == {"cat": "a fluffy cat, on a beach, slowly", "dog": "a dog swimming, slowly"}
    assert GenerationJob.objects.get(system__name="plain", prompt__key="cat").prompt_used == "a cat"
    # The same video as a plain system given that text as its prompt: the pipeline got exactly it.
    rewritten = Video.objects.get(system__name="rewritten", prompt__key="cat")
    assert rewritten.sha256 == Video.objects.get(system__name="plain", prompt__prompt_set__name="spelled-out").sha256
    assert rewritten.sha256 != Video.objects.get(system__name="plain", prompt__key="cat").sha256
    assert Prompt.objects.get(key="cat").text == "a cat"

    call_command("create_study", "s", "--prompt-set", "set", "--pair", "rewritten", "plain", "--raters", "1", stdout=StringIO())
    study = Study.objects.get(name="s")
    client = join(study, "w1")
    prompts = set()
    for _ in range(2):
        item = next_item(client, study)
        prompts.add(item["prompt"])
        response = client.post(f"/api/annotate/assignments/{item['assignment']}/vote", json.dumps(
            {q["key"]: {"choice": "left", "reasons": [q["reasons"][0]["key"]]} for q in item["questions"]}
        ), content_type="application/json")
        assert response.status_code == 201, response.content
    assert prompts == {"a cat", "a dog"}


@pytest.mark.django_db
def test_a_set_without_the_system_s_column_is_refused_at_generate(tiny_models, tmp_path):
    (tmp_path / "prompts.jsonl").write_text(
        json.dumps({"id": "a", "text": "a cat", "prompt:ltx-long": "a fluffy cat"}) + "\n"
        + json.dumps({"id": "b", "text": "a dog"}) + "\n"
    )
    call_command("import_prompts", str(tmp_path / "prompts.jsonl"), "--name", "set", stdout=StringIO())
    assert dict(Prompt.objects.values_list("key", "rewrites")) == {"a": {"ltx-long": "a fluffy cat"}, "b": {}}
    add_system("rewritten", "--pipeline", "LTXPipeline", "--model", str(tiny_models["text-to-video"]), *SMALL,
               "--param", "prompt_column=ltx-long")
    refusal = r"takes its prompts from the column prompt:ltx-long, but 1 prompt\(s\) of 'set' have no text there: b"
    with pytest.raises(CommandError, match=refusal):
        generate("rewritten", "set")
    assert not GenerationJob.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("header", "message"), [
    ("id,text,prompt:", "prompts.csv, line 1: 'prompt:' needs a name of 1 to 100 characters after 'prompt:'"),
    ("id,text,prompt:x,Prompt:x", "prompts.csv, line 1: the column 'Prompt:x' appears twice"),
])
def test_bad_prompt_columns_are_refused_naming_the_line(tmp_path, header, message):
    (tmp_path / "prompts.csv").write_text(f"{header}\np1,a cat,a fluffy cat,x\n")
    with pytest.raises(CommandError) as refused:
        call_command("import_prompts", str(tmp_path / "prompts.csv"), "--name", "set", stdout=StringIO())
    assert message in str(refused.value)
