"""The layout shows the architecture (docs/architecture.md), and stays so.

Read statically (ast): which packages each module imports, and how long each module is.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 500
"""A module longer than this holds more than one job (issue 14); generated code aside."""
GENERATED = ("gis/store/migrations/versions/",)


def _modules(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def _imported(path: Path) -> set[str]:
    """Top-level packages ``path`` imports, at any depth of the module (lazy imports too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [("gis", {"api", "tiles", "demo_build"}), ("tiles", {"api", "demo_build"})],
)
def test_the_domain_imports_no_outer_layer(folder: str, forbidden: set[str]) -> None:
    offending = {
        str(p.relative_to(ROOT)): sorted(_imported(p) & forbidden)
        for p in _modules(folder)
        if _imported(p) & forbidden
    }
    assert offending == {}


def test_no_module_is_over_500_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in _modules("gis", "tiles", "api", "bench", "tests", "data/boundaries")
        if not str(p.relative_to(ROOT)).startswith(GENERATED)
        and (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_the_running_service_does_not_load_the_demo_generator() -> None:
    """The runtime reads the committed demo files; generating them is build tooling."""
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, api.app; print(sorted(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    assert "demo_build" not in loaded
    assert "playwright" not in loaded
