"""How well cluster labels match the true classes: purity and NMI from a clusters x classes contingency matrix.

Streamed image by image (one label chunk and one mask in memory), so it scales to any store; both scores
come from the accumulated counts only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import mutual_info_score

from umtfss.data.images import IGNORE, letterbox, load_mask
from umtfss.errors import InputError
from umtfss.features.store import open_group

N_MASK_VALUES = 256  # masks are uint8 class ids; 255 (ignore) is dropped


@dataclass(frozen=True)
class Quality:
    purity: float
    nmi: float
    n_images: int
    n_cells: int


def scores(contingency: np.ndarray) -> tuple[float, float]:
    """(purity, NMI) of a clusters x classes count matrix; NMI with sklearn's arithmetic normalisation."""
    contingency = np.asarray(contingency, dtype=np.int64)
    total = contingency.sum()
    if total == 0:
        raise ValueError("no labeled cells to score")
    purity = contingency.max(axis=1).sum() / total
    mutual = mutual_info_score(None, None, contingency=contingency)

    def entropy(counts: np.ndarray) -> float:
        p = counts[counts > 0] / total
        return float(-(p * np.log(p)).sum())

    h_clusters, h_classes = entropy(contingency.sum(axis=1)), entropy(contingency.sum(axis=0))
    # sklearn's convention: two constant labelings agree perfectly; otherwise mean of the entropies.
    if h_clusters == 0 and h_classes == 0:
        return float(purity), 1.0
    return float(purity), float(mutual / max((h_clusters + h_classes) / 2, np.finfo(float).eps))


def cell_classes(mask: np.ndarray, *, input_size: int, cell_size: int, side: int) -> np.ndarray:
    """True class at the centre of each of the ``side`` x ``side`` label cells (255 where unknown)."""
    canvas, _ = letterbox(mask, input_size, is_mask=True)
    centres = np.minimum(np.arange(side) * cell_size + cell_size // 2, input_size - 1)
    return canvas[np.ix_(centres, centres)]


def cluster_quality(labels_path: str | os.PathLike[str], masks: Mapping[str, str | os.PathLike[str]]) -> Quality:
    """Purity and NMI of the label store against the true masks of the images in ``masks`` (image id ->
    mask path) that the store holds, over cells that are valid and not ignored."""
    group = open_group(labels_path, what="labels")
    try:
        labels = group["labels"]
        image_ids = group.attrs["image_ids"]
        cell_size, input_size, n_clusters = (group.attrs[k] for k in ("cell_size", "input_size", "n_clusters"))
    except KeyError as exc:
        raise InputError(f"labels store {labels_path} lacks {exc}") from None
    rows = {image_id: row for row, image_id in enumerate(image_ids)}
    scored = [(rows[image_id], path) for image_id, path in masks.items() if image_id in rows]
    if not scored:
        raise InputError(f"none of the {len(masks)} labeled images is in {labels_path}")
    contingency = np.zeros((n_clusters, N_MASK_VALUES), dtype=np.int64)
    n_cells = 0
    for row, path in sorted(scored):
        cells = labels[row].astype(np.int64)
        classes = cell_classes(load_mask(path), input_size=input_size, cell_size=cell_size,
                               side=cells.shape[0]).astype(np.int64)
        keep = (cells >= 0) & (classes != IGNORE)
        contingency += np.bincount(cells[keep] * N_MASK_VALUES + classes[keep],
                                   minlength=n_clusters * N_MASK_VALUES).reshape(n_clusters, N_MASK_VALUES)
        n_cells += int(keep.sum())
    purity, nmi = scores(contingency)
    return Quality(purity=purity, nmi=nmi, n_images=len(scored), n_cells=n_cells)
