"""PASCAL-5i on a tiny VOC2012 tree in the real formats: JPEG images, palette PNG masks, list files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from umtfss.data.config import PascalConfig, PrepareConfig
from umtfss.data.datasets import prepare_dataset
from umtfss.data.palette import save_mask
from umtfss.data.pascal import CLASS_NAMES, image_list
from umtfss.errors import InputError

LISTS = {"train_list": "lists/train.txt", "val_list": "lists/val.txt"}


def write_pair(root: Path, image_id: str, mask: np.ndarray,
               image_size: tuple[int, int] | None = None) -> None:
    height, width = image_size or mask.shape
    rng = np.random.default_rng(len(image_id))
    Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(
        root / "JPEGImages" / f"{image_id}.jpg", quality=90)
    save_mask(mask, root / "SegmentationClassAug" / f"{image_id}.png")


def voc_tree(root: Path, masks: dict[str, np.ndarray], split_of: dict[str, str]) -> Path:
    for sub in ("JPEGImages", "SegmentationClassAug", "lists"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for image_id, mask in masks.items():
        write_pair(root, image_id, mask)
    for split in ("train", "val"):
        (root / "lists" / f"{split}.txt").write_text("".join(
            f"JPEGImages/{i}.jpg SegmentationClassAug/{i}.png\n" for i, s in split_of.items() if s == split))
    return root


def mask_with(classes: list[int], shape: tuple[int, int] = (24, 32)) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    for k, class_id in enumerate(classes):
        mask[2 + 4 * k: 5 + 4 * k, 3:20] = class_id
    mask[-1, :] = 255
    return mask


def test_pascal5i_rows_classes_and_folds(tmp_path: Path) -> None:
    masks = {"2008_000001": mask_with([1, 15]), "2008_000002": mask_with([20], (30, 18)),
             "2007_000003": mask_with([7])}
    root = voc_tree(tmp_path / "VOC2012", masks, {"2008_000001": "train", "2008_000002": "train",
                                                  "2007_000003": "val"})
    cfg = PrepareConfig(dataset="pascal5i", root=str(root), pascal5i=PascalConfig(**LISTS))
    frame, info = prepare_dataset(cfg, tmp_path / "dataset")
    assert info.class_names == CLASS_NAMES and info.folds[3] == [16, 17, 18, 19, 20]
    assert frame["image_id"].tolist() == ["2008_000001", "2008_000002", "2007_000003"]
    assert frame["split"].tolist() == ["train", "train", "val"]
    row = frame.iloc[1]
    assert (row["width"], row["height"]) == (18, 30)
    assert row["image_path"] == str(root / "JPEGImages" / "2008_000002.jpg")
    expected = np.bincount(masks["2008_000002"].ravel(), minlength=256)[:21]
    np.testing.assert_array_equal(row["class_pixels"], expected)
    descriptor = json.loads((tmp_path / "dataset" / "dataset.json").read_text())
    assert descriptor["source"] == str(root) and descriptor["images"] == {"train": 2, "val": 1}
    assert descriptor["lists"] == {"train": "lists/train.txt", "val": "lists/val.txt"}
    assert len(descriptor["images_sha256"]) == 64


def test_shipped_lists_are_the_standard_ones(tmp_path: Path) -> None:
    train, val = image_list(tmp_path, "train", None), image_list(tmp_path, "val", None)
    assert (len(train), len(val)) == (5953, 1449)
    assert train[0] == ("JPEGImages/2008_000008.jpg", "SegmentationClassAug/2008_000008.png")
    assert not {i for i, _ in train} & {i for i, _ in val}
    # Without list overrides the shipped lists are used: the tiny tree lacks their first image.
    (tmp_path / "VOC2012").mkdir()
    with pytest.raises(InputError, match="2008_000008.jpg"):
        prepare_dataset(PrepareConfig(dataset="pascal5i", root=str(tmp_path / "VOC2012")), tmp_path / "out")


@pytest.mark.parametrize(("damage", "message"), [
    ("unknown_class", r"2008_000002.png holds class ids \[21, 40\]"),
    ("size_mismatch", "2008_000002.png is 32x24 but its image .*2008_000002.jpg is 20x24"),
    ("missing_image", "image not found: .*2008_000002.jpg"),
    ("corrupt_image", "2008_000002.jpg is not a readable image"),
    ("missing_mask", "mask not found: .*2008_000002.png"),
    ("bad_list_line", "train.txt line 2"),
])
def test_bad_input_names_the_file_and_writes_nothing(tmp_path: Path, damage: str, message: str) -> None:
    masks = {"2008_000001": mask_with([1]), "2008_000002": mask_with([2])}
    root = voc_tree(tmp_path / "VOC2012", masks, {"2008_000001": "train", "2008_000002": "val"})
    target = "2008_000002"
    if damage == "unknown_class":
        save_mask(mask_with([21, 40]), root / "SegmentationClassAug" / f"{target}.png")
    elif damage == "size_mismatch":
        write_pair(root, target, mask_with([2]), image_size=(24, 20))
    elif damage == "missing_image":
        (root / "JPEGImages" / f"{target}.jpg").unlink()
    elif damage == "corrupt_image":
        path = root / "JPEGImages" / f"{target}.jpg"
        path.write_bytes(path.read_bytes()[:150])
    elif damage == "missing_mask":
        (root / "SegmentationClassAug" / f"{target}.png").unlink()
    else:
        with (root / "lists" / "train.txt").open("a") as handle:
            handle.write("JPEGImages/only_one_column.jpg\n")
    cfg = PrepareConfig(dataset="pascal5i", root=str(root), pascal5i=PascalConfig(**LISTS))
    with pytest.raises(InputError, match=message):
        prepare_dataset(cfg, tmp_path / "dataset")
    assert not (tmp_path / "dataset").exists()
    assert not list(tmp_path.glob(".*.partial"))


def test_missing_root_or_list_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nowhere"):
        prepare_dataset(PrepareConfig(dataset="pascal5i", root=str(tmp_path / "nowhere")), tmp_path / "d")
    (tmp_path / "VOC2012").mkdir()
    cfg = PrepareConfig(dataset="pascal5i", root=str(tmp_path / "VOC2012"), pascal5i=PascalConfig(**LISTS))
    with pytest.raises(InputError, match="train list .*lists/train.txt not found"):
        prepare_dataset(cfg, tmp_path / "d")
