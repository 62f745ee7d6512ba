"""Shared fixtures: a throwaway copy of this project as its own git + DVC repository."""

from __future__ import annotations

import copy
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Project files a DVC run needs; outputs, caches and the virtualenv stay behind.
PROJECT_FILES = ("dvc.yaml", "params.yaml", ".dvcignore", ".gitignore", ".dvc/config", ".dvc/.gitignore")
PROJECT_DIRS = ("stages", "pipeline", "umtfss", "configs")

# Small enough for a test, big enough that every stage has real work.
TINY_PARAMS: dict[str, Any] = {
    "prepare": {"embedded": {"n_train": 48, "n_val": 24, "min_size": 64, "max_size": 96}},
    "selfsup": {"steps": 2, "batch_size": 4, "crop_size": 32, "layer": "layer2", "checkpoint_every": 1,
                "log_every": 1},
    "extract": {"input_size": 96, "batch_size": 16, "images_per_shard": 16},
    "cluster": {"n_clusters": 8, "subset_images": 24, "max_iter": 10},
    "episodes": {"min_area": 64},
    "model": {"dim": 32, "heads": 4, "k_fg": 8, "k_bg": 16},
    "pretrain": {"steps": 4, "batch_size": 2, "crop_size": 64, "checkpoint_every": 2, "log_every": 1},
    "evaluate": {"episodes": 4, "seeds": [0], "shots": [1], "size": 64, "overlay_episodes": 2},
    "finetune": {"fractions": [20, 100], "train": {"steps": 2, "batch_size": 2, "crop_size": 64,
                                                    "checkpoint_every": 1, "log_every": 1},
                 "score": {"episodes": 4, "seeds": [0]}},
}


def deep_update(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``base`` with ``update`` merged in, nested mappings merged key by key."""
    merged = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_update(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


class Project:
    """A copy of the project in a temporary git repository, driven through the real ``dvc`` CLI."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def run(self, *args: str, check: bool = True, timeout: float = 1200, **kwargs: Any) -> subprocess.CompletedProcess:
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               "DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
        result = subprocess.run(args, cwd=self.root, env=env, capture_output=True, text=True, timeout=timeout,
                                **kwargs)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    def dvc(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess:
        return self.run("dvc", *args, **kwargs)

    def params(self) -> dict[str, Any]:
        return yaml.safe_load((self.root / "params.yaml").read_text())

    def set_params(self, update: dict[str, Any]) -> None:
        (self.root / "params.yaml").write_text(yaml.safe_dump(deep_update(self.params(), update), sort_keys=False))

    def commit(self, message: str = "update") -> None:
        self.run("git", "add", "-A")
        self.run("git", "commit", "-qm", message, "--allow-empty")

    def run_stage_until_killed(self, stage: str, first_state: Path, timeout: float = 120) -> None:
        """Start ``python -m stages.<stage>``, SIGKILL it as soon as ``first_state`` exists (well before its
        last step), and check that the kill, not the stage's end, stopped it."""
        process = subprocess.Popen([sys.executable, "-m", f"stages.{stage}"], cwd=self.root,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not first_state.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        assert process.wait() == -signal.SIGKILL, "the stage ended before it could be killed"

    def ran(self, result: subprocess.CompletedProcess, stage: str) -> bool:
        """Whether a ``dvc repro`` output shows ``stage`` actually running (not skipped)."""
        return f"Running stage '{stage}'" in result.stdout


def create_project(root: Path, update: dict[str, Any] | None = None) -> Project:
    """Copy the project into ``root`` (a new git repository) with tiny params and ``update`` applied."""
    root.mkdir(parents=True, exist_ok=True)
    for rel in PROJECT_FILES:
        if (PROJECT_ROOT / rel).exists():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(PROJECT_ROOT / rel, root / rel)
    for rel in PROJECT_DIRS:
        shutil.copytree(PROJECT_ROOT / rel, root / rel, ignore=shutil.ignore_patterns("__pycache__"))
    project = Project(root)
    project.run("git", "init", "-q", "-b", "main")
    project.set_params(deep_update(TINY_PARAMS, update or {}))
    project.commit("init")
    return project


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[..., Project]:
    """Factory: ``make_project(params_update)`` -> a committed temp project with tiny params applied."""

    def factory(update: dict[str, Any] | None = None, name: str = "project") -> Project:
        return create_project(tmp_path / name, update)

    return factory
