"""Imports point down the layers: data (datasets, manifest) under everything, the library under the project.

A static scan (``ast``) of every import statement, those inside functions included, so a violation fails here
even on a code path no other test runs.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# What umtfss/data may not import: everything built on datasets and the manifest.
ABOVE_DATA = ("umtfss.training", "umtfss.features", "umtfss.model", "umtfss.evaluation", "umtfss.tasks",
              "umtfss.episodes", "umtfss.selfsup", "umtfss.clustering", "umtfss.backbones", "umtfss.predict",
              "umtfss.cli")
# What the library may not import: the project around it (its pipeline, its stages).
PROJECT = ("pipeline", "stages")


def imported_modules(file: Path) -> set[str]:
    """Every module an import statement of ``file`` names (``from a import b``: ``a`` and ``a.b``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(file.read_text(), filename=str(file))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{file}: relative import"  # the scan resolves absolute names only
            names |= {node.module or "", *(f"{node.module}.{alias.name}" for alias in node.names)}
    return names


def _forbidden(names: set[str], forbidden: tuple[str, ...]) -> set[str]:
    return {name for name in names if any(name == top or name.startswith(f"{top}.") for top in forbidden)}


def _violations(files: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(f"{file.relative_to(ROOT)} imports {name}" for file in files
                  for name in _forbidden(imported_modules(file), forbidden))


def test_data_imports_nothing_above_it() -> None:
    files = sorted((ROOT / "umtfss" / "data").rglob("*.py"))
    assert files and _violations(files, ABOVE_DATA) == []


def test_the_library_imports_nothing_of_the_project() -> None:
    files = sorted((ROOT / "umtfss").rglob("*.py"))
    assert _violations(files, PROJECT) == []
    for file in files:  # nor runs it another way
        text = file.read_text()
        assert not any(call in text for call in ("runpy", "os.chdir", "sys.path")), file


@pytest.mark.parametrize("source, caught", [
    ("from umtfss.training.config import AugmentConfig\n", True),
    ("def f():\n    import umtfss.features.store\n", True),
    ("from umtfss import model\n", True),
    ("from umtfss.data.images import load_image\n", False),
    ("import umtfss.trainingwheels\n", False),
])
def test_the_scan_catches_an_upward_import(tmp_path: Path, source: str, caught: bool) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(source)
    assert bool(_forbidden(imported_modules(probe), ABOVE_DATA)) == caught
