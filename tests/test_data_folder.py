"""An image folder as an unlabeled pool: found recursively, no masks, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from umtfss.data.config import PrepareConfig
from umtfss.data.datasets import prepare_dataset
from umtfss.errors import InputError


def test_folder_is_an_unlabeled_train_pool(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    (root / "trip" / ".thumbnails").mkdir(parents=True)
    Image.fromarray(np.zeros((10, 20, 3), np.uint8)).save(root / "a.JPG")
    Image.fromarray(np.zeros((12, 8), np.uint8)).save(root / "trip" / "b.png")
    Image.fromarray(np.zeros((5, 5, 3), np.uint8)).save(root / "trip" / ".thumbnails" / "b.png")
    (root / "notes.txt").write_text("not an image")
    frame, info = prepare_dataset(PrepareConfig(dataset="folder", root=str(root)), tmp_path / "dataset")
    assert frame["image_id"].tolist() == ["a.JPG", "trip/b.png"]
    assert frame[["width", "height"]].values.tolist() == [[20, 10], [8, 12]]
    assert frame["split"].eq("train").all()
    assert frame["mask_path"].isna().all() and frame["class_pixels"].isna().all()
    assert info.n_classes == 0 and info.folds == []
    assert (tmp_path / "dataset" / "dataset.json").is_file()


def test_empty_missing_or_corrupt_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.md").write_text("nothing here")
    with pytest.raises(InputError, match="empty holds no images"):
        prepare_dataset(PrepareConfig(dataset="folder", root=str(tmp_path / "empty")), tmp_path / "d")
    with pytest.raises(InputError, match="absent does not exist"):
        prepare_dataset(PrepareConfig(dataset="folder", root=str(tmp_path / "absent")), tmp_path / "d")
    (tmp_path / "broken").mkdir()
    Image.fromarray(np.zeros((10, 20, 3), np.uint8)).save(tmp_path / "broken" / "fine.png")
    (tmp_path / "broken" / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    with pytest.raises(InputError, match="bad.jpg is not a readable image"):
        prepare_dataset(PrepareConfig(dataset="folder", root=str(tmp_path / "broken")), tmp_path / "d")
    assert not (tmp_path / "d").exists()


def test_non_embedded_datasets_need_a_root() -> None:
    with pytest.raises(ValueError, match="root is required for dataset 'folder'"):
        PrepareConfig(dataset="folder")
