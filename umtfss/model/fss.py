"""The few-shot segmenter: frozen backbone, PFENet-style encoding, query/support Transformer and head."""

from __future__ import annotations

import torch
from torch import nn

from umtfss.model.backbone import EpisodeFeatures, FrozenBackbone
from umtfss.model.config import ModelConfig
from umtfss.model.encoder import EpisodeEncoder
from umtfss.model.head import SegmentationHead
from umtfss.model.masks import FOREGROUND, cell_fractions, cell_labels
from umtfss.model.prior import prior_mask
from umtfss.model.transformer import QuerySupportTransformer


class FewShotSegmenter(nn.Module):
    """Segments in a query image the object marked in K support images (one class per episode)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.backbone = FrozenBackbone(cfg)
        self.encoder = EpisodeEncoder(self.backbone.mid_channels, cfg.dim)
        self.transformer = QuerySupportTransformer(cfg)
        self.head = SegmentationHead(cfg.dim, cfg.dropout)

    def forward(
        self, query: torch.Tensor, supports: torch.Tensor, support_masks: torch.Tensor
    ) -> torch.Tensor:
        """``query`` (B, 3, H, W), ``supports`` (B, K, 3, H, W) normalised images, ``support_masks``
        (B, K, H, W) int64 in {0, 1, 255}. Returns logits (B, 2, H, W) of background and foreground."""
        b, k = supports.shape[:2]
        if supports.shape[2:] != query.shape[1:] or support_masks.shape != (b, k, *query.shape[-2:]):
            raise ValueError(
                f"shapes do not fit: query {tuple(query.shape)}, supports {tuple(supports.shape)}, "
                f"support_masks {tuple(support_masks.shape)}"
            )
        return self.decode(self.backbone.episode(query, supports), support_masks, query.shape[-2:])

    def decode(self, features: EpisodeFeatures, support_masks: torch.Tensor, size: torch.Size) -> torch.Tensor:
        """Logits (B, 2, *size) from the backbone's ``features`` of an episode batch (what ``forward`` does
        after the backbone; evaluation shares one backbone pass among predictors)."""
        b, k = support_masks.shape[:2]
        foreground, ignore = cell_fractions(support_masks, tuple(features.query_mid.shape[-2:]))
        labels = cell_labels(foreground, ignore)
        prior = prior_mask(features.query_high, features.support_high, labels == FOREGROUND)
        q, s = self.encoder(features.query_mid, features.support_mid, foreground,
                            prior.to(features.query_mid.dtype))
        return self.head(self.transformer(q, s, labels), size)

    def parameter_groups(self) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        """Trainable parameters as (convolutional parts for SGD, Transformer for AdamW)."""
        transformer = [p for p in self.transformer.parameters() if p.requires_grad]
        chosen = {id(p) for p in transformer}
        other = [p for p in self.parameters() if p.requires_grad and id(p) not in chosen]
        return other, transformer
