"""Stage `prepare` through the real `dvc` CLI: it runs, a second run skips, a changed param reruns it."""

from __future__ import annotations

from collections.abc import Callable

from tests.conftest import Project


def test_repro_skip_and_rerun_on_param_change(make_project: Callable[..., Project]) -> None:
    project = make_project({"prepare": {"embedded": {"n_train": 24, "n_val": 12}}})
    first = project.dvc("repro", "prepare")
    assert project.ran(first, "prepare")
    assert (project.root / "data" / "manifest.parquet").is_file()
    assert (project.root / "data" / "fractions" / "train_5.txt").is_file()
    hashes = (project.root / "dvc.lock").read_text()

    second = project.dvc("repro", "prepare")
    assert not project.ran(second, "prepare")
    assert "didn't change" in second.stdout

    project.set_params({"prepare": {"embedded": {"seed": 1}}})
    third = project.dvc("repro", "prepare")
    assert project.ran(third, "prepare")
    assert (project.root / "dvc.lock").read_text() != hashes

    # A param of another stage does not touch prepare.
    project.set_params({"cluster": {"n_clusters": 9}})
    assert "didn't change" in project.dvc("repro", "prepare").stdout


def test_bad_input_fails_with_its_message(make_project: Callable[..., Project]) -> None:
    project = make_project({"prepare": {"dataset": "folder", "root": "no/such/folder"}})
    result = project.dvc("repro", "prepare", check=False)
    assert result.returncode != 0
    assert "no/such/folder does not exist" in result.stdout + result.stderr
    assert not (project.root / "data" / "manifest.parquet").exists()

