"""Memory, speed and pinning options reach the loaded pipeline; on a CPU-only machine offloading is
skipped with a logged note. Their effect on GPU memory is not measured here (no GPU in the tests)."""

from __future__ import annotations

import gc
import logging
import weakref

import numpy as np
import pytest
from diffusers import LTXPipeline

from generation.models import System
from generation.pipelines.cache import PipelineCache, pipeline_key
from generation.pipelines.config import SystemConfig
from generation.pipelines.run import Request, videos_generate
from generation.systems.services import system_config
from tests.support.generation import SMALL, add_system

PARAMS = {"num_frames": 9, "height": 32, "width": 32, "num_inference_steps": 1, "max_sequence_length": 16}


def test_vae_tiling_slicing_attention_backend_and_compile_reach_the_pipeline(tiny_models):
    from diffusers.models.attention_dispatch import AttentionBackendName

    cache = PipelineCache(2)
    options = {"vae_tiling": True, "vae_slicing": True, "attention_backend": "native", "compile": True}
    pipe = cache.get(pipeline_key("LTXPipeline", str(tiny_models["text-to-video"]), {**PARAMS, **options}))
    assert pipe.vae.use_tiling and pipe.vae.use_slicing
    processors = [getattr(m, "processor", None) for m in pipe.transformer.modules()]
    backends = {p._attention_backend for p in processors if hasattr(p, "_attention_backend")}
    assert backends == {AttentionBackendName.NATIVE}
    assert pipe.transformer._compiled_call_impl is not None  # compiled at its first call

    plain = cache.get(pipeline_key("LTXPipeline", str(tiny_models["text-to-video"]), PARAMS))
    assert plain is not pipe and not plain.vae.use_tiling and plain.transformer._compiled_call_impl is None


def test_offload_on_a_cpu_only_machine_runs_without_it_and_says_so(tiny_models, caplog):
    config = SystemConfig(pipeline="LTXPipeline", model=str(tiny_models["text-to-video"]), params={**PARAMS, "offload": "model"})
    with caplog.at_level(logging.INFO, logger="generation.pipelines"):
        (output,) = videos_generate(config=config, requests=[Request("a cat", 1)], cache=PipelineCache(1))
    assert output.frames.shape == (9, 32, 32, 3)
    assert "offload=model: no accelerator on this machine" in caplog.text


@pytest.mark.django_db
def test_a_variant_of_the_weights_is_loaded_by_name(tiny_models, tmp_path):
    LTXPipeline.from_pretrained(tiny_models["text-to-video"]).save_pretrained(tmp_path / "fp16", variant="fp16")
    add_system("ltx", "--pipeline", "LTXPipeline", "--model", str(tmp_path / "fp16"), *SMALL, "--param", "variant=fp16")
    config = system_config(System.objects.get())
    (output,) = videos_generate(config=config, requests=[Request("a cat", 1)], cache=PipelineCache(1))
    params = {k: v for k, v in config.params.items() if k != "variant"}
    plain = SystemConfig(pipeline="LTXPipeline", model=str(tiny_models["text-to-video"]), params=params)
    (same,) = videos_generate(config=plain, requests=[Request("a cat", 1)], cache=PipelineCache(1))
    assert np.array_equal(output.frames, same.frames)


def test_the_cache_frees_the_pipeline_it_evicts_before_loading_the_next(tiny_models):
    cache = PipelineCache(1)
    first = weakref.ref(cache.get(pipeline_key("LTXPipeline", str(tiny_models["text-to-video"]), PARAMS)))
    cache.get(pipeline_key("LTXImageToVideoPipeline", str(tiny_models["image-to-video"]), PARAMS))
    gc.collect()
    assert first() is None and cache.loads == 2
