"""Running manage.py in its own process, as a user does, with a given environment."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support import ROOT

# What a test's environment may set that would change the configuration a test means to check.
CONFIGURATION = {"DATABASE_URL", "CELERY_BROKER_URL", "JUICE_DEBUG", "JUICE_SECRET_KEY", "JUICE_DATA_DIR", "JUICE_HTTPS"}


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in CONFIGURATION}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=120
    )
