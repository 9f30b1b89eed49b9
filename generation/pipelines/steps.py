"""Reporting a diffusers call's denoising steps ("step n of N") to whoever runs it.

A pipeline call reports through `callback_on_step_end` where its class has it, else through the
older `callback` with `callback_steps=1` (TextToVideoSD, the x4 upscaler); a class with neither
reports nothing. The report is a plain callable, so generation stays usable without Django; the
worker's is an in-memory record (it is called inside the denoising loop, every step).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# progress(phase, requests, step, total): the call making these requests (indices into the list given
# to videos_generate) finished `step` of its `total` steps; (phase, requests, 0, 0) when it starts.
StepProgress = Callable[[str, list[int], int, int], None]


def _total(pipe, order: int = 1) -> int:
    """The steps of the call now running: as many as its scheduler's timesteps (per scheduler order for the
    older callback, which fires once per order)."""
    timesteps = getattr(pipe, "_num_timesteps", None) or len(pipe.scheduler.timesteps)
    return (timesteps - 1) // order + 1


@dataclass(frozen=True)
class Steps:
    """Where the pipeline calls of one group of requests (of one phase) report their steps."""

    progress: StepProgress | None = None
    phase: str = ""  # "first frame", "video", "upscale" where a system has more than one; else ""
    offset: int = 0  # index of the group's first request in the list given to videos_generate

    def start(self, count: int) -> None:
        """The group's `count` requests start this phase: none of their steps is done."""
        if self.progress is not None:
            self.progress(self.phase, [self.offset + i for i in range(count)], 0, 0)

    def call_args(self, pipe, indices: list[int]) -> dict[str, Any]:
        """The arguments that make `pipe`'s call for these requests of the group report its steps."""
        if self.progress is None:
            return {}
        requests = [self.offset + i for i in indices]

        def report(step: int, total: int) -> None:
            self.progress(self.phase, requests, step, total)

        args = inspect.signature(type(pipe).__call__).parameters
        if "callback_on_step_end" in args:
            def on_step_end(pipe, step: int, timestep, callback_kwargs: dict) -> dict:
                report(step + 1, _total(pipe))
                return callback_kwargs

            return {"callback_on_step_end": on_step_end}
        if "callback" in args and "callback_steps" in args:
            def callback(step: int, timestep, latents) -> None:
                report(step + 1, _total(pipe, getattr(pipe.scheduler, "order", 1)))

            return {"callback": callback, "callback_steps": 1}
        return {}

