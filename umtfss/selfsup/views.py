"""Two random views of an image that know where each of their feature cells lies in the original image.

A view is a random crop (area share in ``[min_area, 1]``, aspect 3/4..4/3) resized to a square, flipped at
random and colour-jittered. Its cells are the ``grid`` x ``grid`` cells of a backbone layer; the centre of
each cell is mapped back into original-image pixels, so cells of two views can be matched by position.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from umtfss.data.images import IMAGENET_MEAN, IMAGENET_STD
from umtfss.selfsup.config import ColourJitterConfig
from umtfss.vision import transforms_v2

_F = transforms_v2.functional
_ASPECT = (3 / 4, 4 / 3)


@dataclass(frozen=True)
class View:
    """A normalised (3, S, S) view, its cell centres (G*G, 2) as (y, x) image pixels, and its cell side in
    image pixels."""

    pixels: torch.Tensor
    centres: np.ndarray
    cell_size: float


def photometric(cfg: ColourJitterConfig) -> transforms_v2.Transform:
    """Colour jitter (drawn from torch's global generator), scaling to [0, 1], ImageNet normalisation."""
    jitter = transforms_v2.ColorJitter(cfg.brightness, cfg.contrast, cfg.saturation, cfg.hue)
    return transforms_v2.Compose([
        transforms_v2.RandomApply([jitter], p=cfg.p),
        transforms_v2.ToDtype(torch.float32, scale=True),
        transforms_v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])


def random_view(image: torch.Tensor, *, size: int, grid: int, min_area: float,
                colour: transforms_v2.Transform, rng: np.random.Generator) -> View:
    """One view of uint8 ``image`` (3, H, W): crop and flip from ``rng``, colour from torch's generator."""
    _, height, width = image.shape
    area = height * width * rng.uniform(min_area, 1.0)
    aspect = math.exp(rng.uniform(*np.log(_ASPECT)))
    h = min(height, max(1, round(math.sqrt(area / aspect))))
    w = min(width, max(1, round(math.sqrt(area * aspect))))
    top, left = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
    pixels = _F.resized_crop(image, top, left, h, w, [size, size], antialias=True)
    centre = (np.arange(grid) + 0.5) / grid
    ys, xs = top + centre * h, left + centre * w
    if rng.random() < 0.5:
        pixels, xs = _F.horizontal_flip(pixels), xs[::-1]
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    return View(colour(pixels), np.stack([yy.ravel(), xx.ravel()], axis=1), max(h, w) / grid)
