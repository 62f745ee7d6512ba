"""The real-photo params set (configs/ccp.yaml) through the real `dvc repro`, on a slice of Clothing
Co-Parsing (tens of photos) with the packaged ImageNet EfficientNet-Lite0, so the real-data path cannot rot."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import Project

pytestmark = pytest.mark.slow

REAL_CCP = Path(__file__).resolve().parents[2] / "shared" / "data" / "ccp"

# configs/ccp.yaml with every size cut to a test's; the stages, backbone and dataset adapter stay real.
SLICE = {
    "prepare": {"ccp": {"max_labeled": 48, "max_unlabeled": 12, "min_images": 3}, "fractions": {"percents": [100]}},
    "selfsup": {"steps": 2, "batch_size": 4, "crop_size": 64, "checkpoint_every": 1, "log_every": 1},
    "extract": {"input_size": 128, "images_per_shard": 16},
    "cluster": {"n_clusters": 8, "subset_images": 24, "max_iter": 10},
    "episodes": {"min_area": 1024},
    "model": {"dim": 32, "heads": 4, "k_fg": 8, "k_bg": 16},
    "pretrain": {"steps": 3, "batch_size": 2, "crop_size": 96, "checkpoint_every": 1, "log_every": 1},
    "evaluate": {"folds": [0], "shots": [1], "episodes": 3, "seeds": [0], "size": 96,
                 "calibration_episodes": 3, "overlay_episodes": 2},
    "finetune": {"fractions": [100], "train": {"steps": 2, "batch_size": 2, "crop_size": 96,
                                               "checkpoint_every": 1, "log_every": 1},
                 "score": {"episodes": 3}},
}


@pytest.mark.skipif(not REAL_CCP.is_dir(), reason=f"Clothing Co-Parsing is not at {REAL_CCP}")
def test_ccp_params_set_runs_the_whole_dag(make_project, tmp_path: Path) -> None:
    project: Project = make_project()
    overlay = tmp_path / "slice.yaml"
    overlay.write_text(yaml.safe_dump(SLICE))
    project.run(sys.executable, "-m", "pipeline.configure", "configs/ccp.yaml", "--set", f"prepare.root={REAL_CCP}")
    project.run(sys.executable, "-m", "pipeline.configure", str(overlay))
    params = project.params()
    assert params["prepare"]["dataset"] == "ccp" and params["model"]["backbone"]["arch"] == "efficientnet_lite0"
    project.commit("ccp slice")
    result = project.dvc("repro")
    for stage in ("prepare", "selfsup", "extract", "cluster", "assign", "episodes", "pretrain", "evaluate",
                  "summarize"):
        assert project.ran(result, stage), stage

    manifest = pd.read_parquet(project.root / "data/manifest.parquet")
    assert len(manifest) == 60 and manifest["image_path"].str.startswith(str(REAL_CCP)).all()
    unlabeled = manifest[manifest["mask_path"].isna()]
    assert len(unlabeled) == 12 and (unlabeled["split"] == "train").all()
    descriptor = json.loads((project.root / "data/dataset/dataset.json").read_text())
    assert descriptor["name"] == "ccp" and len(descriptor["folds"]) == 4
    assert not {"null", "skin", "hair"} & set(descriptor["class_names"][1:])

    evaluate = json.loads((project.root / "metrics/evaluate.json").read_text())
    for predictor in ("pretrained", "untrained", "baseline"):
        assert 0 <= evaluate["fold0"]["1shot"][predictor]["miou_mean"] <= 100
    assert (project.root / "metrics/finetune/fold0-100pct-pretrained-seed0.json").is_file()
    assert "Running stage" not in project.dvc("repro").stdout
