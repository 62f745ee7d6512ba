"""Reading images and masks, letterboxing them to a square, and normalising images for the backbone.

Every stage that looks at pixels goes through these functions, so features, labels and episodes agree on
where each original pixel lands: resized so the longer side is ``size``, placed top-left, padded.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from PIL import Image

from umtfss.errors import InputError

# The statistics every backbone here was pretrained with: all pixels reach a backbone through normalize().
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
_MEAN = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
_STD = torch.tensor(IMAGENET_STD).view(3, 1, 1)

IGNORE = 255
# Single-channel modes whose values are class ids as stored (palette PNGs keep their indices, not colours).
_MASK_MODES = {"P", "L", "I", "I;16", "I;16B", "I;16L"}


def _open(path: str | os.PathLike[str], what: str) -> Image.Image:
    try:
        image = Image.open(path)
        image.load()  # decode now: a truncated file fails here, not later in a worker
    except FileNotFoundError:
        raise InputError(f"{what} not found: {path}") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise InputError(f"{what} {path} is not a readable image: {exc}") from None
    return image


def load_image(path: str | os.PathLike[str]) -> np.ndarray:
    """The image at ``path`` as uint8 (H, W, 3) RGB; grey, palette and CMYK images are converted."""
    return np.asarray(_open(path, "image").convert("RGB"))


def load_mask(path: str | os.PathLike[str]) -> np.ndarray:
    """The mask at ``path`` as uint8 (H, W) class ids (palette indices kept); 255 = ignore."""
    image = _open(path, "mask")
    if image.mode not in _MASK_MODES:
        raise InputError(f"mask {path} must be single-channel (palette or greyscale), got mode {image.mode}")
    mask = np.asarray(image)
    if mask.dtype != np.uint8:
        if mask.size and (mask.min() < 0 or mask.max() > IGNORE):
            raise InputError(f"mask {path} holds values outside 0..255 (max {mask.max()})")
        mask = mask.astype(np.uint8)
    return mask


def resized_extent(height: int, width: int, size: int) -> tuple[int, int]:
    """(h, w) of an image of ``height`` x ``width`` once its longer side is ``size`` (the store contract)."""
    scale = size / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def letterbox(array: np.ndarray, size: int, *, is_mask: bool) -> tuple[np.ndarray, tuple[int, int]]:
    """Resize ``array`` so its longer side is ``size`` and place it top-left on a ``size`` square.

    Images (uint8 (H, W, 3)) are resized bilinearly and padded with 0; masks (uint8 (H, W)) with nearest
    neighbour, so no class id is invented, and padded with 255 (ignore). Returns the canvas and the resized
    extent ``(h, w)``.
    """
    if array.dtype != np.uint8 or array.ndim != (2 if is_mask else 3):
        kind = "mask (H, W)" if is_mask else "image (H, W, 3)"
        raise ValueError(f"letterbox expects a uint8 {kind}, got {array.dtype} {array.shape}")
    h, w = resized_extent(array.shape[0], array.shape[1], size)
    resample = Image.Resampling.NEAREST if is_mask else Image.Resampling.BILINEAR
    resized = np.asarray(Image.fromarray(array).resize((w, h), resample))
    canvas = np.full((size, size, *array.shape[2:]), IGNORE if is_mask else 0, dtype=np.uint8)
    canvas[:h, :w] = resized
    return canvas, (h, w)


def normalize(pixels: torch.Tensor) -> torch.Tensor:
    """float32 (3, H, W) RGB in [0, 1] -> ImageNet-normalised."""
    return (pixels - _MEAN) / _STD


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) RGB -> float32 (3, H, W), scaled to [0, 1] and ImageNet-normalised."""
    return normalize(torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div_(255))
