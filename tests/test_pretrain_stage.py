"""The `pretrain` stage on real upstream artifacts: model, curves, and a resume after a hard kill."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest
import torch
from conftest import Project, create_project, deep_update

from pipeline.params import parse_params
from umtfss.training.checkpoint import load_model

UPSTREAM = ("prepare", "selfsup", "extract", "cluster", "assign", "episodes")
PRETRAIN = {"pretrain": {"steps": 4, "checkpoint_every": 2, "log_every": 1}}


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny project whose stages up to `episodes` have run: the inputs of `pretrain`."""
    project = create_project(tmp_path_factory.mktemp("upstream"), PRETRAIN)
    for stage in UPSTREAM:
        project.run(sys.executable, "-m", f"stages.{stage}")
    return project.root


def _copy(upstream: Path, root: Path, update: dict) -> Project:
    """A fresh project sharing ``upstream``'s artifacts (read only), with ``update`` on top of its params."""
    project = create_project(root, deep_update(PRETRAIN, update))
    for name in ("data", "artifacts"):
        (project.root / name).symlink_to(upstream / name)
    (project.root / "models").mkdir()
    (project.root / "models/backbone.pt").symlink_to(upstream / "models/backbone.pt")
    return project


def _history(root: Path, name: str) -> list[tuple[int, float]]:
    with open(root / "dvclive/pretrain/plots/metrics" / f"{name}.tsv", newline="") as fobj:
        return [(int(row["step"]), float(row[name])) for row in csv.DictReader(fobj, delimiter="\t")]


def test_pretrain_writes_the_model_and_its_curves(upstream: Path, tmp_path: Path) -> None:
    project = _copy(upstream, tmp_path / "p", {})
    project.run(sys.executable, "-m", "stages.pretrain")

    _, meta = load_model(project.root / "models/pretrain.pt", expected=parse_params(project.params()).model)
    assert meta["stage"] == "pretrain" and meta["step"] == 4
    assert meta["params"]["pretrain"]["steps"] == 4
    assert [step for step, _ in _history(project.root, "loss")] == [1, 2, 3, 4]
    summary = json.loads((project.root / "dvclive/pretrain/metrics.json").read_text())
    assert summary["step"] == 4 and {"loss", "fg_iou", "lr_sgd", "lr_adamw"} <= set(summary)
    assert not (project.root / "dvclive/pretrain/dvc.yaml").exists()
    assert not list((project.root / "checkpoints/pretrain").glob("*.pt"))  # cleared once the model is written


def test_a_killed_pretrain_resumes_to_an_uninterrupted_runs_model(upstream: Path, tmp_path: Path) -> None:
    update = {"pretrain": {"steps": 12, "checkpoint_every": 3, "log_every": 1}}
    whole = _copy(upstream, tmp_path / "whole", update)
    whole.run(sys.executable, "-m", "stages.pretrain")

    killed = _copy(upstream, tmp_path / "killed", update)
    killed.run_stage_until_killed("pretrain", killed.root / "checkpoints/pretrain/state-000000003.pt")
    assert not (killed.root / "models/pretrain.pt").exists()
    resumed = killed.run(sys.executable, "-m", "stages.pretrain")
    assert "resuming from" in resumed.stderr

    a = torch.load(whole.root / "models/pretrain.pt", weights_only=True)["state_dict"]
    b = torch.load(killed.root / "models/pretrain.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(a[name], b[name]) for name in a)
    assert _history(killed.root, "loss") == _history(whole.root, "loss")  # each step logged once, same values


def test_a_state_of_other_params_is_not_resumed(upstream: Path, tmp_path: Path) -> None:
    project = _copy(upstream, tmp_path / "p", {"pretrain": {"steps": 12, "checkpoint_every": 3}})
    project.run_stage_until_killed("pretrain", project.root / "checkpoints/pretrain/state-000000003.pt")
    project.set_params({"pretrain": {"seed": 1}})
    rerun = project.run(sys.executable, "-m", "stages.pretrain")
    assert "of another run" in rerun.stderr and "resuming from" not in rerun.stderr
