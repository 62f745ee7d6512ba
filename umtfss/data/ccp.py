"""Clothing Co-Parsing (CCP) in its published layout: 2,098 street-fashion photos, 1,004 labelled per pixel.

Under the root: ``photos/NNNN.jpg``; ``annotations/pixel-level/NNNN.mat`` (variable ``groundtruth``, an
(H, W) matrix of ids into the label list, 0 = null); ``annotations/image-level/NNNN.mat`` (tags only, never
read); ``label_list.mat`` (``label_list``, a cell array of the 59 class names in id order).

The dataset is built by these rules (params in ``prepare.ccp``):

- labelled photos are those with a pixel-level .mat; every other photo is unlabeled. ``max_labeled`` and
  ``max_unlabeled`` take seeded subsets of either (for CI); the labelled ones are then split by a seeded
  permutation, ``round(val_fraction * n)`` of them (at least one, and one left for train) into val. The
  three draws use independent streams of ``seed``, so slicing the unlabeled photos never moves the split;
- a class is usable if it covers at least ``min_share`` of the image in at least ``min_images`` train
  photos (val is never looked at), unless it is listed in ``background_classes`` (ubiquitous ones: null,
  skin, hair). Label 0 (null, unlabelled pixels) is never usable;
- usable classes get ids 1..n in the order of their label ids; every other label becomes background (0):
  like PASCAL's unlabelled stuff, a rare garment is part of the scene, not an object to segment or ignore;
- folds: the usable classes sorted by their train photo count (descending, ties by label id) are dealt to
  the ``n_folds`` folds round-robin, so every fold holds out frequent and rare classes alike;
- the unlabeled pool is the train split: the unlabeled photos (``mask_path`` None) and the labelled train
  photos; labels are never read for the former.

Remapped masks are written as palette PNGs under the dataset folder; ``dataset.json`` records the usable
classes (with their original label ids and train image counts), the rule's params, the split and the slices.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.io import loadmat

from umtfss.data.config import CcpConfig
from umtfss.data.manifest import COLUMNS, DatasetInfo
from umtfss.data.palette import save_mask
from umtfss.data.scan import image_row, parallel_map
from umtfss.errors import InputError

PHOTOS = "photos"
PIXEL_LEVEL = "annotations/pixel-level"
LABEL_LIST = "label_list.mat"


def _load_variable(path: Path, key: str) -> np.ndarray:
    try:
        data = loadmat(path, variable_names=[key])
    except Exception as exc:  # scipy's reader fails with OSError, ValueError, IndexError... on damaged files
        raise InputError(f"{path} is not a readable MATLAB .mat file ({type(exc).__name__}: {exc})") from None
    if key not in data:
        raise InputError(f"{path} lacks the variable {key!r}")
    return data[key]


def read_label_list(path: Path) -> list[str]:
    """The class names of ``label_list.mat``, in id order (a MATLAB cell array of strings)."""
    names = []
    for index, cell in enumerate(np.asarray(_load_variable(path, "label_list"), dtype=object).ravel()):
        value = np.asarray(cell).ravel()
        if value.size != 1 or not isinstance(value[0], str):
            raise InputError(f"{path}: label_list must be a cell array of class names; entry {index} is "
                             f"{cell!r}")
        names.append(str(value[0]))
    if len(names) < 2:
        raise InputError(f"{path}: label_list names {len(names)} classes; at least null and one more needed")
    return names


def read_groundtruth(path: Path, n_labels: int) -> np.ndarray:
    """The uint8 (H, W) label ids of a pixel-level .mat; ``InputError`` naming it unless all are in
    0..n_labels - 1."""
    mask = _load_variable(path, "groundtruth")
    if mask.ndim != 2 or mask.size == 0 or mask.dtype.kind not in "biuf":
        raise InputError(
            f"{path}: groundtruth must be a 2-D matrix of label ids, got {mask.dtype} {mask.shape}")
    if mask.dtype.kind == "f" and not np.array_equal(mask, np.floor(mask)):  # NaN fails this too
        raise InputError(f"{path}: groundtruth holds values that are not whole label ids")
    low, high = mask.min(), mask.max()
    if low < 0 or high >= n_labels:
        bad = low if low < 0 else high
        raise InputError(f"{path}: groundtruth holds label {bad:g} outside 0..{n_labels - 1} (the ids of "
                         f"{LABEL_LIST})")
    return mask.astype(np.uint8)


def _sample(stems: list[str], limit: int | None, rng: np.random.Generator) -> list[str]:
    """A seeded subset of ``limit`` of ``stems`` (all when None or not fewer), in their order."""
    if limit is None or limit >= len(stems):
        return stems
    return [stems[i] for i in sorted(rng.choice(len(stems), size=limit, replace=False))]


def draw(labelled: list[str], unlabeled: list[str], cfg: CcpConfig) -> tuple[dict[str, str], list[str]]:
    """The split ("train" / "val") of each labelled photo kept and the unlabeled photos kept, by the seeded
    slices and split of this module."""
    streams = np.random.SeedSequence(cfg.seed).spawn(3)  # independent: a slice never moves the others
    labelled_rng, split_rng, unlabeled_rng = (np.random.default_rng(stream) for stream in streams)
    labelled = _sample(labelled, cfg.max_labeled, labelled_rng)
    if len(labelled) < 2:
        raise InputError(f"CCP has {len(labelled)} labelled photos; a train/val split needs 2")
    n_val = min(max(1, round(cfg.val_fraction * len(labelled))), len(labelled) - 1)
    val = {labelled[i] for i in split_rng.permutation(len(labelled))[:n_val]}
    split_of = {stem: "val" if stem in val else "train" for stem in labelled}
    return split_of, _sample(unlabeled, cfg.max_unlabeled, unlabeled_rng)


def usable_classes(label_counts: np.ndarray, background: set[int], cfg: CcpConfig
                   ) -> tuple[list[int], np.ndarray]:
    """Label ids usable by the rule of this module, ascending, and how many train images count for each
    label (cover at least ``min_share`` of the image).

    ``label_counts`` is (train images, labels): pixels per label of each train image.
    """
    shares = label_counts / label_counts.sum(axis=1, keepdims=True)
    images = (shares >= cfg.min_share).sum(axis=0)
    usable = [c for c in range(1, label_counts.shape[1])
              if c not in background and images[c] >= cfg.min_images]
    return usable, images


def deal_folds(usable: list[int], images: np.ndarray, n_folds: int) -> list[list[int]]:
    """New class ids (1..n, in the order of ``usable``) of each fold, dealt round-robin by frequency."""
    new_id = {label: index for index, label in enumerate(usable, start=1)}
    folds: list[list[int]] = [[] for _ in range(n_folds)]
    for rank, label in enumerate(sorted(usable, key=lambda c: (-images[c], c))):
        folds[rank % n_folds].append(new_id[label])
    return [sorted(fold) for fold in folds]


def _source(root: Path, cfg: CcpConfig) -> tuple[list[str], set[int], list[str], list[str]]:
    """Label names, background label ids, labelled and unlabeled photo stems of the CCP tree at ``root``."""
    photo_dir, pixel_dir, label_path = root / PHOTOS, root / PIXEL_LEVEL, root / LABEL_LIST
    for path, is_file in ((root, False), (photo_dir, False), (pixel_dir, False), (label_path, True)):
        if not (path.is_file() if is_file else path.is_dir()):
            raise InputError(f"CCP root {root} lacks {path} (expected {PHOTOS}/, {PIXEL_LEVEL}/ and "
                             f"{LABEL_LIST})")
    names = read_label_list(label_path)
    unknown = [name for name in cfg.background_classes if name not in names]
    if unknown:
        raise InputError(f"prepare.ccp.background_classes {unknown} are not class names of {label_path}; "
                         f"its names: {names}")
    photos = {path.stem for path in photo_dir.glob("*.jpg")}
    labelled = sorted(path.stem for path in pixel_dir.glob("*.mat"))
    orphans = [stem for stem in labelled if stem not in photos]
    if orphans:
        more = f" (nor have {len(orphans) - 1} more)" if len(orphans) > 1 else ""
        raise InputError(f"{pixel_dir / orphans[0]}.mat has no photo {photo_dir / orphans[0]}.jpg{more}")
    background = {0, *(names.index(name) for name in cfg.background_classes)}
    return names, background, labelled, sorted(photos.difference(labelled))


def prepare_ccp(root: Path, cfg: CcpConfig, write_dir: Path, final_dir: Path
                ) -> tuple[pd.DataFrame, DatasetInfo, dict]:
    """Manifest rows of CCP under ``root`` by the rules of this module, remapped masks written to
    ``write_dir``/masks (recorded under ``final_dir``/masks, where ``write_dir`` will be moved); the dataset
    info; and the rule's record for ``dataset.json``. Every photo is decoded once, every .mat twice (to
    count labels, then to remap them: cheaper than holding a thousand masks in memory)."""
    names, background, labelled, unlabeled = _source(root, cfg)
    split_of, unlabeled = draw(labelled, unlabeled, cfg)
    pixel_dir, photo_dir = root / PIXEL_LEVEL, root / PHOTOS
    train = [stem for stem, split in split_of.items() if split == "train"]
    counts = parallel_map(lambda stem: np.bincount(
        read_groundtruth(pixel_dir / f"{stem}.mat", len(names)).ravel(), minlength=len(names)), train)
    # Val masks are checked too, but by the second pass: their labels must not choose the classes.
    usable, images = usable_classes(np.stack(counts), background, cfg)
    if len(usable) < cfg.n_folds:
        raise InputError(
            f"only {len(usable)} CCP classes cover >= {cfg.min_share} of the image in >= {cfg.min_images} "
            f"of the {len(train)} train photos, fewer than n_folds = {cfg.n_folds}: lower "
            "prepare.ccp.min_images or prepare.ccp.min_share (or n_folds)")
    lut = np.zeros(256, dtype=np.uint8)  # every label that is not usable becomes background
    lut[usable] = np.arange(1, len(usable) + 1)
    info = DatasetInfo(name="ccp", class_names=["background"] + [names[c] for c in usable],
                       folds=deal_folds(usable, images, cfg.n_folds))

    (write_dir / "masks").mkdir(parents=True)

    def one_photo(stem: str) -> dict[str, Any]:
        photo = photo_dir / f"{stem}.jpg"
        if stem not in split_of:
            return image_row(stem, photo, "train")
        mat = pixel_dir / f"{stem}.mat"
        mask = lut[read_groundtruth(mat, len(names))]
        row = image_row(stem, photo, split_of[stem], str(final_dir / "masks" / f"{stem}.png"), mask=mask,
                        mask_name=str(mat), n_classes=info.n_classes)
        save_mask(mask, write_dir / "masks" / f"{stem}.png")
        return row

    rows = parallel_map(one_photo, sorted([*split_of, *unlabeled]))
    extra = {
        "usable_classes": [{"id": new, "name": names[c], "original_id": c, "train_images": int(images[c])}
                           for new, c in enumerate(usable, start=1)],
        "usable_rule": {"min_share": cfg.min_share, "min_images": cfg.min_images,
                        "background_classes": list(cfg.background_classes), "n_folds": cfg.n_folds},
        "split": {"seed": cfg.seed, "val_fraction": cfg.val_fraction, "train": len(train),
                  "val": len(split_of) - len(train)},
        "slices": {"max_labeled": cfg.max_labeled, "max_unlabeled": cfg.max_unlabeled},
    }
    return pd.DataFrame(rows, columns=list(COLUMNS)), info, extra
