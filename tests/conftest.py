"""The fixtures of every test: named users, logged-in and API clients, media folders, Celery in-process,
sample videos and the tiny models."""

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model


def pytest_collection_modifyitems(config, items):
    """Fast tests first, then those that start worker processes, then the browser tests."""
    rank = {"worker": 1, "browser": 2}
    items.sort(key=lambda item: max((rank.get(m.name, 0) for m in item.iter_markers()), default=0))


@pytest.fixture
def researcher(db):
    return get_user_model().objects.create_user("alice", password="alice-password-1", is_staff=True)


@pytest.fixture
def researcher_client(client, researcher):
    client.force_login(researcher)
    return client


@pytest.fixture
def api(client, researcher):
    """A client that sends a researcher's token, as a script would (no session, no CSRF token)."""
    from juice.auth import api_token_create

    client.defaults["HTTP_AUTHORIZATION"] = f"Token {api_token_create(user=researcher)}"
    return client


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Every test writes its media under its own temporary folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_ROOT.mkdir()
    settings.JUICE_REPORTS_DIR = tmp_path / "reports"  # each test's reports its own (annotation/reports/cache.py)
    return settings.MEDIA_ROOT


@pytest.fixture
def empty_queues():
    """No message of an earlier run may reach this test's Celery workers."""
    from tests.support.workers import queues_empty

    queues_empty()


@pytest.fixture(scope="session")
def sample_videos(tmp_path_factory):
    """One tiny real video per container, made once; tests copy them under the names they need."""
    from tests.support.media import make_video

    folder = tmp_path_factory.mktemp("samples")
    return {ext: make_video(folder / f"sample.{ext}", seconds=0.5) for ext in ("mp4", "webm", "gif", "mov", "mkv")}


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> dict[str, Path]:
    """Short real videos in the formats that matching mixes, made once; importing one copies it. `plain`
    64x48 at 8 fps for 1 s, `same` that format with another picture, `wide` 96x54 at 16 fps for 1.5 s,
    `square` a 48x48 GIF at 8 fps for 1 s."""
    from tests.support.media import make_video

    folder = tmp_path_factory.mktemp("clips")
    return {
        "plain": make_video(folder / "plain.mp4", width=64, height=48, fps=8, seconds=1),
        "same": make_video(folder / "same.mp4", width=64, height=48, fps=8, seconds=1, source="testsrc"),
        "wide": make_video(folder / "wide.mp4", width=96, height=54, fps=16, seconds=1.5),
        "square": make_video(folder / "square.gif", width=48, height=48, fps=8, seconds=1),
    }


@pytest.fixture
def clip(clips) -> Path:
    return clips["plain"]


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """The small random-weight pipelines of `create_tiny_models`, built once per test run."""
    import os

    from generation.tiny import tiny_models_create

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return tiny_models_create(directory=tmp_path_factory.mktemp("tiny-models"))


@pytest.fixture(scope="session")
def tiny_models_all(tmp_path_factory):
    """Every tiny pipeline of `create_tiny_models --all` (more classes), built once per test run."""
    import os

    from generation.tiny import tiny_models_create

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return tiny_models_create(directory=tmp_path_factory.mktemp("tiny-models-all"), more=True)


@pytest.fixture(scope="session")
def tiny_models_stages(tmp_path_factory):
    """The tiny text-to-image pipelines of factorized first stages (SDXL, Flux, PixArt-Sigma, Sana) and the x4
    upscaler, built once per test run."""
    import os

    from generation.tiny import tiny_models_create

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    names = ("sdxl", "flux", "pixart-sigma", "sana", "x4-upscaler")
    return tiny_models_create(directory=tmp_path_factory.mktemp("tiny-models-stages"), only=names)


@pytest.fixture
def eager(monkeypatch):
    """Celery tasks run in the calling process, as they do without a broker."""
    from juice.celery import app

    monkeypatch.setitem(app.conf, "task_always_eager", True)
