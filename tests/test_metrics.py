"""IoUAccumulator against values worked out by hand on tiny masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from umtfss.evaluation.metrics import IoUAccumulator


def _episodes() -> list[tuple[np.ndarray, np.ndarray, int]]:
    return [
        # fg: I = 1, U = 3; bg (255 at (1, 1) excluded): I = 2, U = 4
        (np.array([[1, 1, 0], [0, 0, 0]]), np.array([[1, 0, 0], [1, 255, 0]]), 1),
        # fg: I = 2, U = 4; bg: I = 0, U = 2
        (np.ones((2, 2), int), np.array([[1, 1], [0, 0]]), 1),
        # fg: I = 1, U = 1; bg: I = 3, U = 3
        (np.array([[0, 0], [0, 1]]), np.array([[0, 0], [0, 1]]), 2),
    ]


def test_class_iou_is_ratio_of_sums_and_miou_skips_unseen_classes() -> None:
    acc = IoUAccumulator([1, 2, 3])
    for pred, label, class_id in _episodes():
        acc.update(pred, label, class_id)
    assert acc.class_iou() == pytest.approx({1: 3 / 7, 2: 1.0})  # not (1/3 + 1/2) / 2 for class 1
    assert acc.miou() == pytest.approx((3 / 7 + 1.0) / 2)
    assert acc.fbiou() == pytest.approx((4 / 8 + 5 / 9) / 2)
    assert acc.n_episodes == 3


def test_ignore_pixels_count_for_nothing() -> None:
    acc = IoUAccumulator([1])
    # Every pixel the prediction gets wrong is ignore: a perfect score.
    acc.update(torch.tensor([[1, 1], [0, 1]]), torch.tensor([[1, 255], [0, 255]]), 1)
    assert acc.miou() == 1.0
    assert acc.fbiou() == 1.0


def test_rejects_unknown_class_and_size_mismatch() -> None:
    acc = IoUAccumulator([1])
    with pytest.raises(ValueError, match="class 2"):
        acc.update(np.zeros((2, 2)), np.zeros((2, 2)), 2)
    with pytest.raises(ValueError, match="shapes"):
        acc.update(np.zeros((2, 2)), np.zeros((2, 3)), 1)
    with pytest.raises(ValueError, match="no episode"):
        acc.miou()
