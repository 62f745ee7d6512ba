"""Dense contrastive loss: a cell of one view must find, among all cells of the other view of every image in
the batch, the cells that show the same place of the same image.

Cells closer than ``radius`` cells (measured in the original image) to the anchor's place are its positives
(PixPro's rule, which makes features smooth inside a region); the other cells of the same image are left out
of the contrast, since they may well show the same material; every cell of the other images is a negative.
The loss is a multi-positive InfoNCE (log of the positives' share of the softmax mass), symmetrised over
the two views.
"""

from __future__ import annotations

import torch


def positive_pairs(centres_a: torch.Tensor, centres_b: torch.Tensor, cell_size: torch.Tensor,
                   image_index: torch.Tensor, radius: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(positives, comparable) bool (N, N) over the cells of views a (rows) and b (columns).

    ``centres_*`` (N, 2) image pixels, ``cell_size`` (N,) the larger cell side of the two views of each cell's
    image, ``image_index`` (N,) which image of the batch a cell belongs to (the same for both views).
    """
    same_image = image_index[:, None] == image_index[None, :]
    distance = torch.cdist(centres_a, centres_b) / cell_size[:, None]
    positives = same_image & (distance < radius)
    return positives, positives | ~same_image


def _one_way(similarity: torch.Tensor, positives: torch.Tensor, comparable: torch.Tensor) -> torch.Tensor:
    logits = similarity.masked_fill(~comparable, float("-inf"))
    total = torch.logsumexp(logits, dim=1)
    positive = torch.logsumexp(logits.masked_fill(~positives, float("-inf")), dim=1)
    has_positive = positives.any(dim=1)
    return (total - positive)[has_positive].mean()


def dense_contrastive_loss(embeddings_a: torch.Tensor, embeddings_b: torch.Tensor, positives: torch.Tensor,
                           comparable: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric multi-positive InfoNCE of L2-normalised cell embeddings (N, D) of two views.

    Cells with no positive (their place is outside the other view) are no anchors. Raises ValueError when no
    cell has a positive: the views do not overlap at all, and there is nothing to learn from the batch.
    """
    if embeddings_a.shape != embeddings_b.shape or positives.shape != (len(embeddings_a), len(embeddings_b)):
        raise ValueError(f"shapes do not fit: {tuple(embeddings_a.shape)}, {tuple(embeddings_b.shape)}, "
                         f"positives {tuple(positives.shape)}")
    if not positives.any():
        raise ValueError("no cell of one view has a positive in the other: the views do not overlap")
    similarity = embeddings_a @ embeddings_b.T / temperature
    forward = _one_way(similarity, positives, comparable)
    backward = _one_way(similarity.T, positives.T, comparable.T)
    return 0.5 * (forward + backward)
