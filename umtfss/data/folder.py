"""Any folder of images as an unlabeled pool: no masks, no classes, everything in the train split.

This is what meta-training on unlabeled images needs at minimum; such a dataset cannot be evaluated or
finetuned on (it has no folds).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from umtfss.data.manifest import COLUMNS, DatasetInfo
from umtfss.data.scan import image_row, parallel_map
from umtfss.errors import InputError

IMAGE_SUFFIXES = (".bmp", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")
INFO = DatasetInfo(name="folder", class_names=["background"], folds=[])


def find_images(root: Path) -> list[Path]:
    """Image files under ``root`` (recursively, by suffix, any case), hidden files and folders skipped."""
    return sorted(
        path for path in root.rglob("*")
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES
        and not any(part.startswith(".") for part in path.relative_to(root).parts)
    )


def prepare_folder(root: Path) -> tuple[pd.DataFrame, DatasetInfo, dict]:
    """Manifest rows of every image under ``root`` (each decoded once); image id = path relative to root."""
    if not root.is_dir():
        raise InputError(f"image folder {root} does not exist")
    images = find_images(root)
    if not images:
        raise InputError(f"image folder {root} holds no images (looked for {', '.join(IMAGE_SUFFIXES)})")
    rows = parallel_map(lambda path: image_row(path.relative_to(root).as_posix(), path, "train"), images)
    return pd.DataFrame(rows, columns=list(COLUMNS)), INFO, {}
