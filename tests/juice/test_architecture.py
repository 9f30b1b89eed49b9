"""The house rules that keep the code readable: data flows one way, functions fit on a screen.

prompt set -> videos -> matched items -> assignments -> votes -> report: `generation` makes videos
and matched files and never imports `annotation`; `analysis` reads a votes CSV and imports nothing
of the platform or Django, so researchers can run it anywhere. Inside `annotation`, the subpackages
depend one way: raters < rating < studies < reports.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT

APPLICATION = ("juice", "generation", "annotation", "analysis")
MAX_FUNCTION_LINES = 60
# annotation's subpackages, lowest first: each imports only itself, those before it and annotation's
# top-level modules (models); management/, tasks.py and urls.py at annotation's top may import any.
ANNOTATION_LAYERS = ("raters", "rating", "studies", "reports")


def modules(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts)


def imported(path: Path) -> set[str]:
    """Every module `path` imports, at any depth of its code (imports inside functions count too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def importers(package: str, forbidden: tuple[str, ...]) -> list[str]:
    """`module: import` for each import of a forbidden package by a module of `package`."""
    return [
        f"{path.relative_to(ROOT)}: {name}"
        for path in modules(package)
        for name in sorted(imported(path))
        if name.split(".")[0] in forbidden
    ]


def test_generation_never_imports_annotation():
    assert importers("generation", ("annotation",)) == []


def test_annotation_subpackages_import_each_other_one_way_only():
    assert sorted(p.name for p in (ROOT / "annotation").iterdir() if (p / "__init__.py").exists()) == sorted(
        (*ANNOTATION_LAYERS, "management", "migrations")
    ), "place a new subpackage in ANNOTATION_LAYERS"
    upward = [
        f"{path.relative_to(ROOT)}: {name}"
        for level, layer in enumerate(ANNOTATION_LAYERS)
        for path in modules(f"annotation/{layer}")
        for name in sorted(imported(path))
        if name.startswith("annotation.") and name.split(".")[1] in ANNOTATION_LAYERS[level + 1 :]
    ]
    assert upward == []


def test_juice_imports_annotation_only_in_its_url_map():
    # The site's shared parts (authentication, files, uploads, settings) serve both packages.
    assert importers("juice", ("annotation", "generation")) == ["juice/urls.py: annotation.raters.views", "juice/urls.py: annotation.urls"]


def test_analysis_imports_nothing_of_django_or_the_platform():
    assert importers("analysis", ("django", "juice", "generation", "annotation", "celery")) == []
    # And at run time: importing it loads no Django, whatever its dependencies import.
    probe = "import sys, analysis, analysis.render; print(sorted(m for m in sys.modules if m.split('.')[0] == 'django'))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert (out.returncode, out.stdout.strip()) == (0, "[]"), out.stderr


@pytest.mark.parametrize("package", APPLICATION)
def test_no_function_is_longer_than_a_screen(package):
    long = [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for path in modules(package)
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path)))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long == [], f"split these functions (at most {MAX_FUNCTION_LINES} lines each)"


# -- generation by concept -------------------------------------------------------------------------

MAX_GENERATION_FILE_LINES = 400
# The two sides of generation/pipelines: checking a configuration when a system is added, and running it.
PIPELINE_CONFIGURATION = ("classes", "checks", "config", "stage_config")
PIPELINE_RUNNING = ("cache", "run", "stages", "steps")


def imported_names(path: Path) -> set[str]:
    """`imported(path)`, plus `package.name` for each `from package import name` (which may be a module)."""
    names = imported(path)
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_file_of_generation_is_longer_than_400_lines():
    long = [
        f"{path.relative_to(ROOT)} ({lines} lines)"
        for path in sorted((ROOT / "generation").rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
        and (lines := path.read_bytes().count(b"\n")) > MAX_GENERATION_FILE_LINES
    ]
    assert long == [], f"split these files by concept (at most {MAX_GENERATION_FILE_LINES} lines each)"


def test_only_management_commands_import_the_tiny_models():
    # The random-weight pipelines are scaffolding for tests, benchmarks and the demo: no service, view,
    # task or worker of the platform loads them.
    found = [
        f"{path.relative_to(ROOT)}: {name}"
        for package in ("juice", "generation", "annotation")
        for path in modules(package)
        if "commands" not in path.parts and path.parent != ROOT / "generation" / "tiny"
        for name in sorted(imported_names(path))
        if name == "generation.tiny" or name.startswith("generation.tiny.")
    ]
    assert found == []


def test_pipeline_configuration_never_imports_the_running_side():
    running = {f"generation.pipelines.{name}" for name in PIPELINE_RUNNING}
    found = [
        f"generation/pipelines/{module}.py: {name}"
        for module in PIPELINE_CONFIGURATION
        for name in sorted(imported_names(ROOT / "generation" / "pipelines" / f"{module}.py"))
        if name in running
    ]
    assert found == []
    assert sorted(p.stem for p in (ROOT / "generation" / "pipelines").glob("*.py") if p.stem != "__init__") == sorted(
        PIPELINE_CONFIGURATION + PIPELINE_RUNNING
    ), "a new module of generation/pipelines belongs to one side: name it above"
