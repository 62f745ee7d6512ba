"""COCO-20i on a tiny COCO tree in the real formats: JPEGs and instances JSON with polygons, RLE and crowd."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from umtfss.data.config import CocoConfig, PrepareConfig
from umtfss.data.datasets import prepare_dataset
from umtfss.data.images import load_mask
from umtfss.errors import InputError

# COCO's 80 category ids skip some numbers; class ids are their ranks 1..80.
CATEGORY_IDS = [i for i in range(1, 91) if i not in {12, 26, 29, 30, 45, 66, 68, 69, 71, 83}]
H, W = 30, 40


def box(x0: int, y0: int, x1: int, y1: int) -> list[list[float]]:
    return [[x0, y0, x1, y0, x1, y1, x0, y1]]


def rle(binary: np.ndarray, compressed: bool) -> dict[str, Any]:
    if compressed:
        encoded = mask_utils.encode(np.asfortranarray(binary.astype(np.uint8)))
        return {"size": encoded["size"], "counts": encoded["counts"].decode()}
    runs, value, count = [], 0, 0
    for pixel in binary.ravel(order="F"):  # column-major runs, starting with zeros
        if pixel != value:
            runs.append(count)
            value, count = pixel, 0
        count += 1
    return {"size": [binary.shape[0], binary.shape[1]], "counts": runs + [count]}


def write_split(root: Path, split: str, images: dict[str, tuple[int, int]], annotations: list[dict]) -> None:
    (root / f"{split}2014").mkdir(parents=True, exist_ok=True)
    (root / "annotations").mkdir(exist_ok=True)
    entries = []
    for index, (name, (height, width)) in enumerate(images.items(), start=1):
        Image.fromarray(np.full((height, width, 3), 90, np.uint8)).save(root / f"{split}2014" / name)
        entries.append({"id": index, "file_name": name, "height": height, "width": width})
    categories = [{"id": c, "name": "person" if c == 1 else f"thing{c}", "supercategory": "x"}
                  for c in CATEGORY_IDS]
    for number, annotation in enumerate(annotations, start=1):
        annotation.setdefault("iscrowd", 0)
        annotation["id"] = number
    (root / "annotations" / f"instances_{split}2014.json").write_text(
        json.dumps({"images": entries, "annotations": annotations, "categories": categories}))


def coco_tree(root: Path) -> Path:
    crowd = np.zeros((H, W), bool)
    crowd[20:30, 25:40] = True
    far_corner = np.zeros((H, W), bool)
    far_corner[0:6, 34:40] = True
    write_split(root, "train", {"COCO_train2014_a.jpg": (H, W), "COCO_train2014_b.jpg": (20, 20)}, [
        {"image_id": 1, "category_id": 3, "segmentation": box(5, 5, 12, 12)},          # small, listed first
        {"image_id": 1, "category_id": 1, "segmentation": box(2, 2, 30, 25)},          # large, under it
        {"image_id": 1, "category_id": 1, "segmentation": rle(crowd, False), "iscrowd": 1},
        {"image_id": 1, "category_id": 90, "segmentation": rle(far_corner, True)},
    ])
    write_split(root, "val", {"COCO_val2014_c.jpg": (H, W)}, [
        {"image_id": 1, "category_id": 2, "segmentation": box(0, 0, 10, 10)},
    ])
    return root


def test_coco20i_masks_follow_the_crowd_and_overlap_rules(tmp_path: Path) -> None:
    root = coco_tree(tmp_path / "coco")
    frame, info = prepare_dataset(PrepareConfig(dataset="coco20i", root=str(root)), tmp_path / "dataset")
    assert info.n_classes == 80 and info.class_names[1] == "person" and info.class_names[80] == "thing90"
    assert info.folds[0] == list(range(1, 80, 4)) and info.folds[3] == list(range(4, 81, 4))
    assert frame["image_id"].tolist() == ["COCO_train2014_a", "COCO_train2014_b", "COCO_val2014_c"]
    assert frame["split"].tolist() == ["train", "train", "val"]
    a = load_mask(frame["mask_path"][0])
    assert frame["mask_path"][0] == str(tmp_path / "dataset" / "masks" / "COCO_train2014_a.png")
    assert a.shape == (H, W)
    assert a[8, 8] == 3, "the smaller instance wins where instances overlap"
    assert a[20, 20] == 1 and a[22, 20] == 1, "a non-crowd instance covers the crowd region"
    assert a[28, 38] == 255, "crowd is ignored"
    assert a[2, 38] == 80 and a[28, 2] == 0
    np.testing.assert_array_equal(frame["class_pixels"][0], np.bincount(a.ravel(), minlength=256)[:81])
    assert set(np.unique(load_mask(frame["mask_path"][1]))) == {0}, "no annotations: all background"


def test_contiguous_split(tmp_path: Path) -> None:
    root = coco_tree(tmp_path / "coco")
    cfg = PrepareConfig(dataset="coco20i", root=str(root), coco20i=CocoConfig(split="contiguous"))
    _, info = prepare_dataset(cfg, tmp_path / "dataset")
    assert info.folds[1] == list(range(21, 41))


@pytest.mark.parametrize(("damage", "message"), [
    ("missing_image", "image not found: .*COCO_val2014_c.jpg"),
    ("size_mismatch", "COCO_val2014_c.jpg in .*instances_val2014.json is 40x30 but its image .* is 12x10"),
    ("unknown_category", "instances_val2014.json: annotation 1 has unknown category_id 12"),
    ("bad_json", "instances_val2014.json are not readable JSON"),
    ("bad_segmentation", "instances_val2014.json: annotation 1 has an unreadable segmentation"),
])
def test_bad_input_names_the_file_and_writes_nothing(tmp_path: Path, damage: str, message: str) -> None:
    root = coco_tree(tmp_path / "coco")
    annotations_path = root / "annotations" / "instances_val2014.json"
    data = json.loads(annotations_path.read_text())
    if damage == "missing_image":
        (root / "val2014" / "COCO_val2014_c.jpg").unlink()
    elif damage == "size_mismatch":
        Image.fromarray(np.zeros((10, 12, 3), np.uint8)).save(root / "val2014" / "COCO_val2014_c.jpg")
    elif damage == "unknown_category":
        data["annotations"][0]["category_id"] = 12
    elif damage == "bad_segmentation":
        data["annotations"][0]["segmentation"] = {"size": [H, W]}
    if damage == "bad_json":
        annotations_path.write_text("{not json")
    else:
        annotations_path.write_text(json.dumps(data))
    with pytest.raises(InputError, match=message):
        prepare_dataset(PrepareConfig(dataset="coco20i", root=str(root)), tmp_path / "dataset")
    assert not (tmp_path / "dataset").exists()
