"""Applying a params set (configs/*.yaml) to params.yaml: merged, validated before writing, comments kept."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.configure import configure
from pipeline.params import ParamsError, load_params
from tests.conftest import PROJECT_ROOT


@pytest.fixture
def params_file(tmp_path: Path) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text((PROJECT_ROOT / "params.yaml").read_text())
    return path


def test_ccp_set_applies_with_overrides_and_keeps_comments(params_file: Path) -> None:
    configure(PROJECT_ROOT / "configs/ccp.yaml", ["prepare.root=/data/ccp", "pretrain.steps=7"], params_file)
    params = load_params(params_file)
    assert params.prepare.dataset == "ccp" and params.prepare.root == "/data/ccp"
    assert params.pretrain.steps == 7 and params.model.backbone.arch == "efficientnet_lite0"
    assert params.prepare.ccp.background_classes == ["null", "skin", "hair"]
    assert params.finetune.train.batch_size == 4  # untouched keys of a merged section keep their value
    # Pseudo masks are nearest-centroid maps of the extract grid: the set pretrains on that grid, unaugmented,
    # with the prior from the clustered level (README, "Pseudo episodes on the feature grid").
    assert params.pretrain.crop_size == params.extract.input_size == params.evaluate.size
    augment = params.pretrain.augment
    assert tuple(augment.scale) == (1.0, 1.0) and augment.rotate_deg == 0 and not augment.flip
    assert params.model.prior_layer == params.extract.layer and params.assign.superpixels == "none"
    text = params_file.read_text()
    assert "# umtfss pipeline parameters" in text and "train_list: null" in text


def test_invalid_result_is_refused_and_nothing_is_written(params_file: Path, tmp_path: Path) -> None:
    before = params_file.read_text()
    with pytest.raises(ParamsError, match=r"model.prior_layer: 'layer4' is not a level of efficientnet_lite0; valid:"):
        configure(PROJECT_ROOT / "configs/ccp.yaml", ["model.prior_layer=layer4"], params_file)
    bad_set = tmp_path / "bad.yaml"
    bad_set.write_text(yaml.safe_dump({"cluster": {"n_clustres": 5}}))
    with pytest.raises(ParamsError, match="cluster.n_clustres: unknown key"):
        configure(bad_set, [], params_file)
    with pytest.raises(ParamsError, match="expected key.path=value"):
        configure(bad_set, ["cluster.n_clusters"], params_file)
    assert params_file.read_text() == before


def test_command_line_exits_2_with_the_message(params_file: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "pipeline.configure", "configs/nope.yaml", "--params",
                             str(params_file)], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and "configs/nope.yaml not found" in result.stderr
