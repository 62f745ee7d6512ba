"""PFENet's training-free prior mask: where the query looks like the support foreground in deep features."""

from __future__ import annotations

import torch
import torch.nn.functional as F

_EPS = 1e-7


@torch.no_grad()
def prior_mask(query: torch.Tensor, supports: torch.Tensor, foreground: torch.Tensor) -> torch.Tensor:
    """Per query cell, the best cosine similarity to any support foreground cell, min-max normalised.

    ``query`` (B, C, h, w) and ``supports`` (B, K, C, h, w) are frozen high-level features, ``foreground``
    (B, K, h, w) bool marks the support foreground cells. Each shot gives its own normalised map and the maps
    are averaged over shots (PFENet's choice: one poor support dilutes rather than dominates). A shot without
    foreground contributes zeros. Returns (B, 1, h, w) in [0, 1]; no gradient flows (the features are frozen).
    """
    b, k, _, h, w = supports.shape
    q = F.normalize(query.flatten(2), dim=1)  # (B, C, Nq)
    s = F.normalize(supports.flatten(3), dim=2)  # (B, K, C, Ns)
    similarity = torch.einsum("bkcs,bcq->bksq", s, q)
    background = ~foreground.flatten(2)[..., None]
    similarity = similarity.masked_fill(background, float("-inf")).amax(2)  # (B, K, Nq)
    has_foreground = foreground.flatten(2).any(-1, keepdim=True)
    similarity = torch.where(has_foreground, similarity, torch.zeros_like(similarity))
    low = similarity.amin(-1, keepdim=True)
    high = similarity.amax(-1, keepdim=True)
    normalised = (similarity - low) / (high - low + _EPS)
    return normalised.mean(1).reshape(b, 1, h, w)
