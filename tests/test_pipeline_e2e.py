"""The whole DAG through the real `dvc` CLI on a tiny embedded benchmark: reproduction, skipping,
experiments and their comparison, plots, and sharing artifacts through a remote."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Project, create_project

pytestmark = pytest.mark.slow

FINETUNE_ITEMS = [f"fold0-{p}pct-{init}-seed0" for p in (20, 100) for init in ("pretrained", "scratch")]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Project:
    project = create_project(tmp_path_factory.mktemp("e2e") / "project")
    project.dvc("repro")
    project.commit("pipeline built")
    return project


def test_repro_builds_every_artifact(built: Project) -> None:
    root = built.root
    for rel in ("data/manifest.parquet", "data/fractions/train_20.txt", "models/backbone.pt",
                "artifacts/features.zarr",
                "artifacts/centroids.npy", "artifacts/labels.zarr", "artifacts/regions.parquet",
                "artifacts/candidates.parquet", "models/pretrain.pt", "metrics/evaluate.json",
                "metrics/summary.json", "metrics/summary.md", "plots/fraction_miou.csv"):
        assert (root / rel).exists(), rel
    for item in FINETUNE_ITEMS:
        assert (root / "models/finetune" / f"{item}.pt").exists()
        assert (root / "metrics/finetune" / f"{item}.json").exists()
    evaluate = json.loads((root / "metrics/evaluate.json").read_text())
    assert set(evaluate["fold0"]["1shot"]) >= {"pretrained", "untrained", "baseline"}
    # Sharded stores: a handful of files, not one per chunk.
    n_images = len((root / "data/fractions/train_100.txt").read_text().split())
    for store in ("artifacts/features.zarr", "artifacts/labels.zarr"):
        files = [p for p in (root / store).rglob("*") if p.is_file()]
        assert len(files) < n_images, f"{store} has {len(files)} files for {n_images} images"
    # Nothing half-written left next to the artifacts.
    assert not list(root.rglob(".*.partial"))


def test_second_repro_has_nothing_to_do(built: Project) -> None:
    result = built.dvc("repro")
    assert "Running stage" not in result.stdout
    assert "up to date" in built.dvc("status").stdout


def test_param_change_reruns_exactly_the_affected_stages(built: Project, tmp_path: Path) -> None:
    # A real rerun, in a copy so that the built project stays as committed. (`dvc repro --dry` cannot tell:
    # it matches the run cache against the lock file's old params and reports downstream stages unchanged.)
    project = Project(tmp_path / "copy")
    shutil.copytree(built.root, project.root, symlinks=True)
    project.set_params({"cluster": {"n_clusters": built.params()["cluster"]["n_clusters"] + 1}})
    result = project.dvc("repro")
    finetunes = [f"finetune@0-{p}-{init}-0" for p in (20, 100) for init in ("pretrained", "scratch")]
    # `summarize` is not listed: it reruns only if a finetuned score moved, which a tiny run need not do.
    reran = ["cluster", "assign", "episodes", "pretrain", "evaluate", *finetunes]
    for stage in reran:
        assert project.ran(result, stage), stage
    for stage in ("prepare", "selfsup", "extract"):
        assert not project.ran(result, stage), stage
    assert "up to date" in project.dvc("status").stdout


def test_plots_render(built: Project, tmp_path: Path) -> None:
    built.dvc("plots", "show", "-o", str(tmp_path / "plots"))
    html = (tmp_path / "plots" / "index.html").read_text()
    assert "fraction_miou" in html and "loss" in html


def test_remote_round_trip_leaves_nothing_to_reproduce(built: Project, tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    built.dvc("remote", "add", "-d", "shared", str(remote))
    built.commit("remote")
    built.dvc("push")
    clone = Project(tmp_path / "clone")
    subprocess.run(["git", "clone", "-q", str(built.root), str(clone.root)], check=True)
    assert not (clone.root / "models/pretrain.pt").exists()
    clone.dvc("pull")
    assert (clone.root / "models/pretrain.pt").read_bytes() == (built.root / "models/pretrain.pt").read_bytes()
    assert "up to date" in clone.dvc("status").stdout
    assert "Running stage" not in clone.dvc("repro").stdout


def _experiment(shown: list[dict], name: str) -> dict:
    """The data (params and metrics) of experiment ``name`` in `dvc exp show --json`."""
    for baseline in shown:
        for experiments in baseline.get("experiments") or []:
            for state in experiments["revs"]:
                if state.get("name") == name:
                    return state["data"]
    raise AssertionError(f"no experiment {name!r} in {shown}")


def test_experiment_compares_attention_variants(built: Project) -> None:
    built.dvc("exp", "run", "-S", "model.cross_attention=vanilla", "-n", "vanilla")
    shown = _experiment(json.loads(built.dvc("exp", "show", "--json").stdout), "vanilla")
    assert shown["params"]["params.yaml"]["data"]["model"]["cross_attention"] == "vanilla"
    scored = shown["metrics"]["metrics/evaluate.json"]["data"]["fold0"]["1shot"]["pretrained"]["miou_mean"]
    # The experiment's own score: the one its run left in the workspace.
    written = json.loads((built.root / "metrics/evaluate.json").read_text())
    assert scored == written["fold0"]["1shot"]["pretrained"]["miou_mean"] and 0 <= scored <= 100
    params_diff = built.dvc("params", "diff", "HEAD").stdout
    assert "model.cross_attention" in params_diff and "vanilla" in params_diff
    metrics_diff = json.loads(built.dvc("metrics", "diff", "HEAD", "--json").stdout)
    assert any("evaluate.json" in path for path in metrics_diff), metrics_diff
