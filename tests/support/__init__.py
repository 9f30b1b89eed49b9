"""What the tests and benchmarks share: the study builder, the simulated rater, media, servers, workers, browsers and commands."""

from pathlib import Path

# The repository: where manage.py, .venv and the packages are.
ROOT = Path(__file__).resolve().parents[2]
