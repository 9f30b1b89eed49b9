"""Small random-weight diffusers pipelines built from configs on this machine, without any download.

They go through `save_pretrained` and come back through the same `from_pretrained` path a real
checkpoint takes, so tests, benchmarks and the demo exercise the real loading and generation code.
Their output is noise.

Scaffolding for tests, benchmarks and the demo: only the management commands (`create_tiny_models`,
`demo`), the tests and the benchmarks import it, never the worker's code (tests/juice/test_architecture.py
checks). text.py, video.py and image.py build the components; this module names and writes the pipelines.
"""

from __future__ import annotations

from pathlib import Path

import torch

from generation.tiny import image, video

# Directory names under the target folder, and the pipeline each one holds.
TINY_PIPELINES = {
    "text-to-video": "LTXPipeline",
    "image-to-video": "LTXImageToVideoPipeline",
    "text-to-image": "StableDiffusionPipeline",
}
# More classes, built on request (`create_tiny_models DIR --all`; the tests build them once per run).
# Sizes follow diffusers' own tests; each one generates 16x16 (or 32x32) videos of 9 frames.
TINY_MORE = {
    "wan": "WanPipeline",
    "wan-i2v": "WanImageToVideoPipeline",
    "ltx-condition": "LTXConditionPipeline",
    "cogvideox": "CogVideoXPipeline",
    "cogvideox-i2v": "CogVideoXImageToVideoPipeline",
    "svd": "StableVideoDiffusionPipeline",
    "animatediff": "AnimateDiffPipeline",
    "mochi": "MochiPipeline",
    "allegro": "AllegroPipeline",
    "text-to-video-sd": "TextToVideoSDPipeline",
    "hunyuan-video": "HunyuanVideoPipeline",
    # First stages of factorized systems (text-to-image) and a post-generation upscaler.
    "sdxl": "StableDiffusionXLPipeline",
    "flux": "FluxPipeline",
    "pixart-sigma": "PixArtSigmaPipeline",
    "sana": "SanaPipeline",
    "x4-upscaler": "StableDiffusionUpscalePipeline",
}

# The size and frame count each tiny video checkpoint runs at (its VAE and patch sizes allow them).
TINY_SIZE = {"text-to-video": 32, "image-to-video": 32, "ltx-condition": 32, "animatediff": 32, "text-to-video-sd": 32}
TINY_FRAMES = {"mochi": 7}  # Mochi: 1 + 6k


def tiny_call_params(name: str) -> dict:
    """The call arguments a tiny video checkpoint of this module generates with (steps and fps left to the caller)."""
    size = TINY_SIZE.get(name, 16)
    text = {} if name in ("svd", "animatediff", "text-to-video-sd") else {"max_sequence_length": 16}
    return {"num_frames": TINY_FRAMES.get(name, 9), "height": size, "width": size, **text}


_BUILDERS = {
    "text-to-video": video.ltx_components,
    "image-to-video": video.ltx_components,
    "ltx-condition": video.ltx_components,
    "text-to-image": image.stable_diffusion_components,
    "wan": video.wan_components,
    "wan-i2v": lambda: video.wan_components(image=True),
    "cogvideox": video.cogvideox_components,
    "cogvideox-i2v": lambda: video.cogvideox_components(image=True),
    "svd": video.svd_components,
    "animatediff": video.animatediff_components,
    "mochi": video.mochi_components,
    "allegro": video.allegro_components,
    "text-to-video-sd": video.text_to_video_sd_components,
    "hunyuan-video": video.hunyuan_video_components,
    "sdxl": image.sdxl_components,
    "flux": image.flux_components,
    "pixart-sigma": image.pixart_sigma_components,
    "sana": image.sana_components,
    "x4-upscaler": image.x4_upscaler_components,
}


def tiny_models_create(
    *, directory: Path | str, seed: int = 0, more: bool = False, only: tuple[str, ...] | None = None
) -> dict[str, Path]:
    """Write the three tiny pipelines (with `more`, also those of TINY_MORE; with `only`, just those named)
    under `directory` and return {name: path}; existing ones are rebuilt."""
    import diffusers

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    every = {**TINY_PIPELINES, **TINY_MORE}
    chosen = {k: every[k] for k in only} if only is not None else {**TINY_PIPELINES, **(TINY_MORE if more else {})}
    for kind, class_name in chosen.items():
        torch.manual_seed(seed)
        pipeline = getattr(diffusers, class_name)(**_BUILDERS[kind]())
        path = directory / kind
        pipeline.save_pretrained(path, safe_serialization=True)
        paths[kind] = path
    return paths
