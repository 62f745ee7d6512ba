"""Segmentation losses of episodic training: cross-entropy, Dice, or their sum (``TrainConfig.loss``).

Query masks are mostly background (a pseudo mask covers a few percent of its image), so each loss alone has a
degenerate optimum that a short run falls into: cross-entropy is lowest early on for "all background" and its
gradients on the few foreground pixels are outweighed; Dice scores "all background" as its worst case but
barely penalises "all foreground" on a small object. PFENet trains with cross-entropy, the authors' released
code with a Dice loss; their sum keeps both pulls.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

IGNORE_INDEX = 255
# Added to numerator and denominator: an episode whose query has no foreground then scores 1 - 1/(1 + sum p),
# which pulls its predicted foreground down instead of dividing by zero.
DICE_SMOOTH = 1.0

LossKind = Literal["ce", "dice", "ce+dice"]


def dice_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over episodes of ``1 - soft Dice`` of the foreground probability; ignored pixels do not count.

    ``logits`` (B, 2, H, W), ``target`` (B, H, W) int64 in {0, 1, IGNORE_INDEX}.
    """
    valid = (target != IGNORE_INDEX).to(logits.dtype)
    probability = logits.softmax(1)[:, 1] * valid
    truth = (target == 1).to(logits.dtype)
    overlap = (probability * truth).flatten(1).sum(1)
    total = probability.flatten(1).sum(1) + truth.flatten(1).sum(1)
    return (1 - (2 * overlap + DICE_SMOOTH) / (total + DICE_SMOOTH)).mean()


def segmentation_loss(logits: torch.Tensor, target: torch.Tensor, kind: LossKind) -> torch.Tensor:
    """The training loss ``kind`` of query logits (B, 2, H, W) against masks (B, H, W)."""
    if kind == "dice":
        return dice_loss(logits, target)
    cross_entropy = F.cross_entropy(logits, target, ignore_index=IGNORE_INDEX)
    return cross_entropy if kind == "ce" else cross_entropy + dice_loss(logits, target)
