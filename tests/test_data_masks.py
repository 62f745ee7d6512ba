"""A user's labelled folder: train/ and val/ with images/ and class-id PNG masks/, written by the tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from umtfss.data.config import MasksConfig, PrepareConfig
from umtfss.data.datasets import prepare_dataset
from umtfss.data.images import load_mask
from umtfss.data.palette import save_mask
from umtfss.errors import InputError

NAMES = ["background", "cat", "dog", "cow", "horse", "sheep"]


def stripes(*ids: int, shape: tuple[int, int] = (12, 10)) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    for k, class_id in enumerate(ids):
        mask[2 * k: 2 * k + 2] = class_id
    return mask


def write_image(path: Path, shape: tuple[int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((*shape, 3), 120, np.uint8)).save(path)


def write_pair(root: Path, split: str, name: str, mask: np.ndarray | None) -> None:
    write_image(root / split / "images" / name, (12, 10) if mask is None else mask.shape)
    (root / split / "masks").mkdir(parents=True, exist_ok=True)
    if mask is not None:
        save_mask(mask, root / split / "masks" / f"{Path(name).stem}.png")


def mask_tree(root: Path) -> Path:
    write_pair(root, "train", "a.jpg", stripes(1, 2, 255))
    write_pair(root, "train", "b.PNG", stripes(3, 200, shape=(8, 6)))  # 200: an ignore id to rewrite
    write_pair(root, "train", "u.jpeg", None)  # no mask: unlabeled
    write_pair(root, "val", "c.jpg", stripes(4, 5))
    return root


def prepare(root: Path, out: Path, **masks: Any) -> tuple[Any, Any, dict]:
    params = {"class_names": NAMES, "ignore_ids": [200, 255], "n_folds": 2, **masks}
    cfg = PrepareConfig(dataset="masks", root=str(root), masks=MasksConfig(**params))
    frame, info = prepare_dataset(cfg, out)
    return frame, info, json.loads((out / "dataset.json").read_text())


def test_rows_ignore_remapping_and_contiguous_folds(tmp_path: Path) -> None:
    root = mask_tree(tmp_path / "mine")
    frame, info, descriptor = prepare(root, tmp_path / "dataset")
    assert info.name == "masks" and info.class_names == NAMES
    assert info.folds == [[1, 2, 3], [4, 5]]
    rows = frame.set_index("image_id")
    assert rows.index.tolist() == ["a", "b", "u", "c"]
    assert rows["split"].tolist() == ["train", "train", "train", "val"]
    assert rows.loc["b", "image_path"] == str(root / "train/images/b.PNG")
    # Only 255 in a: the manifest points at the user's own mask; b held 200, so it is rendered.
    assert rows.loc["a", "mask_path"] == str(root / "train/masks/a.png")
    assert rows.loc["b", "mask_path"] == str(tmp_path / "dataset/masks/b.png")
    np.testing.assert_array_equal(load_mask(rows.loc["b", "mask_path"]), stripes(3, 255, shape=(8, 6)))
    assert rows[["mask_path", "class_pixels"]].isna().loc["u"].all()  # unlabeled
    assert (rows.loc["b", "width"], rows.loc["b", "height"]) == (6, 8)
    assert rows.loc["a", "class_pixels"] == [60, 20, 20, 0, 0, 0]  # 255 not counted
    assert rows.loc["c", "class_pixels"] == [80, 0, 0, 0, 20, 20]
    assert descriptor["ignore_ids"] == [200, 255] and descriptor["rendered_masks"] == 1
    assert descriptor["images"] == {"train": 3, "val": 1}
    assert sorted(p.name for p in (tmp_path / "dataset/masks").iterdir()) == ["b.png"]


def test_explicit_folds(tmp_path: Path) -> None:
    root = mask_tree(tmp_path / "mine")
    _, info, descriptor = prepare(root, tmp_path / "dataset", n_folds=None, folds=[[5, 1], [2], [4]])
    assert info.folds == [[1, 5], [2], [4]] and descriptor["folds"] == [[1, 5], [2], [4]]
    _, info, _ = prepare(root, tmp_path / "dataset", n_folds=4)
    assert info.folds == [[1, 2], [3], [4], [5]]


@pytest.mark.parametrize(("params", "message"), [
    ({"n_folds": None}, "set exactly one of folds .* and n_folds"),
    ({"folds": [[1], [2]]}, "set exactly one of folds .* and n_folds"),
    ({"n_folds": None, "folds": [[1, 6]]}, r"fold 0 must list declared class ids 1..5, got \[1, 6\]"),
    ({"n_folds": None, "folds": [[1], []]}, r"fold 1 must list declared class ids 1..5, got \[\]"),
    ({"n_folds": None, "folds": [[0, 1]]}, r"fold 0 must list declared class ids 1..5"),
    ({"n_folds": None, "folds": [[1, 2], [3, 2]]}, r"disjoint: class ids \[2\] repeat in fold 1"),
    ({"n_folds": None, "folds": [[1, 1]]}, r"disjoint: class ids \[1\] repeat in fold 0"),
    ({"n_folds": 6}, r"n_folds \(6\) exceeds the 5 declared object classes"),
    ({"ignore_ids": [5, 255]}, r"ignore_ids must be distinct ids in 6..255 .*got \[5, 255\]"),
    ({"ignore_ids": [255, 255]}, r"ignore_ids must be distinct ids in 6..255"),
    ({"ignore_ids": [256]}, r"ignore_ids must be distinct ids in 6..255"),
    ({"class_names": ["background"]}, "at least 2 items"),
])
def test_bad_config_is_explained_at_load(params: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        MasksConfig(**{"class_names": NAMES, "n_folds": 2, **params})


def test_masks_dataset_needs_its_section() -> None:
    with pytest.raises(ValidationError, match="dataset 'masks' needs a masks section"):
        PrepareConfig(dataset="masks", root="somewhere")


@pytest.mark.parametrize(("damage", "message"), [
    ("no_root", r"masks dataset root .*mine is not a folder"),
    ("no_val_masks", r"masks dataset .*mine lacks the folder .*val/masks"),
    ("no_train_images", r"masks dataset .*mine lacks the folder .*train/images"),
    ("empty_val", r"val/images holds no images"),
    ("orphan_mask", r"mask .*train/masks/z.png has no image z.jpg/.jpeg/.png in .*train/images"),
    ("two_suffixes", r"image id 'a' occurs twice in .*train/images: a.jpg and a.png"),
    ("in_both_splits", r"image id 'c' is in both train and val"),
    ("val_without_mask", r"val image .*val/images/v.jpg has no mask .*val/masks/v.png"),
    ("undeclared_id", r"mask .*val/masks/c.png holds class ids \[6, 9\], neither declared \(0..5 in "
                      r"class_names\) nor in ignore_ids \[200, 255\]"),
    ("undeclared_255", r"mask .*train/masks/a.png holds class ids \[255\], neither declared"),
    ("size_mismatch", r"mask .*val/masks/c.png is 10x12 but its image .*val/images/c.jpg is 7x5"),
    ("not_single_channel", r"mask .*val/masks/c.png must be single-channel"),
])
def test_bad_input_names_the_file_and_writes_nothing(tmp_path: Path, damage: str, message: str) -> None:
    root = mask_tree(tmp_path / "mine")
    params: dict[str, Any] = {}
    if damage == "no_root":
        root.rename(tmp_path / "moved")
    elif damage == "no_val_masks":
        (root / "val/masks/c.png").unlink()
        (root / "val/masks").rmdir()
    elif damage == "no_train_images":
        (root / "train/images").rename(root / "train/pictures")
    elif damage == "empty_val":
        (root / "val/images/c.jpg").unlink()
        (root / "val/masks/c.png").unlink()
    elif damage == "orphan_mask":
        save_mask(stripes(1), root / "train/masks/z.png")
    elif damage == "two_suffixes":
        write_image(root / "train/images/a.png", (12, 10))
    elif damage == "in_both_splits":
        write_pair(root, "train", "c.jpg", stripes(1))
    elif damage == "val_without_mask":
        write_image(root / "val/images/v.jpg", (12, 10))
    elif damage == "undeclared_id":
        save_mask(stripes(4, 6, 9), root / "val/masks/c.png")
    elif damage == "undeclared_255":
        params["ignore_ids"] = [200]
    elif damage == "size_mismatch":
        write_image(root / "val/images/c.jpg", (5, 7))
    elif damage == "not_single_channel":
        Image.fromarray(np.zeros((12, 10, 3), np.uint8)).save(root / "val/masks/c.png")
    with pytest.raises(InputError, match=message):
        prepare(root, tmp_path / "dataset", **params)
    assert not (tmp_path / "dataset").exists()
    assert not list(tmp_path.glob(".*.partial"))
