"""Masks saved as palette PNGs with the PASCAL VOC colour map: class ids stay the pixel values, and any image
viewer shows the classes in their familiar VOC colours."""

from __future__ import annotations

import os

import numpy as np
from PIL import Image


def voc_palette() -> list[int]:
    """The 256-entry PASCAL VOC colour map, flattened (r, g, b, ...): the id's bits spread over RGB."""
    palette = []
    for index in range(256):
        r = g = b = 0
        for shift in range(7, -1, -1):
            r |= ((index >> 0) & 1) << shift
            g |= ((index >> 1) & 1) << shift
            b |= ((index >> 2) & 1) << shift
            index >>= 3
        palette += [r, g, b]
    return palette


_PALETTE = voc_palette()


def save_mask(mask: np.ndarray, path: str | os.PathLike[str]) -> None:
    """Write uint8 (H, W) class ids as a VOC-palette PNG."""
    mask = np.ascontiguousarray(mask, dtype=np.uint8)
    image = Image.frombytes("P", (mask.shape[1], mask.shape[0]), mask.tobytes())
    image.putpalette(_PALETTE)
    image.save(path, format="PNG")
