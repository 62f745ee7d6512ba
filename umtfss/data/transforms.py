"""Joint image + mask transforms: training augmentation and the evaluation letterbox.

Training follows PFENet's pipeline: random scale, rotation within +-rotate_deg (mask nearest, filled with
ignore), horizontal flip, then pad (image 0, mask ignore) and random crop to ``crop_size``. Randomness comes
from the caller's generator only, so an episode is a pure function of (seed, index).
"""

from __future__ import annotations

import numpy as np
import torch

from umtfss.data.images import IGNORE, IMAGENET_MEAN, IMAGENET_STD, letterbox, to_tensor
from umtfss.training.config import AugmentConfig
from umtfss.vision import transforms_v2

_F = transforms_v2.functional
_MEAN = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
_STD = torch.tensor(IMAGENET_STD).view(3, 1, 1)


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
    return (pixels.float() / 255 - _MEAN) / _STD, labels.long()


def eval_transform(image: np.ndarray, mask: np.ndarray | None, size: int
                   ) -> tuple[torch.Tensor, torch.Tensor | None, tuple[int, int]]:
    """Letterbox to ``size``: normalised image, mask padded with ignore (if given), resized extent."""
    canvas, extent = letterbox(image, size, is_mask=False)
    boxed = None if mask is None else torch.from_numpy(letterbox(mask, size, is_mask=True)[0]).long()
    return to_tensor(canvas), boxed, extent
