"""A training-free baseline: cosine similarity of query features to the support's masked-average prototype.

It uses the few-shot model's own frozen backbone and mid-level features, so the gap between it and the model
is what the trained layers add. Its "logits" are (threshold, similarity) per pixel, so the protocol's
crop / resize / arg-max applies unchanged: foreground where the similarity exceeds the threshold.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from umtfss.model.backbone import EpisodeFeatures, FrozenBackbone
from umtfss.model.config import ModelConfig
from umtfss.model.encoder import masked_average
from umtfss.model.masks import cell_fractions


class PrototypeBaseline(nn.Module):
    """Masked-average prototype of the K supports' features; cosine similarity of each query cell."""

    def __init__(self, cfg: ModelConfig, threshold: float) -> None:
        super().__init__()
        self.backbone = FrozenBackbone(cfg)
        self.threshold = threshold

    def similarity(
        self, query: torch.Tensor, supports: torch.Tensor, support_masks: torch.Tensor
    ) -> torch.Tensor:
        """Cosine similarity (B, 1, H, W) of each query pixel's (bilinearly upsampled) feature cell to the
        prototype; same inputs as ``FewShotSegmenter.forward``."""
        return self.similarity_of(self.backbone.episode(query, supports), support_masks, query.shape[-2:])

    def similarity_of(self, features: EpisodeFeatures, support_masks: torch.Tensor,
                      size: torch.Size) -> torch.Tensor:
        """:meth:`similarity` from the backbone's ``features`` of the episode batch."""
        # Area-weighted, as the model's own prototype: a cell half covered by the object counts half.
        foreground, _ = cell_fractions(support_masks, tuple(features.query_mid.shape[-2:]))
        prototype = masked_average(features.support_mid, foreground)
        similarity = F.cosine_similarity(features.query_mid, prototype[:, :, None, None], dim=1)[:, None]
        return F.interpolate(similarity, size=size, mode="bilinear", align_corners=False)

    def forward(
        self, query: torch.Tensor, supports: torch.Tensor, support_masks: torch.Tensor
    ) -> torch.Tensor:
        """Logits (B, 2, H, W): channel 0 the threshold, channel 1 the similarity."""
        return self.decode(self.backbone.episode(query, supports), support_masks, query.shape[-2:])

    def decode(self, features: EpisodeFeatures, support_masks: torch.Tensor, size: torch.Size) -> torch.Tensor:
        """:meth:`forward` from the backbone's ``features`` of the episode batch."""
        similarity = self.similarity_of(features, support_masks, size)
        return torch.cat([torch.full_like(similarity, self.threshold), similarity], dim=1)
