"""`cluster` and `assign` through the real dvc CLI: they run after extract, and only they rerun for k."""

from __future__ import annotations

import json

import zarr


def test_repro_assign_then_n_clusters_reruns_only_cluster_and_assign(make_project) -> None:
    project = make_project()
    first = project.dvc("repro", "assign")
    assert all(project.ran(first, stage) for stage in ("prepare", "extract", "cluster", "assign"))
    labels = zarr.open_group(str(project.root / "artifacts" / "labels.zarr"), mode="r")
    assert labels.attrs["n_clusters"] == 8 and labels["labels"].shape[0] == 48
    quality = json.loads((project.root / "metrics" / "assign.json").read_text())
    assert 0 < quality["nmi"] <= 1 and 0 < quality["purity"] <= 1 and quality["n_images"] == 48
    cluster = json.loads((project.root / "metrics" / "cluster.json").read_text())
    assert cluster["engine"] in ("cpu", "cuml") and sum(cluster["cluster_sizes"]) == cluster["n_points"]

    project.commit("first run")
    project.set_params({"cluster": {"n_clusters": 6}})
    second = project.dvc("repro", "assign")
    assert project.ran(second, "cluster") and project.ran(second, "assign")
    assert not project.ran(second, "extract") and not project.ran(second, "prepare")
    assert zarr.open_group(str(project.root / "artifacts" / "labels.zarr"), mode="r").attrs["n_clusters"] == 6
