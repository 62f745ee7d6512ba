"""Training losses: golden Dice values on hand-made masks, ignored pixels, and the sum."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from umtfss.training.losses import DICE_SMOOTH, IGNORE_INDEX, dice_loss, segmentation_loss


def _logits(foreground: torch.Tensor, confidence: float = 50.0) -> torch.Tensor:
    """(B, 2, H, W) logits whose foreground probability is ~1 where ``foreground`` and ~0 elsewhere."""
    score = (foreground.float() * 2 - 1) * confidence
    return torch.stack([-score, score], dim=1) / 2


def test_dice_golden_values() -> None:
    target = torch.zeros(1, 4, 4, dtype=torch.long)
    target[0, :2, :2] = 1  # 4 foreground pixels
    assert dice_loss(_logits(target == 1), target).item() == pytest.approx(0.0, abs=1e-6)
    everything = torch.ones(1, 4, 4, dtype=torch.bool)
    # all foreground: overlap 4, predicted 16, true 4
    expected = 1 - (2 * 4 + DICE_SMOOTH) / (16 + 4 + DICE_SMOOTH)
    assert dice_loss(_logits(everything), target).item() == pytest.approx(expected, abs=1e-5)
    nothing = torch.zeros(1, 4, 4, dtype=torch.bool)
    assert dice_loss(_logits(nothing), target).item() == pytest.approx(1 - 1 / 5, abs=1e-5)


def test_ignored_pixels_count_for_neither_side() -> None:
    target = torch.zeros(1, 4, 4, dtype=torch.long)
    target[0, 0, 0] = 1
    target[0, 2:] = IGNORE_INDEX
    prediction = torch.zeros(1, 4, 4, dtype=torch.bool)
    prediction[0, 0, 0] = True
    prediction[0, 2:] = True  # foreground predicted where the mask says ignore: free
    assert dice_loss(_logits(prediction), target).item() == pytest.approx(0.0, abs=1e-6)


def test_dice_is_a_mean_over_episodes() -> None:
    target = torch.zeros(2, 4, 4, dtype=torch.long)
    target[:, :2, :2] = 1
    prediction = torch.stack([target[0] == 1, torch.zeros(4, 4, dtype=torch.bool)])
    assert dice_loss(_logits(prediction), target).item() == pytest.approx((0 + (1 - 1 / 5)) / 2, abs=1e-5)


def test_kinds_and_their_gradients() -> None:
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 2, 8, 8, generator=generator, requires_grad=True)
    target = (torch.rand(2, 8, 8, generator=generator) < 0.2).long()
    target[:, 0] = IGNORE_INDEX
    cross_entropy = F.cross_entropy(logits, target, ignore_index=IGNORE_INDEX)
    assert torch.equal(segmentation_loss(logits, target, "ce"), cross_entropy)
    assert torch.equal(segmentation_loss(logits, target, "dice"), dice_loss(logits, target))
    both = segmentation_loss(logits, target, "ce+dice")
    assert both.item() == pytest.approx(cross_entropy.item() + dice_loss(logits, target).item(), rel=1e-6)
    both.backward()
    assert logits.grad is not None
    # Descending the gradient raises the foreground logit margin on foreground pixels, lowers it elsewhere.
    margin_step = -(logits.grad[:, 1] - logits.grad[:, 0])
    assert (margin_step[target == 1] > 0).all() and (margin_step[target == 0] < 0).all()
    assert (margin_step[target == IGNORE_INDEX] == 0).all()
