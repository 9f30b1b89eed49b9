"""Whole deployments for the backup and move tests: each its own database (a PostgreSQL database made
for the test, or an SQLite file) and data folder, driven by manage.py and Django processes of its own,
as an operator's machines would be."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import psycopg

from tests.support import ROOT
from tests.support.commands import CONFIGURATION

# An open study with prompt images, source and matched files, votes by five raters, a reported problem,
# an invited account and the researcher who made it.
POPULATE = """
from django.core.management import call_command
call_command("migrate", verbosity=0)
import shutil
from pathlib import Path
from django.conf import settings
from django.contrib.auth.models import User
from annotation.models import Assignment
from annotation.rating.assignment import assignment_next
from annotation.rating.problems import assignment_for_report, report_submit
from annotation.rating.schemas import ProblemSpec
from generation.models import Video
from juice.files import file_sha256
from tests.support.builders import build_open_study
from tests.support.raters import SimulatedRater, rate_in_turns

media = Path(settings.MEDIA_ROOT)
study = build_open_study(n_prompts=4, raters=3, n_systems=3, image=True, name=NAME, seed=7, allow_tie=True)
for video in Video.objects.select_related("system"):
    path = media / video.file.name
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(media / f"sources/{video.system.name}.mp4", path)
    Video.objects.filter(pk=video.pk).update(sha256=file_sha256(path))
researcher = User.objects.create_user("researcher", is_staff=True)
study.created_by = researcher
study.save(update_fields=["created_by"])
study.invited.add(User.objects.create_user("guest"))
reporter = SimulatedRater("reporter").join(study)
shown = assignment_next(rater_id=reporter.rater_id, slug=study.slug).assignment
report_submit(target=assignment_for_report(rater_ids={reporter.rater_id}, token=shown.token),
              problem=ProblemSpec(problem="different_prompts", text="not the same"))
truth = lambda item, question: "a" if item.pair.system_a.name < item.pair.system_b.name else None
rate_in_turns([SimulatedRater(f"w{n}", accuracy=0.8, truth=truth, seed=n).join(study) for n in range(5)])
print(study.slug)
"""

# What a deployment holds, as JSON: every row of the platform's tables (ids and all), each study's
# report, and the sha256 of every file its rows name.
DESCRIBE = """
import json
from pathlib import Path
from django.apps import apps
from django.conf import settings
from django.core.serializers import serialize
from annotation.models import Study
from annotation.reports.services import report_render
from generation.models import MatchedVideo, Prompt, Video
from juice.files import file_sha256

def files(model, field):
    names = model.objects.exclude(**{field: ""}).values_list(field, flat=True)
    return sorted(file_sha256(Path(settings.MEDIA_ROOT) / name) for name in names)

models = [m for app in ("annotation", "generation") for m in apps.get_app_config(app).get_models()]
rows = {m._meta.label: json.loads(serialize("json", m.objects.order_by("pk"))) for m in models}
reports = {s.name: json.loads(report_render(study=s, fmt="json", bootstrap=100, seed=0)) for s in Study.objects.order_by("name")}
videos = {"videos": files(Video, "file"), "matched": files(MatchedVideo, "file"), "images": files(Prompt, "image")}
users = sorted(apps.get_model("auth.User").objects.values_list("username", flat=True))
print(json.dumps({"rows": rows, "reports": reports, "files": videos, "users": users}))
"""


@dataclass
class Deployment:
    """One deployment: its environment (DATABASE_URL, JUICE_DATA_DIR) and where its data folder is."""

    env: dict[str, str]
    data: Path

    @property
    def media(self) -> Path:
        return self.data / "media"

    def manage(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=300)

    def python(self, code: str) -> str:
        out = subprocess.run([sys.executable, "-c", f"import django; django.setup()\n{code}"], cwd=ROOT, env=self.env,
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-4000:]
        return out.stdout

    def populate(self, name: str = "Study of SecretModelX") -> str:
        """Fill the deployment with the study above; returns its slug."""
        return self.python(f"NAME = {name!r}\n{POPULATE}").strip().splitlines()[-1]

    def describe(self) -> dict:
        return json.loads(self.python(DESCRIBE))

    def migrate(self) -> None:
        self.python('from django.core.management import call_command; call_command("migrate", verbosity=0)')


def _environment(database_url: str, data: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if k not in CONFIGURATION}
    return {**clean, "DATABASE_URL": database_url, "JUICE_DATA_DIR": str(data), "MEDIA_ROOT": str(data / "media"),
            "DJANGO_SETTINGS_MODULE": "juice.settings"}


def sqlite_deployment(folder: Path) -> Deployment:
    data = folder / "data"
    return Deployment(_environment(f"sqlite:///{folder / 'juice.sqlite3'}", data), data)


@contextmanager
def postgres_deployment(folder: Path) -> Iterator[Deployment]:
    """A deployment on a new, empty PostgreSQL database of the test server (the one DATABASE_URL names),
    dropped afterwards."""
    server = urlparse(os.environ["DATABASE_URL"])
    name = f"{server.path.lstrip('/')}_{secrets.token_hex(4)}"
    admin = f"{server.scheme}://{server.netloc}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        data = folder / "data"
        yield Deployment(_environment(f"{server.scheme}://{server.netloc}/{name}", data), data)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def corrupt(archive: Path, out: Path, *, member: str) -> str:
    """Copy `archive` to `out` with one byte changed in the first member whose name starts with `member`
    (its size unchanged, as a bad disk or a careless edit leaves it); returns that member's name."""
    import io
    import tarfile

    changed = ""
    with tarfile.open(archive) as source, tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as copy:
        for info in source.getmembers():
            data = source.extractfile(info).read() if info.isfile() else b""
            if not changed and info.name.startswith(member):
                data, changed = bytes([data[0] ^ 1]) + data[1:], info.name
            copy.addfile(info, io.BytesIO(data))
    assert changed, f"no member starting with {member}"
    return changed


def media_state(deployment: Deployment) -> dict[str, bytes]:
    """Every file under the deployment's media folder and its content."""
    root = deployment.media
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()} if root.is_dir() else {}
