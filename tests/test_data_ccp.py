"""Clothing Co-Parsing on tiny trees in the published layout (JPEG photos, MATLAB v5 .mat labels), and on a
slice of the real dataset where it is present."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy.io import loadmat, savemat

from umtfss.data.ccp import deal_folds, draw, usable_classes
from umtfss.data.config import CcpConfig, PrepareConfig
from umtfss.data.datasets import prepare_dataset
from umtfss.data.images import load_mask
from umtfss.errors import InputError

REAL_CCP = Path(__file__).resolve().parents[2] / "shared" / "data" / "ccp"
# Label ids 0..8, as in label_list.mat: 0 = null; skin and hair are background by default.
NAMES = ["null", "bag", "belt", "coat", "dress", "hair", "hat", "shoes", "skin"]
H, W = 20, 16
LABELLED = [f"{i:04d}" for i in range(1, 11)]
UNLABELED = [f"{i:04d}" for i in range(11, 15)]


def write_ccp(root: Path, masks: dict[str, np.ndarray], unlabeled: list[str]) -> Path:
    """A CCP tree: a photo for every stem, pixel-level .mat for ``masks``, image-level tags for the rest."""
    for sub in ("photos", "annotations/pixel-level", "annotations/image-level"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    savemat(root / "label_list.mat", {"label_list": np.array([NAMES], dtype=object)})
    rng = np.random.default_rng(0)
    for stem in [*masks, *unlabeled]:
        shape = masks[stem].shape if stem in masks else (H, W)
        photo = rng.integers(0, 255, (*shape, 3), dtype=np.uint8)
        Image.fromarray(photo).save(root / "photos" / f"{stem}.jpg")
    for stem, mask in masks.items():
        savemat(root / "annotations/pixel-level" / f"{stem}.mat", {"groundtruth": mask}, do_compression=True)
    for stem in unlabeled:  # tags only: the adapter must never read them as labels
        savemat(root / "annotations/image-level" / f"{stem}.mat", {"tags": np.array([[3], [99]])})
    return root


def clothes(*labels: int) -> np.ndarray:
    """A mask of skin with hair on top, null in a corner, and a band of 3 rows (15%) per label."""
    mask = np.full((H, W), 8, np.uint8)
    mask[:2] = 5
    mask[0, 0] = 0
    for k, label in enumerate(labels):
        mask[3 + 3 * k: 6 + 3 * k] = label
    return mask


def uniform_tree(root: Path) -> Path:
    """Every labelled photo shows a bag and a coat: two classes usable whatever the split or slice."""
    return write_ccp(root, {stem: clothes(1, 3) for stem in LABELLED}, UNLABELED)


def prepare(root: Path, out: Path, **params: object) -> tuple[pd.DataFrame, dict]:
    ccp = CcpConfig(**{"min_images": 2, "n_folds": 2, **params})
    cfg = PrepareConfig(dataset="ccp", root=str(root), ccp=ccp)
    frame, _ = prepare_dataset(cfg, out)
    return frame, json.loads((out / "dataset.json").read_text())


def test_classes_masks_and_folds_follow_the_rules(tmp_path: Path) -> None:
    cfg = CcpConfig(min_images=2, min_share=0.05, n_folds=2, seed=3)
    split_of, _ = draw(LABELLED, [], cfg)
    train = [stem for stem in LABELLED if split_of[stem] == "train"]
    val = [stem for stem in LABELLED if split_of[stem] == "val"]
    assert (len(train), len(val)) == (8, 2)
    # Train photos with shares >= 5%: shoes 8, coat 6, dress 4, bag 2, belt 1 (rare: its val photos do not
    # count); hat is in every photo but at 1 pixel (0.3%); skin and hair are everywhere but background.
    masks = {}
    for k, stem in enumerate(train):
        mask = clothes(*[label for label, n in ((7, 8), (3, 6), (4, 4), (1, 2), (2, 1)) if k < n])
        mask[-1, -1] = 6
        masks[stem] = mask
    masks.update({stem: clothes(2, 7) for stem in val})
    root = write_ccp(tmp_path / "ccp", masks, UNLABELED)

    frame, info = prepare_dataset(PrepareConfig(dataset="ccp", root=str(root), ccp=cfg), tmp_path / "dataset")
    assert info.class_names == ["background", "bag", "coat", "dress", "shoes"]
    # By train frequency: shoes (4), coat (2), dress (3), bag (1), dealt to folds 0, 1, 0, 1.
    assert info.folds == [[3, 4], [1, 2]]
    assert frame["image_id"].tolist() == LABELLED + UNLABELED
    assert frame.set_index("image_id")["split"].to_dict() == {**split_of, **dict.fromkeys(UNLABELED, "train")}
    assert frame.loc[frame["image_id"].isin(UNLABELED), "mask_path"].isna().all()
    assert frame.loc[frame["image_id"].isin(UNLABELED), "class_pixels"].isna().all()
    new_id = {1: 1, 3: 2, 4: 3, 7: 4}  # every other label becomes background
    lut = np.array([new_id.get(label, 0) for label in range(len(NAMES))], np.uint8)
    for row in frame[frame["image_id"].isin(LABELLED)].itertuples():
        assert row.mask_path == str(tmp_path / "dataset" / "masks" / f"{row.image_id}.png")
        mask = load_mask(row.mask_path)
        np.testing.assert_array_equal(mask, lut[masks[row.image_id]])
        np.testing.assert_array_equal(row.class_pixels, np.bincount(mask.ravel(), minlength=5))
    descriptor = json.loads((tmp_path / "dataset" / "dataset.json").read_text())
    assert descriptor["usable_classes"] == [
        {"id": 1, "name": "bag", "original_id": 1, "train_images": 2},
        {"id": 2, "name": "coat", "original_id": 3, "train_images": 6},
        {"id": 3, "name": "dress", "original_id": 4, "train_images": 4},
        {"id": 4, "name": "shoes", "original_id": 7, "train_images": 8},
    ]
    assert descriptor["usable_rule"] == {"min_share": 0.05, "min_images": 2,
                                         "background_classes": ["null", "skin", "hair"], "n_folds": 2}
    assert descriptor["split"] == {"seed": 3, "val_fraction": 0.2, "train": 8, "val": 2}
    assert descriptor["images"] == {"train": 12, "val": 2}


def test_usable_rule_and_fold_dealing() -> None:
    # 4 images of 200 pixels: label 0 null, 1 at exactly 1% in 3 images, 2 at 0.5%, 3 background.
    counts = np.array([[100, 2, 1, 97], [100, 2, 1, 97], [100, 2, 1, 97], [200, 0, 0, 0]])
    usable, images = usable_classes(counts, {0, 3}, CcpConfig(min_share=0.01, min_images=3))
    assert usable == [1] and images.tolist() == [4, 3, 0, 3]
    assert usable_classes(counts, {0, 3}, CcpConfig(min_share=0.01, min_images=4))[0] == []
    # By frequency (ties by label id): 2, 3, 5, 1, 6, 4, dealt to folds 0, 1, 2, 3, 0, 1.
    frequency = np.array([0, 5, 9, 9, 1, 7, 3])
    assert deal_folds([1, 2, 3, 4, 5, 6], frequency, 4) == [[2, 6], [3, 4], [5], [1]]
    # New ids follow the label ids: labels 2, 5, 6 become 1, 2, 3.
    assert deal_folds([2, 5, 6], frequency, 2) == [[1, 3], [2]]


def test_split_and_slices_are_seeded(tmp_path: Path) -> None:
    split, _ = draw(LABELLED, UNLABELED, CcpConfig(seed=0))
    assert split == draw(LABELLED, UNLABELED, CcpConfig(seed=0))[0]
    assert sorted(split.values()).count("val") == 2
    assert split != draw(LABELLED, UNLABELED, CcpConfig(seed=1))[0]
    assert split == draw(LABELLED, UNLABELED, CcpConfig(seed=0, max_unlabeled=1))[0], \
        "slicing the unlabeled photos must not move the split"

    root = uniform_tree(tmp_path / "ccp")
    frame, descriptor = prepare(root, tmp_path / "a", max_labeled=6, max_unlabeled=2)
    again, _ = prepare(root, tmp_path / "b", max_labeled=6, max_unlabeled=2)
    moved = again["mask_path"].str.replace(str(tmp_path / "b"), str(tmp_path / "a"), regex=False)
    pd.testing.assert_frame_equal(frame, again.assign(mask_path=moved))
    labelled = frame[frame["mask_path"].notna()]
    assert len(labelled) == 6 and set(labelled["image_id"]) <= set(LABELLED)
    assert (labelled["split"] == "val").sum() == 1  # round(0.2 * 6)
    unlabeled = frame[frame["mask_path"].isna()]
    assert len(unlabeled) == 2 and set(unlabeled["image_id"]) <= set(UNLABELED)
    assert (unlabeled["split"] == "train").all()
    assert descriptor["slices"] == {"max_labeled": 6, "max_unlabeled": 2}
    assert [c["train_images"] for c in descriptor["usable_classes"]] == [5, 5]
    other, _ = prepare(root, tmp_path / "c", max_labeled=6, max_unlabeled=2, seed=5)
    assert other["image_id"].tolist() != frame["image_id"].tolist()


def damage_tree(root: Path, damage: str) -> None:
    target = root / "annotations/pixel-level/0002.mat"
    if damage == "no_root":
        root.rename(root.with_name("moved"))
    elif damage in ("no_photos", "no_pixel_level", "no_label_list"):
        path = {"no_photos": root / "photos", "no_pixel_level": root / "annotations/pixel-level",
                "no_label_list": root / "label_list.mat"}[damage]
        path.rename(root / "elsewhere")
    elif damage == "bad_label_list":
        savemat(root / "label_list.mat", {"label_list": np.arange(9)})
    elif damage == "orphan_mat":
        (root / "photos/0002.jpg").unlink()
    elif damage == "corrupt_mat":
        target.write_bytes(target.read_bytes()[:200])
    elif damage == "no_groundtruth":
        savemat(target, {"gt": clothes(1, 3)})
    elif damage == "not_2d":
        savemat(target, {"groundtruth": np.stack([clothes(1, 3)] * 3, axis=-1)})
    elif damage == "not_whole":
        savemat(target, {"groundtruth": clothes(1, 3) + 0.5})
    elif damage == "size_mismatch":
        savemat(target, {"groundtruth": clothes(1, 3)[:, :12]})
    elif damage == "label_out_of_range":
        mask = clothes(1, 3)
        mask[4, 4] = 9
        savemat(target, {"groundtruth": mask})


@pytest.mark.parametrize(("damage", "params", "message"), [
    ("no_root", {}, r"CCP root .*ccp lacks .*ccp \("),
    ("no_photos", {}, r"lacks .*ccp/photos "),
    ("no_pixel_level", {}, r"lacks .*annotations/pixel-level "),
    ("no_label_list", {}, r"lacks .*label_list.mat "),
    ("bad_label_list", {}, r"label_list.mat: label_list must be a cell array of class names; entry 0"),
    ("orphan_mat", {}, r"pixel-level/0002.mat has no photo .*photos/0002.jpg"),
    ("corrupt_mat", {}, r"0002.mat is not a readable MATLAB .mat file"),
    ("no_groundtruth", {}, r"0002.mat lacks the variable 'groundtruth'"),
    ("not_2d", {}, r"0002.mat: groundtruth must be a 2-D matrix of label ids, got uint8 \(20, 16, 3\)"),
    ("not_whole", {}, r"0002.mat: groundtruth holds values that are not whole label ids"),
    ("size_mismatch", {}, r"mask .*0002.mat is 12x20 but its image .*photos/0002.jpg is 16x20"),
    ("label_out_of_range", {}, r"0002.mat: groundtruth holds label 9 outside 0..8"),
    (None, {"background_classes": ["null", "scarf"]}, r"background_classes \['scarf'\] are not class names"),
    (None, {"min_images": 11}, r"only 0 CCP classes .* the 8 train photos, fewer than n_folds = 2: lower "
                               r"prepare.ccp.min_images or prepare.ccp.min_share"),
])
def test_bad_input_names_the_file_and_writes_nothing(tmp_path: Path, damage: str | None, params: dict,
                                                     message: str) -> None:
    root = uniform_tree(tmp_path / "ccp")
    if damage:
        damage_tree(root, damage)
    with pytest.raises(InputError, match=message):
        prepare(root, tmp_path / "dataset", **params)
    assert not (tmp_path / "dataset").exists()
    assert not list(tmp_path.glob(".*.partial"))


@pytest.mark.skipif(not (REAL_CCP / "label_list.mat").is_file(),
                    reason=f"the real CCP dataset is not at {REAL_CCP} (../shared/data/ccp of the repo)")
def test_real_ccp_slice(tmp_path: Path) -> None:
    frame, descriptor = prepare(REAL_CCP, tmp_path / "dataset", max_labeled=40, max_unlabeled=10,
                                min_images=3, n_folds=4)
    labelled = frame[frame["mask_path"].notna()]
    assert len(frame) == 50 and len(labelled) == 40 and (labelled["split"] == "val").sum() == 8
    assert (labelled["image_id"] <= "1004").all()
    assert (frame.loc[frame["mask_path"].isna(), "image_id"] > "1004").all()
    classes = descriptor["usable_classes"]
    assert len(classes) >= 4 and all(c["train_images"] >= 3 for c in classes)
    assert not {"null", "skin", "hair"} & {c["name"] for c in classes}
    assert sorted(c for fold in descriptor["folds"] for c in fold) == list(range(1, len(classes) + 1))
    # One remapped mask against its source: usable labels renumbered, all others background.
    row = labelled.iloc[0]
    source = loadmat(REAL_CCP / "annotations/pixel-level" / f"{row.image_id}.mat")["groundtruth"]
    lut = np.zeros(256, np.uint8)
    lut[[c["original_id"] for c in classes]] = [c["id"] for c in classes]
    mask = load_mask(row.mask_path)
    np.testing.assert_array_equal(mask, lut[source])
    assert (row.width, row.height) == (mask.shape[1], mask.shape[0])
