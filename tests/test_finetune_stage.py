"""The `finetune` stage: one matrix item trains on a labeled fraction and scores the fold's novel classes."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import Project, create_project, deep_update
from pipeline.params import parse_params
from umtfss.model import FewShotSegmenter
from umtfss.training.checkpoint import load_model, save_model

# score: all null, so finetuned models are scored exactly as the `evaluate` section says
FINETUNE = {"finetune": {"train": {"steps": 3, "checkpoint_every": 2}, "select": {"every": 2, "episodes": 4},
                         "score": {"shots": None, "episodes": None, "seeds": None}}}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny prepared project with its backbone and a models/pretrain.pt (a fresh model: only its format
    matters here)."""
    project = create_project(tmp_path_factory.mktemp("prepared"), FINETUNE)
    for stage in ("prepare", "selfsup"):
        project.run(sys.executable, "-m", f"stages.{stage}")
    model_cfg = parse_params(project.params()).model
    torch.manual_seed(0)
    with contextlib.chdir(project.root):  # the backbone's weights path is relative to the project
        model = FewShotSegmenter(model_cfg)
    save_model(project.root / "models/pretrain.pt", model, model_cfg, {"stage": "pretrain"})
    return project.root


def _copy(prepared: Path, root: Path, update: dict) -> Project:
    project = create_project(root, deep_update(FINETUNE, update))
    for name in ("data", "models"):
        (project.root / name).mkdir()
    for name in ("dataset", "manifest.parquet", "fractions"):
        (project.root / "data" / name).symlink_to(prepared / "data" / name)
    for name in ("pretrain.pt", "backbone.pt"):
        (project.root / "models" / name).symlink_to(prepared / "models" / name)
    return project


def _finetune(project: Project, init: str, check: bool = True) -> subprocess.CompletedProcess:
    command = ["-m", "stages.finetune", "--fold", "0", "--fraction", "20", "--init", init, "--seed", "0"]
    return project.run(sys.executable, *command, check=check)


@pytest.mark.parametrize("init", ["pretrained", "scratch"])
def test_finetune_writes_its_model_and_novel_class_scores(prepared: Path, tmp_path: Path, init: str) -> None:
    project = _copy(prepared, tmp_path / "p", {})
    _finetune(project, init)

    params = parse_params(project.params())
    model, meta = load_model(project.root / f"models/finetune/fold0-20pct-{init}-seed0.pt", expected=params.model)
    scores = json.loads((project.root / f"metrics/finetune/fold0-20pct-{init}-seed0.json").read_text())
    assert (scores["fold"], scores["fraction"], scores["init"], scores["seed"]) == (0, 20, init, 0)
    # The start and steps 2 and 3 scored on base-class val episodes; the best (earliest on a tie) kept.
    selection = scores["selection"]
    by_step = {int(step): miou for step, miou in selection["base_val_miou"].items()}
    assert sorted(by_step) == [0, 2, 3] and selection["steps"] == 3
    assert selection["chosen_step"] == max(by_step, key=lambda step: (by_step[step], -step))
    assert (meta["stage"], meta["fold"], meta["fraction"], meta["init"], meta["step"]) == (
        "finetune", 0, 20, init, selection["chosen_step"])
    assert meta["selection"] == selection
    result = scores["fold0"]["1shot"]["model"]
    assert 0 <= result["miou_mean"] <= 100
    assert [run["episodes"] for run in result["per_seed"]] == [params.evaluate.episodes] * len(
        params.evaluate.seeds)
    assert not list((project.root / "checkpoints/finetune").rglob("*.pt"))
    if init == "pretrained":  # step 0 is the pretrained model itself; a later step was trained onwards
        pretrained, _ = load_model(project.root / "models/pretrain.pt")
        head = [name for name in model.state_dict() if name.startswith("head.")][0]
        unchanged = torch.equal(model.state_dict()[head], pretrained.state_dict()[head])
        assert unchanged == (selection["chosen_step"] == 0)


def test_epochs_set_the_steps_from_the_fraction_size_and_score_overrides_apply(
    prepared: Path, tmp_path: Path
) -> None:
    update = {"epochs": 2, "train": {"batch_size": 4, "checkpoint_every": 100}, "score": {"episodes": 3}}
    project = _copy(prepared, tmp_path / "p", {"finetune": update})
    _finetune(project, "scratch")
    images = len((prepared / "data/fractions/train_20.txt").read_text().split())
    _, meta = load_model(project.root / "models/finetune/fold0-20pct-scratch-seed0.pt")
    assert meta["selection"]["steps"] == 2 * -(-images // 4)
    scores = json.loads((project.root / "metrics/finetune/fold0-20pct-scratch-seed0.json").read_text())
    assert scores["fold0"]["1shot"]["model"]["per_seed"][0]["episodes"] == 3


def test_a_pretrained_model_of_another_config_is_refused(prepared: Path, tmp_path: Path) -> None:
    project = _copy(prepared, tmp_path / "p", {"model": {"dim": 64}})
    result = _finetune(project, "pretrained", check=False)
    assert result.returncode == 2
    assert "pretrain.pt is of another model config: dim: checkpoint 32, expected 64" in result.stderr
    assert not (project.root / "models/finetune").exists()


def test_selection_keeps_the_snapshot_best_on_base_class_val_episodes(prepared: Path, tmp_path: Path) -> None:
    """A model that marks every pixel foreground scores the class's IoU; one that marks none scores 0."""
    from umtfss.data.manifest import read_manifest
    from umtfss.evaluation.selection import select_snapshot

    params = parse_params(create_project(tmp_path / "p", FINETUNE).params())
    with contextlib.chdir(prepared):
        model = FewShotSegmenter(params.model)
    manifest, info = read_manifest(prepared / "data/manifest.parquet")
    last = model.head.layers[-1]
    files = {}
    for step, foreground in ((0, False), (4, True), (8, True)):
        with torch.no_grad():
            last.weight.zero_()
            last.bias.copy_(torch.tensor([0.0, 1.0] if foreground else [1.0, 0.0]))
        files[step] = tmp_path / f"weights-{step}.pt"
        torch.save(model.state_dict(), files[step])
    with contextlib.chdir(prepared):
        chosen, by_step = select_snapshot(model, files, manifest, info, 0, params.finetune.select,
                                          params.evaluate, device=torch.device("cpu"))
    assert by_step[0] == 0 < by_step[4] == by_step[8]
    assert chosen == 4  # the earlier of the tied best
    assert torch.equal(last.bias, torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="no snapshots"):
        select_snapshot(model, {}, manifest, info, 0, params.finetune.select, params.evaluate,
                        device=torch.device("cpu"))


def test_each_training_seed_is_its_own_run(prepared: Path, tmp_path: Path) -> None:
    project = _copy(prepared, tmp_path / "p", {"finetune": {"seeds": [0, 1]}})
    for seed in ("0", "1"):
        project.run(sys.executable, "-m", "stages.finetune", "--fold", "0", "--fraction", "20", "--init",
                    "scratch", "--seed", seed)
    first, _ = load_model(project.root / "models/finetune/fold0-20pct-scratch-seed0.pt")
    second, meta = load_model(project.root / "models/finetune/fold0-20pct-scratch-seed1.pt")
    assert meta["seed"] == 1
    scores = json.loads((project.root / "metrics/finetune/fold0-20pct-scratch-seed1.json").read_text())
    assert scores["seed"] == 1
    assert not all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values(),
                                                      strict=True))
