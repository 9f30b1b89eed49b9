"""Post-generation stages of a system: frame interpolation (ffmpeg's minterpolate, or a user's torch module)
and upscaling (Lanczos, or a diffusers upscaler) run on the frames before they are encoded; the stored
video has the frame rate, frame count and size they give. Values that cannot work are refused when the
system is added, naming the parameter."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from generation.models import System, Video
from generation.probe import probe_video
from tests.support.generation import SMALL, add_system, make_prompts


def generate(system: str, prompt_set: str = "set") -> str:
    out = StringIO()
    call_command("generate", "--system", system, "--prompt-set", prompt_set, "--wait", stdout=out, stderr=StringIO())
    return out.getvalue()


def probed(system: str):
    video = Video.objects.get(system__name=system)
    info = probe_video(Path(video.file.path))  # ffprobe, every frame decoded
    assert (video.width, video.height, video.fps, video.frame_count) == (info.width, info.height, info.fps, info.frame_count)
    return info


@pytest.mark.django_db(transaction=True)
def test_minterpolate_doubles_the_frame_rate_and_the_frame_count(tiny_models, eager):
    model = str(tiny_models["text-to-video"])
    add_system("base", "--pipeline", "LTXPipeline", "--model", model, *SMALL)
    add_system("emu", "--pipeline", "LTXPipeline", "--model", model, *SMALL,
               "--param", "interpolate=minterpolate", "--param", "interpolate_fps=16")
    make_prompts("set", ["a cat"])
    for system in ("base", "emu"):
        assert f"{system}: 1 done, 0 failed of 1" in generate(system)
    base, emu = probed("base"), probed("emu")
    assert (base.fps, base.frame_count, base.width) == (8.0, 9, 32)
    assert (emu.fps, emu.width, emu.height) == (16.0, 32, 32)
    assert emu.frame_count == 2 * base.frame_count and emu.duration == pytest.approx(base.duration, abs=0.07)


@pytest.mark.django_db(transaction=True)
def test_lanczos_upscaling_gives_the_size_asked_for_by_scale_or_by_sides(tiny_models, eager):
    model = str(tiny_models["text-to-video"])
    add_system("x2", "--pipeline", "LTXPipeline", "--model", model, *SMALL, "--param", "upscale=lanczos", "--param", "upscale_scale=2")
    add_system("wide", "--pipeline", "LTXPipeline", "--model", model, *SMALL, "--param", "upscale=lanczos",
               "--param", "upscale_width=80", "--param", "upscale_height=48")
    make_prompts("set", ["a cat"])
    for system in ("x2", "wide"):
        generate(system)
    assert (probed("x2").width, probed("x2").height, probed("x2").frame_count) == (64, 64, 9)
    assert (probed("wide").width, probed("wide").height) == (80, 48)


@pytest.mark.django_db(transaction=True)
def test_a_user_torch_module_interpolates_then_the_tiny_x4_upscaler_upscales(tiny_models, tiny_models_stages, eager, tmp_path):
    module = tmp_path / "midpoints.py"
    module.write_text(
        "import torch\n\n\n"
        "class Midpoints(torch.nn.Module):\n"
        "    def forward(self, frames):\n"
        "        mids = (frames[:-1] + frames[1:]) / 2\n"
        "        out = torch.stack([frames[:-1], mids], dim=1).flatten(0, 1)\n"
        "        return torch.cat([out, frames[-1:]])\n"
    )
    add_system("mav", "--pipeline", "LTXPipeline", "--model", str(tiny_models["text-to-video"]), *SMALL,
               "--param", f"interpolate={module}:Midpoints", "--param", "interpolate_fps=16",
               "--param", "upscale=StableDiffusionUpscalePipeline", "--param", f"upscale_model={tiny_models_stages['x4-upscaler']}",
               "--param", "upscale_args.num_inference_steps=1")
    assert System.objects.get().params["upscale_args"] == {"num_inference_steps": 1}  # recorded with the system
    make_prompts("set", ["a cat"])
    assert "mav: 1 done, 0 failed of 1" in generate("mav")
    info = probed("mav")
    assert (info.fps, info.frame_count, info.width, info.height) == (16.0, 17, 128, 128)


@pytest.mark.django_db
@pytest.mark.parametrize(("params", "message"), [
    (["interpolate=rife", "interpolate_fps=16"], "interpolate='rife': must be minterpolate, a module"),
    (["interpolate=minterpolate"], "interpolate=minterpolate: needs interpolate_fps"),
    (["interpolate=minterpolate", "interpolate_fps=6"], "interpolate_fps=6: must be above the system's fps (8)"),
    (["interpolate=minterpolate", "interpolate_fps=fast"], "interpolate_fps='fast': must be a number"),
    (["interpolate_fps=16"], "interpolate_fps: goes with interpolate"),
    (["interpolate=/nowhere/interp.py:Model", "interpolate_fps=16"], "no such file /nowhere/interp.py"),
    (["interpolate=json:no_such_callable", "interpolate_fps=16"], "json has no callable 'no_such_callable'"),
    (["upscale=bicubic"], "upscale='bicubic': must be lanczos or a diffusers image upscaler"),
    (["upscale=LTXPipeline"], "upscale='LTXPipeline': must be lanczos or a diffusers image upscaler"),
    (["upscale=lanczos"], "upscale=lanczos: needs upscale_scale, or upscale_width with upscale_height"),
    (["upscale=lanczos", "upscale_scale=1.3"], "upscale_scale=1.3: gives a height of 41.6 from 32"),
    (["upscale=lanczos", "upscale_scale=0"], "upscale_scale=0: must be a number above 0"),
    (["upscale=lanczos", "upscale_width=81", "upscale_height=48"], "upscale_width=81: must be an even whole number"),
    (["upscale=lanczos", "upscale_width=80"], "needs upscale_scale, or upscale_width with upscale_height"),
    (["upscale_scale=2"], "upscale_scale: goes with upscale=lanczos"),
    (["upscale=StableDiffusionUpscalePipeline"], "needs upscale_model"),
    (["upscale=StableDiffusionUpscalePipeline", "upscale_model=x/y", "upscale_scale=4"], "upscale_scale: a diffusers upscaler's model"),
    (["upscale=StableDiffusionUpscalePipeline", "upscale_model=x/y", "upscale_args.strength=2"], "upscale_args.strength"),
    (["upscale=StableDiffusionUpscalePipeline", "upscale_model={model}"], "holds a LTXPipeline checkpoint, not StableDiffusionUpscale"),
    (["interpolate=pipeline", "interpolate_fps=16"], "interpolate=pipeline: needs interpolate_model"),
    (["interpolate=pipeline", "interpolate_model={empty}", "interpolate_fps=16"],
     "expected a saved diffusers pipeline there (model_index.json) with"),
    (["interpolate=pipeline", "interpolate_model={lacking}", "interpolate_fps=16"],
     "must take frames, fps and target_fps; it lacks target_fps"),
    (["interpolate=pipeline", "interpolate_model={good}", "interpolate_fps=16", "interpolate_args.strength=2"],
     "interpolate_args.strength for Midpoints"),
    (["interpolate=pipeline", "interpolate_model={good}", "interpolate_fps=16", "interpolate_args.fps=2"],
     "interpolate_args.fps for Midpoints"),
    (["interpolate=minterpolate", "interpolate_model={good}", "interpolate_fps=16"], "interpolate_model: goes with interpolate=pipeline"),
    (["interpolate_args.extra_last=1"], "interpolate_args: goes with interpolate="),
])
def test_stage_values_that_cannot_work_are_refused_naming_the_parameter(tiny_models, interpolation_pipelines, params, message):
    places = {"model": tiny_models["text-to-video"], **interpolation_pipelines}
    args = [a for p in params for a in ("--param", p.format(**places))]
    with pytest.raises(CommandError) as refused:
        add_system("bad", "--pipeline", "LTXPipeline", "--model", str(tiny_models["text-to-video"]), *SMALL, *args)
    assert message in str(refused.value)
    assert not System.objects.exists()


@pytest.mark.django_db
def test_the_systems_page_refuses_a_user_module_that_the_command_line_accepts(researcher_client, tiny_models, tmp_path):
    # A module is code the workers run: a researcher's browser may not name one, the server's shell may.
    marker = tmp_path / "imported"
    module = tmp_path / "interp.py"
    module.write_text(f"open({str(marker)!r}, 'w').close()\n\n\ndef double(frames):\n    return frames.repeat_interleave(2, 0)\n")
    params = "\n".join(["num_frames=9", "height=32", "width=32", f"interpolate={module}:double", "interpolate_fps=16"])
    response = researcher_client.post("/systems/", {"kind": "generated", "name": "web", "pipeline": "LTXPipeline",
                                                   "model": str(tiny_models["text-to-video"]), "image_model": "", "params": params})
    assert response.status_code == 400
    assert "a module runs your code on the workers; add such a system with `manage.py add_system`" in response.content.decode()
    assert not System.objects.exists() and not marker.exists()
    add_system("shell", "--pipeline", "LTXPipeline", "--model", str(tiny_models["text-to-video"]), *SMALL,
               "--param", f"interpolate={module}:double", "--param", "interpolate_fps=16")
    assert System.objects.get().name == "shell" and marker.exists()


INTERPOLATION_PIPELINE = '''
import torch
from diffusers import DiffusionPipeline
from diffusers.utils import BaseOutput


class Output(BaseOutput):
    frames: torch.Tensor


class Midpoints(DiffusionPipeline):
    """round(target_fps / fps) - 1 blended frames in each gap, then extra_last copies of the last frame."""

    def __init__(self):
        super().__init__()
        self.register_to_config()

    def __call__(self, frames, fps, target_fps, extra_last=0, generator=None):
        assert isinstance(generator, torch.Generator)
        k = round(target_fps / fps)
        steps = [frames[:-1] + (frames[1:] - frames[:-1]) * i / k for i in range(k)]
        out = torch.stack(steps, dim=1).flatten(0, 1)
        return Output(frames=torch.cat([out, frames[-1:].repeat(1 + extra_last, 1, 1, 1)]))
'''


def interpolation_pipeline(directory: Path) -> Path:
    """A saved diffusers pipeline of one's own: model_index.json, and the pipeline.py that defines its class."""
    directory.mkdir()
    (directory / "pipeline.py").write_text(INTERPOLATION_PIPELINE)
    (directory / "model_index.json").write_text('{"_class_name": "Midpoints", "_diffusers_version": "0.42.1"}')
    return directory


@pytest.fixture(scope="module")
def interpolation_pipelines(tmp_path_factory) -> dict[str, Path]:
    """A good interpolation pipeline, one whose call lacks target_fps, and an empty directory."""
    root = tmp_path_factory.mktemp("interpolation-pipelines")
    lacking = interpolation_pipeline(root / "lacking")
    (lacking / "pipeline.py").write_text(INTERPOLATION_PIPELINE.replace("fps, target_fps", "fps"))
    (root / "empty").mkdir()
    return {"good": interpolation_pipeline(root / "good"), "lacking": lacking, "empty": root / "empty"}


@pytest.mark.django_db(transaction=True)
def test_a_diffusers_pipeline_of_ones_own_interpolates_with_its_arguments(tiny_models, eager, tmp_path):
    model = interpolation_pipeline(tmp_path / "midpoints")
    add_system("film", "--pipeline", "LTXPipeline", "--model", str(tiny_models["text-to-video"]), *SMALL,
               "--param", "interpolate=pipeline", "--param", f"interpolate_model={model}", "--param", "interpolate_fps=24",
               "--param", "interpolate_args.extra_last=2")
    assert System.objects.get().params["interpolate_args"] == {"extra_last": 2}  # recorded with the system
    make_prompts("set", ["a cat"])
    assert "film: 1 done, 0 failed of 1" in generate("film")
    info = probed("film")
    # 9 frames at 8 fps: 8 gaps of 3 frames, the last frame, 2 copies of it (the pipeline got fps, target_fps, its argument).
    assert (info.fps, info.frame_count, info.width) == (24.0, 27, 32)


@pytest.mark.django_db
def test_the_systems_page_refuses_an_interpolation_pipeline_as_code(researcher_client, tiny_models, tmp_path):
    model = interpolation_pipeline(tmp_path / "midpoints")
    params = "\n".join(["num_frames=9", "height=32", "width=32", "interpolate=pipeline", f"interpolate_model={model}",
                        "interpolate_fps=16"])
    response = researcher_client.post("/systems/", {"kind": "generated", "name": "web", "pipeline": "LTXPipeline",
                                                   "model": str(tiny_models["text-to-video"]), "image_model": "", "params": params})
    assert response.status_code == 400
    assert "interpolate=pipeline: a module runs your code on the workers" in response.content.decode()
    assert not System.objects.exists()
