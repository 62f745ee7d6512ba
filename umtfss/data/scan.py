"""Reading every image and mask of an external dataset once, so that a broken file fails `prepare` with its
name instead of failing a training run hours later, and counting each mask's pixels per class."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sized
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from umtfss.data.images import IGNORE, load_image, load_mask
from umtfss.errors import InputError
from umtfss.progress import progress

Item = TypeVar("Item")


def class_pixels(mask: np.ndarray, n_classes: int, name: str) -> list[int]:
    """Pixels per class id 0..n_classes (255 not counted); ``InputError`` naming ``name`` for any other id."""
    counts = np.bincount(mask.ravel(), minlength=256)
    unknown = [int(i) for i in np.flatnonzero(counts) if n_classes < i != IGNORE]
    if unknown:
        raise InputError(f"mask {name} holds class ids {unknown} outside 0..{n_classes} (and 255 = ignore)")
    return counts[: n_classes + 1].tolist()


def image_row(
    image_id: str, image_path: Path, split: str, mask_path: str | None = None, *,
    mask: np.ndarray | None = None, mask_name: str | None = None, n_classes: int = 0,
) -> dict[str, Any]:
    """A manifest row for one image, decoding the image and checking its mask.

    ``mask_path`` is what the manifest records; the mask is read from it unless given as ``mask`` (then
    ``mask_name`` says where it came from, for messages). ``InputError`` names the file when the image or
    mask is missing or unreadable, when their sizes differ, or when the mask holds an unknown class id.
    """
    height, width = load_image(image_path).shape[:2]
    pixels = None
    if mask_path is not None:
        mask_name = mask_name or mask_path
        if mask is None:
            mask = load_mask(mask_path)
        if mask.shape != (height, width):
            raise InputError(f"mask {mask_name} is {mask.shape[1]}x{mask.shape[0]} but its image "
                             f"{image_path} is {width}x{height}")
        pixels = class_pixels(mask, n_classes, mask_name)
    return {"image_id": image_id, "image_path": str(image_path), "mask_path": mask_path,
            "width": width, "height": height, "split": split, "class_pixels": pixels}


def parallel_map(function: Callable[[Item], Any], items: Iterable[Item], *, desc: str = "scan") -> list[Any]:
    """``[function(item) for item in items]`` on threads (Pillow and zlib decode outside the GIL), with a
    progress bar named ``desc``.

    Results keep the order of ``items``; the first failing item's exception is raised.
    """
    total = len(items) if isinstance(items, Sized) else None
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return list(progress(pool.map(function, items), desc=desc, total=total, unit="img"))
