"""Support masks at feature resolution: soft foreground weights and one label per feature cell."""

from __future__ import annotations

import torch
import torch.nn.functional as F

BACKGROUND = 0
FOREGROUND = 1
IGNORE = 255


def cell_fractions(masks: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Fractions of foreground and of ignored pixels in each feature cell.

    ``masks``: (..., H, W) integer masks in {0, 1, 255}. Returns two float tensors (..., *size). Area pooling
    makes the fractions exact pixel counts for any ratio of image to feature size, also a non-integer one.
    """
    lead = masks.shape[:-2]
    flat = masks.reshape(-1, 1, *masks.shape[-2:])
    planes = torch.cat([flat == FOREGROUND, flat == IGNORE], dim=1).float()
    fractions = F.interpolate(planes, size=size, mode="area")
    return fractions[:, 0].reshape(*lead, *size), fractions[:, 1].reshape(*lead, *size)


def cell_labels(foreground: torch.Tensor, ignore: torch.Tensor) -> torch.Tensor:
    """One label per cell from its pixel fractions (..., h, w): the majority class, ties going to foreground.

    A mask with foreground pixels but no majority-foreground cell (an object smaller than a cell) marks its
    cells of largest foreground fraction as foreground, so that a support with an object always has
    foreground tokens. Returns int64 (..., h, w) in {BACKGROUND, FOREGROUND, IGNORE}.
    """
    background = 1 - foreground - ignore
    is_foreground = (foreground >= background) & (foreground >= ignore) & (foreground > 0)
    peak = foreground.flatten(-2).amax(-1)[..., None, None]
    lacks_cell = ~is_foreground.flatten(-2).any(-1)[..., None, None]
    is_foreground |= lacks_cell & (peak > 0) & (foreground == peak)
    labels = torch.full_like(foreground, BACKGROUND, dtype=torch.int64)
    labels[(ignore > background) & ~is_foreground] = IGNORE
    labels[is_foreground] = FOREGROUND
    return labels
