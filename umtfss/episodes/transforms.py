"""Joint image + mask transforms: training augmentation and the two test resizes (letterbox, squash).

Training follows PFENet's pipeline: random scale, rotation within +-rotate_deg (mask nearest, filled with
ignore), horizontal flip, then pad (image 0, mask ignore) and random crop to ``crop_size``. Randomness comes
from the caller's generator only, so an episode is a pure function of (seed, index).
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from umtfss.data.images import IGNORE, letterbox, normalize, to_tensor
from umtfss.episodes.config import AugmentConfig
from umtfss.vision import transforms_v2

_F = transforms_v2.functional


def train_transform(image: np.ndarray, mask: np.ndarray, crop_size: int, augment: AugmentConfig,
                    rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (H, W, 3) image and uint8 (H, W) mask -> normalised (3, S, S) float32 and (S, S) int64."""
    pixels = torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1)  # a writable copy
    labels = torch.from_numpy(np.array(mask, dtype=np.uint8))[None]
    scale = rng.uniform(*augment.scale) * crop_size / max(mask.shape)
    size = [max(1, round(mask.shape[0] * scale)), max(1, round(mask.shape[1] * scale))]
    pixels = _F.resize(pixels, size, interpolation=_F.InterpolationMode.BILINEAR, antialias=True)
    labels = _F.resize(labels, size, interpolation=_F.InterpolationMode.NEAREST)
    if augment.rotate_deg > 0:
        angle = float(rng.uniform(-augment.rotate_deg, augment.rotate_deg))
        pixels = _F.rotate(pixels, angle, interpolation=_F.InterpolationMode.BILINEAR, fill=0)
        labels = _F.rotate(labels, angle, interpolation=_F.InterpolationMode.NEAREST, fill=IGNORE)
    if augment.flip and rng.random() < 0.5:
        pixels, labels = _F.horizontal_flip(pixels), _F.horizontal_flip(labels)
    pad_h, pad_w = max(0, crop_size - size[0]), max(0, crop_size - size[1])
    if pad_h or pad_w:
        pixels = _F.pad(pixels, [0, 0, pad_w, pad_h], fill=0)
        labels = _F.pad(labels, [0, 0, pad_w, pad_h], fill=IGNORE)
    top = int(rng.integers(0, pixels.shape[1] - crop_size + 1))
    left = int(rng.integers(0, pixels.shape[2] - crop_size + 1))
    pixels = pixels[:, top:top + crop_size, left:left + crop_size]
    labels = labels[0, top:top + crop_size, left:left + crop_size]
    return normalize(pixels.float() / 255), labels.long()


def letterbox_view(image: np.ndarray, mask: np.ndarray, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """PFENet's test resize: longer side ``size``, aspect kept, padded (image 0, mask ignore); normalised
    image (3, S, S) float32 and mask (S, S) int64."""
    canvas, _ = letterbox(image, size, is_mask=False)
    return to_tensor(canvas), torch.from_numpy(letterbox(mask, size, is_mask=True)[0]).long()


def squash_view(image: np.ndarray, mask: np.ndarray, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """HSNet's test resize: stretched to ``size`` x ``size`` (aspect not kept), mask nearest."""
    pixels = Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR)
    labels = Image.fromarray(mask).resize((size, size), Image.Resampling.NEAREST)
    return to_tensor(np.array(pixels)), torch.from_numpy(np.array(labels)).long()
