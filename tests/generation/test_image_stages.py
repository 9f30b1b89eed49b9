"""The text-to-image first stage of a factorized system, for each family the README names (SDXL, Flux,
PixArt-Sigma, Sana): a tiny checkpoint built from configs is registered as `--image-model`, makes the first
frames of two prompts in one batched call through the real worker code, and the tiny LTX image-to-video
pipeline animates them."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from PIL import Image

from generation.models import System, Video
from generation.probe import probe_video
from tests.support.generation import SMALL, add_system, make_prompts

# tiny model name -> (class, its own `image.KEY` parameters)
IMAGE_STAGES = {
    "sdxl": ("StableDiffusionXLPipeline", []),
    "flux": ("FluxPipeline", ["image.max_sequence_length=16"]),
    # PixArt and Sana map sizes to the aspect-ratio bins of their full-size models unless told not to.
    "pixart-sigma": ("PixArtSigmaPipeline", ["image.max_sequence_length=16", "image.use_resolution_binning=false"]),
    "sana": ("SanaPipeline", ["image.max_sequence_length=16", "image.use_resolution_binning=false"]),
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", list(IMAGE_STAGES))
def test_a_factorized_system_with_this_image_stage_makes_videos(tiny_models, tiny_models_stages, eager, name):
    class_name, image_params = IMAGE_STAGES[name]
    args = [a for p in ["image.num_inference_steps=2", *image_params] for a in ("--param", p)]
    out = add_system("emu", "--pipeline", "factorized", "--model", str(tiny_models["image-to-video"]),
                     "--image-model", str(tiny_models_stages[name]), *SMALL, *args)
    assert f"factorized, {class_name}" in out  # the class read from the model's model_index.json
    assert System.objects.get().image_pipeline == class_name
    make_prompts("set", ["a cat", "a dog on a beach"])
    done = StringIO()
    call_command("generate", "--system", "emu", "--prompt-set", "set", "--wait", stdout=done, stderr=StringIO())
    assert "emu: 2 done, 0 failed of 2" in done.getvalue()
    firsts = []
    for video in Video.objects.order_by("prompt__position"):
        info = probe_video(Path(video.file.path))
        assert (info.codec, info.width, info.height, info.frame_count) == ("h264", 32, 32, 9)
        with Image.open(video.first_frame.path) as first:
            assert first.size == (32, 32)
            firsts.append(first.tobytes())
    assert firsts[0] != firsts[1]  # each prompt its own first frame
