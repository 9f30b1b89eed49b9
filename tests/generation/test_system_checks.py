"""add_system refuses, with the parameter and the reason, what would fail or be silently changed later."""

from __future__ import annotations

import pytest
from django.core.management.base import CommandError

from generation.models import System
from tests.support.generation import add_system

VALID = ["--param", "num_frames=9", "--param", "height=32", "--param", "width=32"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--param", "num_videos_per_prompt=2"], "num_videos_per_prompt: not supported; a system makes one video per prompt"),
        (["--param", "height=33"],
         "height=33: LTXPipeline with this model needs a multiple of 4 (VAE factor 4 x patch 1); nearest valid: 32"),
        (["--param", "width=52"], "width=52: LTXPipeline refuses it (`height` and `width` have to be divisible by 32"),
        (["--param", "width=52"], "nearest valid: 64"),
        (["--param", "num_frames=12"],
         "num_frames=12: LTXPipeline with this model makes 1 + a multiple of 4 frames (it would give 9); nearest valid: 13"),
        (["--param", "num_frames=0"], "num_frames=0: must be a positive whole number"),
        (["--param", "offload=cpu"], "offload='cpu': must be one of model, sequential, group"),
        (["--param", "attention_backend=fastest"], "attention_backend='fastest': must be one of"),
        (["--param", "dtype.text_encoder2=float32"], "dtype.text_encoder2: the model has no component 'text_encoder2'"),
        (["--param", "dtype.vae=float8"], "dtype.vae='float8': must be one of auto, bfloat16, float16, float32"),
        (["--param", "vae_tiling=yes"], "vae_tiling='yes': must be true or false"),
        (["--param", "compile=1"], "compile=1: must be true or false"),
        (["--param", "lora=me/style-lora"], "lora: loading LoRA weights needs the peft package"),
        (["--param", "lora_scale=0.5"], "lora_scale: goes with lora=PATH_OR_ID"),
        (["--param", "revision=main"], "revision='main': a revision pins a hub model, not a local directory"),
        (["--param", "variant=fp16"], "variant='fp16': model"),
        (["--param", "prompt_template=cinematic"], "prompt_template='cinematic': must be a text containing {prompt}"),
    ],
)
def test_it_refuses_a_value_the_model_would_reject_or_change(tiny_models, args, message):
    with pytest.raises(CommandError) as error:
        add_system("bad", "--pipeline", "LTXPipeline", "--model", str(tiny_models["text-to-video"]), *VALID, *args)
    assert message in str(error.value)
    assert not System.objects.exists()


@pytest.mark.django_db
def test_it_refuses_frame_counts_and_sizes_by_each_model_s_own_factors(tiny_models_all):
    with pytest.raises(CommandError, match=r"num_frames=10: WanPipeline .* 1 \+ a multiple of 4 .*nearest valid: 9"):
        add_system("bad", "--pipeline", "WanPipeline", "--model", str(tiny_models_all["wan"]), "--param", "num_frames=10")
    with pytest.raises(CommandError, match=r"height=20: WanPipeline .* multiple of 16 \(VAE factor 8 x patch 2\); nearest valid: 16"):
        add_system("bad", "--pipeline", "WanPipeline", "--model", str(tiny_models_all["wan"]), "--param", "height=20")
    with pytest.raises(CommandError, match=r"height=40: CogVideoXPipeline .* multiple of 16 .*nearest valid: 32"):
        add_system("bad", "--pipeline", "CogVideoXPipeline", "--model", str(tiny_models_all["cogvideox"]), "--param", "height=40")
    with pytest.raises(CommandError, match=r"num_frames=9: MochiPipeline .* multiple of 6 frames \(it would give 7\); nearest valid: 7"):
        add_system("bad", "--pipeline", "MochiPipeline", "--model", str(tiny_models_all["mochi"]), "--param", "num_frames=9")
    add_system("wan", "--pipeline", "WanPipeline", "--model", str(tiny_models_all["wan"]),
               "--param", "num_frames=13", "--param", "height=48", "--param", "width=32")
    assert System.objects.get().params["num_frames"] == 13


@pytest.mark.django_db
def test_it_refuses_a_pipeline_that_cannot_run_here(tiny_models):
    with pytest.raises(CommandError, match="I2VGenXLPipeline cannot run here: it is deprecated in diffusers and does not run"):
        add_system("bad", "--pipeline", "I2VGenXLPipeline", "--model", str(tiny_models["image-to-video"]))
    assert not System.objects.exists()


@pytest.mark.django_db
def test_it_refuses_a_scheduler_value_the_scheduler_rejects_quoting_it(tiny_models):
    with pytest.raises(CommandError) as error:
        add_system("emu", "--pipeline", "factorized", "--model", str(tiny_models["image-to-video"]),
                   "--image-model", str(tiny_models["text-to-image"]), "--param", "image.scheduler.timestep_spacing=trailng")
    assert "image.scheduler.timestep_spacing=trailng: DDIMScheduler refuses it: trailng is not supported" in str(error.value)
    with pytest.raises(CommandError, match=r"scheduler\.beta_schedule=cosine: DDIMScheduler refuses it: cosine is not implemented"):
        add_system("emu", "--pipeline", "factorized", "--model", str(tiny_models["image-to-video"]),
                   "--image-model", str(tiny_models["text-to-image"]), "--param", "image.scheduler.beta_schedule=cosine")
    assert not System.objects.exists()


@pytest.mark.django_db
def test_it_keeps_a_per_component_dtype_beside_the_default(tiny_models):
    add_system("ltx", "--pipeline", "LTXPipeline", "--model", str(tiny_models["text-to-video"]), *VALID,
               "--param", "dtype=bfloat16", "--param", "dtype.vae=float32", "--param", "vae_tiling=true",
               "--param", "offload=model", "--param", "attention_backend=native", "--param", "compile=true")
    params = System.objects.get().params
    assert params["dtype"] == {"default": "bfloat16", "vae": "float32"}
    assert (params["vae_tiling"], params["offload"], params["attention_backend"], params["compile"]) == (True, "model", "native", True)


@pytest.mark.django_db
def test_allegro_needs_vae_tiling(tiny_models_all):
    args = ["--pipeline", "AllegroPipeline", "--model", str(tiny_models_all["allegro"]), "--param", "num_frames=8"]
    with pytest.raises(CommandError, match="vae_tiling: AllegroPipeline decodes only with VAE tiling; add --param vae_tiling=true"):
        add_system("bad", *args)
    add_system("allegro", *args, "--param", "vae_tiling=true")
    assert System.objects.get().params["vae_tiling"] is True


@pytest.mark.django_db
def test_a_mapping_prompt_template_is_hunyuan_video_s_own_argument():
    template = '{"template": "<|user|>{}<|end|>", "crop_start": 3}'
    add_system("hy", "--pipeline", "HunyuanVideoPipeline", "--model", "hunyuanvideo-community/HunyuanVideo",
               "--param", f"prompt_template={template}")
    assert System.objects.get().params["prompt_template"] == {"template": "<|user|>{}<|end|>", "crop_start": 3}
    with pytest.raises(CommandError, match=r"prompt_template=.*must be a text containing"):
        add_system("ltx", "--pipeline", "LTXPipeline", "--model", "Lightricks/LTX-Video", "--param", f"prompt_template={template}")
