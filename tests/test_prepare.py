"""Stage `prepare` in-process: what it writes, and that a bad dataset leaves nothing half-written."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline import paths
from pipeline.params import parse_params
from stages.prepare import main
from umtfss.data.fractions import read_fraction
from umtfss.data.manifest import read_manifest
from umtfss.errors import InputError

TINY = {"embedded": {"n_train": 40, "n_val": 12, "min_size": 48, "max_size": 64}}


def test_prepare_writes_dataset_manifest_and_fractions(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    main(parse_params({"prepare": TINY}))
    frame, info = read_manifest(paths.MANIFEST)
    assert len(frame) == 52 and info.name == "embedded"
    assert all(Path(p).is_file() for p in [*frame["image_path"], *frame["mask_path"]])
    assert not Path(frame["image_path"][0]).is_absolute()  # the project can move
    lists = {p: read_fraction(paths.FRACTIONS, p) for p in (5, 10, 20, 100)}
    assert [len(ids) for ids in lists.values()] == [2, 4, 8, 40]
    assert set(lists[100]) == set(frame.loc[frame["split"] == "train", "image_id"])
    record = json.loads((paths.FRACTIONS / "manifest.json").read_text())
    assert record["source"] == str(paths.MANIFEST)
    assert (paths.DATASET / "dataset.json").is_file()
    assert not list(Path("data").glob(".*.partial"))
    # Each row hashes its image and mask bytes: a changed pixel changes the manifest, which later stages
    # depend on instead of the image folder.
    row = frame.iloc[0]
    expected = hashlib.md5(Path(row["image_path"]).read_bytes() + Path(row["mask_path"]).read_bytes())
    assert row["content_md5"] == expected.hexdigest()
    assert frame["content_md5"].nunique() == len(frame)


def test_failure_leaves_no_artifact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "photos"
    source.mkdir()
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(source / "good.png")
    (source / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    with pytest.raises(InputError, match="broken.png"):
        main(parse_params({"prepare": {"dataset": "folder", "root": str(source)}}))
    assert not paths.MANIFEST.exists() and not paths.DATASET.exists() and not paths.FRACTIONS.exists()
    assert not list(project.rglob(".*.partial"))


def test_unlabeled_pool_gets_empty_fractions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "photos"
    source.mkdir()
    Image.fromarray(np.zeros((16, 24, 3), np.uint8)).save(source / "only.jpg")
    monkeypatch.chdir(tmp_path)
    main(parse_params({"prepare": {"dataset": "folder", "root": str(source)}}))
    frame, _ = read_manifest(paths.MANIFEST)
    assert frame["image_path"].tolist() == [str(source / "only.jpg")]
    assert read_fraction(paths.FRACTIONS, 100) == []
