"""The embedded benchmark: same seed same bytes, PASCAL-5i-shaped classes and folds, valid masks."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from umtfss.data.config import EmbeddedConfig, PrepareConfig
from umtfss.data.datasets import prepare_dataset
from umtfss.data.embedded import make_materials
from umtfss.data.images import load_image, load_mask

SMALL = {"n_train": 24, "n_val": 12, "min_size": 48, "max_size": 80}


def build(tmp_path: Path, name: str, **changes: int) -> tuple:
    cfg = PrepareConfig(embedded=EmbeddedConfig(**{**SMALL, **changes}))
    frame, info = prepare_dataset(cfg, tmp_path / name)
    return frame, info, tmp_path / name


def file_hashes(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_other_images(tmp_path: Path) -> None:
    _, _, folder = build(tmp_path, "a")
    hashes = file_hashes(folder)
    assert len(hashes) == 2 * 36 + 1
    build(tmp_path, "a")  # again, over the first
    assert file_hashes(folder) == hashes
    build(tmp_path, "a", seed=1)
    other = file_hashes(folder)
    assert all(other[k] != v for k, v in hashes.items() if k.startswith("images/"))


def test_val_images_do_not_depend_on_the_train_size(tmp_path: Path) -> None:
    _, _, small = build(tmp_path, "a")
    _, _, large = build(tmp_path, "b", n_train=30)
    val = {k: v for k, v in file_hashes(small).items() if "val_" in k}
    assert val and all(file_hashes(large)[k] == v for k, v in val.items())


def test_manifest_rows_match_the_files(tmp_path: Path) -> None:
    frame, info, folder = build(tmp_path, "a")
    assert info.n_classes == 20 and info.folds[1] == [6, 7, 8, 9, 10]
    assert frame["split"].value_counts().to_dict() == {"train": 24, "val": 12}
    descriptor = json.loads((folder / "dataset.json").read_text())
    assert descriptor["class_names"] == info.class_names and descriptor["images"] == {"train": 24, "val": 12}
    sizes = set()
    for row in frame.itertuples():
        # Rows name the final folder; the files were written there atomically.
        assert Path(row.image_path).parent == folder / "images"
        image, mask = load_image(row.image_path), load_mask(row.mask_path)
        assert image.shape == (row.height, row.width, 3) and mask.shape == (row.height, row.width)
        assert 48 <= min(image.shape[:2]) and max(image.shape[:2]) <= 80
        assert set(np.unique(mask)) <= set(range(21)) | {255}
        np.testing.assert_array_equal(np.bincount(mask[mask != 255], minlength=21), row.class_pixels)
        assert sum(row.class_pixels[1:]) > 0, "every scene shows an object"
        sizes.add(image.shape[:2])
    assert len(sizes) > 10  # sizes and aspect ratios vary


def test_classes_are_covered_and_objects_have_an_ignore_border(tmp_path: Path) -> None:
    frame, _, _ = build(tmp_path, "a", n_train=120, max_objects=3)
    pixels = np.stack(frame["class_pixels"].to_numpy())
    assert (pixels[:, 1:] > 0).sum(axis=0).min() >= 3  # every class appears in several images
    mask = np.asarray(load_mask(frame["mask_path"][0]))
    assert (mask == 255).any()
    assert 0.1 < pixels[:, 1:].sum() / pixels.sum() < 0.6  # objects cover a fair share, like VOC


def test_classes_sharing_colours_differ_in_texture_and_fold() -> None:
    objects, stuff = make_materials(EmbeddedConfig(n_classes=24, n_stuff=3))
    assert len(objects) == 24 and len(stuff) == 3
    by_colour: dict = {}
    for class_id, material in enumerate(objects, start=1):
        by_colour.setdefault(material.colours, []).append((class_id, material.pattern))
    assert len(by_colour) == 12
    for (a, pattern_a), (b, pattern_b) in by_colour.values():
        assert pattern_a != pattern_b
        assert (a - 1) // 6 != (b - 1) // 6  # in different folds (6 classes per fold)


@pytest.mark.parametrize("changes", [{"n_classes": 22}, {"min_size": 90, "max_size": 80}])
def test_invalid_embedded_config_is_refused(changes: dict) -> None:
    with pytest.raises(ValueError):
        EmbeddedConfig(**changes)
