"""Systems and prompt sets for the generation tests, made as a user would (commands) or directly."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import numpy as np
from django.core.management import call_command
from PIL import Image

from generation.models import Prompt, PromptSet

SMALL = [a for kv in ("num_frames=9", "height=32", "width=32", "num_inference_steps=2", "max_sequence_length=16", "fps=8")
         for a in ("--param", kv)]


def add_system(*args: str) -> str:
    out = StringIO()
    call_command("add_system", *args, stdout=out)
    return out.getvalue()


def make_prompts(name: str, texts: list[str], images: bool = False) -> PromptSet:
    prompt_set = PromptSet.objects.create(name=name)
    for i, text in enumerate(texts):
        prompt = Prompt(prompt_set=prompt_set, key=f"p{i + 1:04d}", position=i, text=text)
        if images:
            prompt.image.name = f"prompt_images/{name}-{i}.png"
            Path(prompt.image.path).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((32, 32, 3), 40 * i, dtype=np.uint8)).save(prompt.image.path)
        prompt.save()
    return prompt_set
