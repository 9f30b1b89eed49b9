"""Shared fixtures: named users, a logged-in researcher client."""

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


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Every test writes its media under its own temporary folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_ROOT.mkdir()
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
