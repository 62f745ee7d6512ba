"""PASCAL-5i: VOC2012 images with the SBD-augmented masks (``SegmentationClassAug``), in 4 folds of 5 classes.

The standard FSS image lists (train: VOC2012 train + SBD, duplicates removed, 5,953 images; val: VOC2012 val,
1,449 images; as used by PFENet, CyCTR and the UMTFSS release) ship with umtfss, so only the VOC2012 root with
``JPEGImages/`` and ``SegmentationClassAug/`` is needed on disk.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pandas as pd

from umtfss.data.config import PascalConfig
from umtfss.data.manifest import COLUMNS, DatasetInfo
from umtfss.data.scan import image_row, parallel_map
from umtfss.errors import InputError

CLASS_NAMES = [
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
    "tvmonitor",
]
# Fold f holds out classes 5f+1 .. 5f+5.
INFO = DatasetInfo(name="pascal5i", class_names=CLASS_NAMES,
                   folds=[list(range(5 * f + 1, 5 * f + 6)) for f in range(4)])


def _read_list(text: str, source: str) -> list[tuple[str, str]]:
    pairs = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2:
            raise InputError(f"{source} line {number}: expected '<image> <mask>', got {line!r}")
        pairs.append((parts[0], parts[1]))
    return pairs


def image_list(root: Path, split: str, custom: str | None) -> list[tuple[str, str]]:
    """(image, mask) paths relative to ``root`` for ``split``: from ``custom`` (under root) or shipped."""
    if custom is None:
        text = resources.files("umtfss.data").joinpath("lists", "pascal5i", f"{split}.txt").read_text()
        return _read_list(text, f"shipped pascal5i {split}.txt")
    path = root / custom
    if not path.is_file():
        raise InputError(f"pascal5i {split} list {path} not found")
    return _read_list(path.read_text(), str(path))


def prepare_pascal5i(root: Path, cfg: PascalConfig) -> tuple[pd.DataFrame, DatasetInfo, dict]:
    """Manifest rows of the PASCAL-5i train and val lists under ``root`` (the VOC2012 folder), every image
    and mask read once; the dataset info; and which lists were used, for ``dataset.json``."""
    if not root.is_dir():
        raise InputError(f"pascal5i root {root} is not a folder (expected VOC2012 with JPEGImages/ and "
                         "SegmentationClassAug/)")
    entries = []
    for split, custom in (("train", cfg.train_list), ("val", cfg.val_list)):
        entries += [(Path(image).stem, root / image, str(root / mask), split)
                    for image, mask in image_list(root, split, custom)]
    rows = parallel_map(lambda e: image_row(e[0], e[1], e[3], e[2], n_classes=INFO.n_classes), entries)
    lists = {"train": cfg.train_list or "shipped", "val": cfg.val_list or "shipped"}
    return pd.DataFrame(rows, columns=list(COLUMNS)), INFO, {"lists": lists}
