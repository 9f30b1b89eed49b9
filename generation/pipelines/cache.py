"""Loading diffusers pipelines as a system's configuration says, and the bounded cache a worker keeps them in.

A pipeline is loaded through `from_pretrained` (as any checkpoint), then given its scheduler overrides and
load options (checks.LOAD_KEYS), and moved to the device or set up for offloading; the cache keeps the
most recently used between jobs, keyed by what makes two loaded pipelines interchangeable.
"""

from __future__ import annotations

import gc
import json
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generation.pipelines.checks import LOAD_KEYS, check_scheduler
from generation.pipelines.classes import pipeline_class, scheduler_class

log = logging.getLogger(__name__)

# The cache's name for a user's own pipeline class, loaded from its checkpoint's pipeline.py (interpolate=pipeline).
CUSTOM_PIPELINE = "custom pipeline.py"


def device_and_dtype(dtype: str | dict = "auto"):
    """bf16 (or fp16 where bf16 is missing) on CUDA, float32 on the CPU, where half precision is slow or missing.

    A mapping (`dtype.vae=float32`) gives {component: dtype, "default": dtype}, as from_pretrained takes it.
    """
    import torch

    if isinstance(dtype, dict):
        device, default = device_and_dtype(dtype.get("default", "auto"))
        return device, {"default": default, **{k: device_and_dtype(v)[1] for k, v in dtype.items() if k != "default"}}
    if not torch.cuda.is_available():
        return torch.device("cpu"), torch.float32
    if dtype == "float32":
        return torch.device("cuda"), torch.float32
    if dtype == "float16" or (dtype == "auto" and not torch.cuda.is_bf16_supported()):
        return torch.device("cuda"), torch.float16
    return torch.device("cuda"), torch.bfloat16


@dataclass(frozen=True)
class PipelineKey:
    """What makes two loaded pipelines interchangeable; the cache's key."""

    class_name: str
    model: str
    dtype: str  # a name, or canonical JSON of a per-component mapping
    scheduler: str = "{}"  # canonical JSON of the overrides
    options: str = "{}"  # canonical JSON of the other load options (checks.LOAD_KEYS)


def pipeline_key(class_name: str, model: str, params: dict) -> PipelineKey:
    """The cache key of a pipeline class and model under these params (dtype, scheduler overrides, load options)."""
    dtype = params.get("dtype", "auto")
    options = {k: params[k] for k in LOAD_KEYS if k in params and k != "dtype"}
    return PipelineKey(
        class_name, model, dtype if isinstance(dtype, str) else json.dumps(dtype, sort_keys=True),
        json.dumps(params.get("scheduler", {}), sort_keys=True), json.dumps(options, sort_keys=True),
    )


class PipelineCache:
    """Loaded pipelines kept between jobs, at most `size`, least recently used evicted first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[PipelineKey, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.loads = 0

    def get(self, key: PipelineKey):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            # Free memory before loading: the least recently used go first, while the cache is full or,
            # on a GPU, while the new model's weights would not fit beside them.
            while self._items and (len(self._items) >= self.size or not _room_for(key.model)):
                self._items.popitem(last=False)
                _release_memory()
            pipe = pipeline_load(key)
            self.loads += 1
            self._items[key] = pipe
            return pipe

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            _release_memory()


def _release_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _room_for(model: str) -> bool:
    """Whether a local model's weights fit in the GPU's free memory (always, on the CPU or for a hub id)."""
    import torch

    path = Path(model).expanduser()
    if not torch.cuda.is_available() or not path.is_dir():
        return True
    need = sum(p.stat().st_size for p in path.rglob("*.safetensors"))
    return torch.cuda.mem_get_info()[0] > need


def pipeline_load(key: PipelineKey):
    """Load through `from_pretrained` (as for any checkpoint), apply scheduler overrides and load options,
    move to the device (or set up offloading)."""
    import diffusers

    custom = key.class_name == CUSTOM_PIPELINE  # a user's own class, from the checkpoint's pipeline.py
    cls = diffusers.DiffusionPipeline if custom else pipeline_class(key.class_name)
    options = json.loads(key.options)
    device, dtype = device_and_dtype(json.loads(key.dtype) if key.dtype.startswith("{") else key.dtype)
    hub = {k: options[k] for k in ("revision", "variant") if k in options}
    code = {"custom_pipeline": key.model, "trust_remote_code": True} if custom else {}
    pipe = cls.from_pretrained(key.model, dtype=dtype, **hub, **code)
    overrides = json.loads(key.scheduler)
    if overrides:
        scheduler_cls = scheduler_class(overrides.pop("class")) if "class" in overrides else type(pipe.scheduler)
        check_scheduler(overrides, scheduler_name=scheduler_cls.__name__, where=f"{key.model} scheduler")
        pipe.scheduler = scheduler_cls.from_config(pipe.scheduler.config, **overrides)
    _apply_options(pipe, options)
    _place(pipe, options.get("offload", "none"), device)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _denoisers(pipe) -> list:
    return [m for m in (getattr(pipe, n, None) for n in ("transformer", "transformer_2", "unet")) if m is not None]


def _apply_options(pipe, options: dict) -> None:
    """VAE tiling and slicing, LoRA weights, the attention backend and torch.compile, as configured."""
    vae = getattr(pipe, "vae", None)
    if options.get("vae_tiling"):
        vae.enable_tiling()
    if options.get("vae_slicing"):
        vae.enable_slicing()
    if "lora" in options:
        pipe.load_lora_weights(options["lora"], adapter_name="lora")
        pipe.set_adapters(["lora"], [float(options.get("lora_scale", 1.0))])
    for module in _denoisers(pipe):
        if "attention_backend" in options:
            module.set_attention_backend(options["attention_backend"])
        if options.get("compile"):
            module.compile()  # compiled at its first call


def _place(pipe, offload: str, device) -> None:
    """Move to the device, or offload to the CPU between uses (only where there is an accelerator)."""
    if offload == "none":
        pipe.to(device)
    elif device.type == "cpu":
        log.info("offload=%s: no accelerator on this machine, the pipeline runs on the CPU without offloading", offload)
        pipe.to(device)
    elif offload == "model":
        pipe.enable_model_cpu_offload(device=device)
    elif offload == "sequential":
        pipe.enable_sequential_cpu_offload(device=device)
    else:
        pipe.enable_group_offload(onload_device=device, offload_type="block_level", num_blocks_per_group=1)


_cache: PipelineCache | None = None


def pipeline_cache() -> PipelineCache:
    """This process's cache; its size is the JUICE_PIPELINE_CACHE setting."""
    global _cache
    if _cache is None:
        from django.conf import settings

        _cache = PipelineCache(getattr(settings, "JUICE_PIPELINE_CACHE", 2))
    return _cache
