"""Any folder of images with class-id masks: a user's own labelled dataset.

Layout under the root, for each split ``train`` and ``val`` (both required)::

    <split>/images/<stem>.jpg|.jpeg|.png    the image; its id is the stem, unique over both splits
    <split>/masks/<stem>.png                single-channel class ids (palette or greyscale PNG)

A train image without a mask is an unlabeled train image (the pool meta-training draws from); every val
image needs a mask, since val is what folds are evaluated on. Hidden files and other suffixes are skipped.

Mask values are the ids of ``class_names`` (0 = background) or one of ``ignore_ids``, which mean ignore:
they become 255. The manifest points at the user's mask as it is, unless it holds an ignore id other than
255; then the rewritten mask is rendered as a palette PNG under the dataset folder. Folds are the listed
``folds`` or ``n_folds`` contiguous runs of class ids 1..n, of sizes differing by at most one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from umtfss.data.config import MasksConfig
from umtfss.data.images import IGNORE, load_mask
from umtfss.data.manifest import COLUMNS, SPLITS, DatasetInfo
from umtfss.data.palette import save_mask
from umtfss.data.scan import image_row, parallel_map
from umtfss.errors import InputError

IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")


def masks_folds(cfg: MasksConfig) -> list[list[int]]:
    """The folds of ``cfg``: as listed, or ``n_folds`` contiguous, near-equal runs of class ids."""
    if cfg.folds is not None:
        return [sorted(fold) for fold in cfg.folds]
    assert cfg.n_folds is not None  # MasksConfig requires one of the two
    runs = np.array_split(np.arange(1, len(cfg.class_names)), cfg.n_folds)
    return [run.tolist() for run in runs]


def files_by_stem(folder: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
    """Files in ``folder`` with one of ``suffixes`` (any case) by stem; ``InputError`` if a stem repeats."""
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.name.startswith(".") or path.suffix.lower() not in suffixes:
            continue
        if path.stem in found:
            raise InputError(f"image id {path.stem!r} occurs twice in {folder}: {found[path.stem].name} and "
                             f"{path.name}")
        found[path.stem] = path
    return found


def _pairs(root: Path) -> list[tuple[str, Path, str, Path | None]]:
    """(image id, image, split, mask or None) of every image under ``root``, checked by the layout rules."""
    if not root.is_dir():
        raise InputError(f"masks dataset root {root} is not a folder (expected train/ and val/, each with "
                         "images/ and masks/)")
    pairs: list[tuple[str, Path, str, Path | None]] = []
    split_of: dict[str, str] = {}
    for split in SPLITS:
        image_dir, mask_dir = root / split / "images", root / split / "masks"
        for folder in (image_dir, mask_dir):
            if not folder.is_dir():
                raise InputError(f"masks dataset {root} lacks the folder {folder}")
        images, masks = files_by_stem(image_dir, IMAGE_SUFFIXES), files_by_stem(mask_dir, (".png",))
        if not images:
            raise InputError(f"{image_dir} holds no images (looked for {', '.join(IMAGE_SUFFIXES)})")
        orphans = sorted(set(masks) - set(images))
        if orphans:
            raise InputError(f"mask {masks[orphans[0]]} has no image {orphans[0]}.jpg/.jpeg/.png in "
                             f"{image_dir}")
        for stem, image in images.items():
            if stem in split_of:
                raise InputError(f"image id {stem!r} is in both {split_of[stem]} and {split} under {root}")
            if split == "val" and stem not in masks:
                raise InputError(f"val image {image} has no mask {mask_dir / stem}.png (every val image "
                                 "needs one: folds are evaluated on them)")
            split_of[stem] = split
            pairs.append((stem, image, split, masks.get(stem)))
    return pairs


def prepare_masks(root: Path, cfg: MasksConfig, write_dir: Path, final_dir: Path
                  ) -> tuple[pd.DataFrame, DatasetInfo, dict]:
    """Manifest rows of the mask folder at ``root``, every image and mask read once; masks that need their
    ignore ids rewritten go to ``write_dir``/masks (recorded under ``final_dir``/masks, where ``write_dir``
    will be moved). Also returns the dataset info and, for ``dataset.json``, the ignore ids."""
    info = DatasetInfo(name="masks", class_names=list(cfg.class_names), folds=masks_folds(cfg))
    allowed = np.zeros(256, dtype=bool)
    allowed[: info.n_classes + 1] = True
    allowed[cfg.ignore_ids] = True
    lut = np.arange(256, dtype=np.uint8)
    lut[cfg.ignore_ids] = IGNORE
    (write_dir / "masks").mkdir(parents=True)

    def one_image(pair: tuple[str, Path, str, Path | None]) -> dict[str, Any]:
        stem, image, split, mask_path = pair
        if mask_path is None:
            return image_row(stem, image, split)
        mask = load_mask(mask_path)
        present = np.flatnonzero(np.bincount(mask.ravel(), minlength=256))
        unknown = [int(v) for v in present if not allowed[v]]
        if unknown:
            raise InputError(f"mask {mask_path} holds class ids {unknown}, neither declared (0.."
                             f"{info.n_classes} in class_names) nor in ignore_ids {cfg.ignore_ids}")
        if not (lut[present] != present).any():
            return image_row(stem, image, split, str(mask_path), mask=mask, n_classes=info.n_classes)
        mask = lut[mask]
        row = image_row(stem, image, split, str(final_dir / "masks" / f"{stem}.png"), mask=mask,
                        mask_name=str(mask_path), n_classes=info.n_classes)
        save_mask(mask, write_dir / "masks" / f"{stem}.png")
        return row

    rows = parallel_map(one_image, _pairs(root))
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    rendered = int(frame["mask_path"].str.startswith(str(final_dir / "masks"), na=False).sum())
    return frame, info, {"ignore_ids": list(cfg.ignore_ids), "rendered_masks": rendered}
