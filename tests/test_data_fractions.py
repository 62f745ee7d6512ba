"""Labeled fractions: nested, class-stratified, seeded subsets of the labeled train split."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from umtfss.data.fractions import read_fraction, stratified_order, write_fractions
from umtfss.data.manifest import DatasetInfo, write_manifest
from umtfss.errors import InputError

N_CLASSES = 12
PERCENTS = [5, 10, 20, 100]


def skewed_manifest(path: Path, n_images: int = 600, seed: int = 3) -> np.ndarray:
    """A manifest whose classes range from rare (about 20 images) to common, several per image."""
    rng = np.random.default_rng(seed)
    rates = np.geomspace(0.035, 0.5, N_CLASSES)
    presence = rng.random((n_images, N_CLASSES)) < rates
    pixels = np.where(presence, rng.integers(1, 500, presence.shape), 0)
    rows = pd.DataFrame({
        "image_id": [f"img{i:04d}" for i in range(n_images)], "image_path": "x", "mask_path": "m",
        "width": 10, "height": 10, "split": ["val" if i % 10 == 9 else "train" for i in range(n_images)],
        "class_pixels": [[100, *p] for p in pixels.tolist()], "content_md5": "0" * 32,
    })
    info = DatasetInfo(name="toy", class_names=["background"] + [f"c{i}" for i in range(1, N_CLASSES + 1)],
                       folds=[[1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12]])
    write_manifest(rows, info, path)
    return presence


def test_fractions_are_nested_stratified_and_recorded(tmp_path: Path) -> None:
    presence = skewed_manifest(tmp_path / "manifest.parquet")
    counts = write_fractions(tmp_path / "manifest.parquet", tmp_path / "fractions", PERCENTS, seed=0)
    train = [i for i in range(600) if i % 10 != 9]
    assert counts == {5: 27, 10: 54, 20: 108, 100: 540}
    lists = {p: read_fraction(tmp_path / "fractions", p) for p in PERCENTS}
    assert sorted(lists[100]) == [f"img{i:04d}" for i in train]
    for small, large in zip(PERCENTS, PERCENTS[1:], strict=False):
        assert lists[small] == lists[large][: len(lists[small])]  # nested: prefixes of one order
    per_class = presence[train].sum(axis=0)
    assert per_class.min() >= 20
    chosen = presence[[int(i[3:]) for i in lists[5]]]
    assert (chosen.sum(axis=0) > 0).all(), "every class with >= 20 images is in the 5% subset"
    for percent in (10, 20):
        shown = presence[[int(i[3:]) for i in lists[percent]]].sum(axis=0)
        expected = per_class * len(lists[percent]) / len(train)
        assert (np.abs(shown - expected) <= np.maximum(2, 0.5 * expected)).all(), percent
    record = json.loads((tmp_path / "fractions" / "manifest.json").read_text())
    assert record["seed"] == 0 and record["percents"] == PERCENTS and record["counts"]["5"] == 27
    assert len(record["source_sha256"]) == 64


def test_same_seed_same_lists_other_seed_other_lists(tmp_path: Path) -> None:
    skewed_manifest(tmp_path / "manifest.parquet")
    write_fractions(tmp_path / "manifest.parquet", tmp_path / "a", PERCENTS, seed=0)
    write_fractions(tmp_path / "manifest.parquet", tmp_path / "b", PERCENTS, seed=0)
    write_fractions(tmp_path / "manifest.parquet", tmp_path / "c", PERCENTS, seed=1)
    assert read_fraction(tmp_path / "a", 10) == read_fraction(tmp_path / "b", 10)
    assert read_fraction(tmp_path / "a", 10) != read_fraction(tmp_path / "c", 10)


def test_images_without_objects_are_spread_too() -> None:
    presence = np.zeros((40, 2), dtype=bool)
    presence[:20, 0] = True  # 20 images of class 1, 20 of background only
    order = stratified_order([str(i) for i in range(40)], presence, seed=0)
    assert sorted(order, key=int) == [str(i) for i in range(40)]
    first_ten = [int(i) for i in order[:10]]
    assert 4 <= sum(i < 20 for i in first_ten) <= 6


def test_missing_percent_names_the_prepared_ones(tmp_path: Path) -> None:
    skewed_manifest(tmp_path / "manifest.parquet")
    write_fractions(tmp_path / "manifest.parquet", tmp_path / "fractions", [10, 100], seed=0)
    with pytest.raises(InputError, match=r"train_5.txt.*\[10, 100\]"):
        read_fraction(tmp_path / "fractions", 5)
