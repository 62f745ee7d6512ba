"""Episodic segmentation scores: class-wise mIoU and FB-IoU, as PFENet and HSNet report them.

Both are ratios of sums, not means of per-episode ratios: a class's IoU is the sum of its episodes'
intersections over the sum of their unions, so a large object weighs more than a small one. Pixels labelled
255 (ignore) count for neither.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

IGNORE = 255


def _as_numpy(array: np.ndarray | torch.Tensor) -> np.ndarray:
    return array.detach().cpu().numpy() if isinstance(array, torch.Tensor) else np.asarray(array)


class IoUAccumulator:
    """Sums intersections and unions over episodes of the given (novel) classes.

    ``miou``: mean over the classes that had at least one episode of sum(I) / sum(U), in [0, 1];
    ``fbiou``: mean of the background and foreground IoU, each summed over all episodes.
    """

    def __init__(self, classes: Iterable[int]) -> None:
        self.classes = sorted(set(classes))
        if not self.classes:
            raise ValueError("IoUAccumulator needs at least one class")
        self.intersection = {c: 0 for c in self.classes}
        self.union = {c: 0 for c in self.classes}
        self.episodes = {c: 0 for c in self.classes}
        # [background, foreground] totals over all episodes, for FB-IoU.
        self.fb_intersection = np.zeros(2, dtype=np.int64)
        self.fb_union = np.zeros(2, dtype=np.int64)

    def update(
        self, pred: np.ndarray | torch.Tensor, label: np.ndarray | torch.Tensor, class_id: int
    ) -> None:
        """Add one episode: ``pred`` (H, W) in {0, 1}, ``label`` (H, W) in {0, 1, 255}, same size."""
        if class_id not in self.intersection:
            raise ValueError(f"class {class_id} is not one of the evaluated classes {self.classes}")
        pred, label = _as_numpy(pred), _as_numpy(label)
        if pred.shape != label.shape or pred.ndim != 2:
            raise ValueError(f"prediction {pred.shape} and label {label.shape} must be equal (H, W) shapes")
        valid = label != IGNORE
        for value in (0, 1):  # background, foreground
            p, t = (pred == value) & valid, (label == value) & valid
            intersection, union = int(np.count_nonzero(p & t)), int(np.count_nonzero(p | t))
            self.fb_intersection[value] += intersection
            self.fb_union[value] += union
        # The class's IoU is its foreground's: the last loop iteration.
        self.intersection[class_id] += intersection
        self.union[class_id] += union
        self.episodes[class_id] += 1

    def class_iou(self) -> dict[int, float]:
        """IoU per class that had at least one episode (a class with no pixels of either kind scores 1)."""
        return {
            c: (self.intersection[c] / self.union[c] if self.union[c] else 1.0)
            for c in self.classes
            if self.episodes[c]
        }

    def miou(self) -> float:
        ious = self.class_iou()
        if not ious:
            raise ValueError("no episode was scored")
        return float(np.mean(list(ious.values())))

    def fbiou(self) -> float:
        if not sum(self.episodes.values()):
            raise ValueError("no episode was scored")
        ious = [i / u if u else 1.0 for i, u in zip(self.fb_intersection, self.fb_union, strict=True)]
        return float(np.mean(ious))

    @property
    def n_episodes(self) -> int:
        return sum(self.episodes.values())
