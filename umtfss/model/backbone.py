"""The frozen, dilated backbone of the few-shot segmenter."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from umtfss.backbones.build import build_network, build_trunk, level_channels
from umtfss.model.config import ModelConfig


class EpisodeFeatures(NamedTuple):
    """The backbone's maps of an episode batch: query (B, C, h, w) and supports (B, K, C, h, w), mid-level
    and high-level (prior) features on one grid."""

    query_mid: torch.Tensor
    query_high: torch.Tensor
    support_mid: torch.Tensor
    support_high: torch.Tensor


class FrozenBackbone(nn.Module):
    """A backbone (dilated to stride 8 unless ``cfg.dilated`` is false) that is never trained: no gradients, BatchNorm always in eval mode.

    Returns the mid-level features (``cfg.mid_layers`` concatenated, upsampled to the larger of their grids),
    which become the tokens, and the high-level ``cfg.prior_layer`` features for the prior mask, resized to
    the same grid.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.mid_layers, self.prior_layer = list(cfg.mid_layers), cfg.prior_layer
        # What, besides the weights, decides the output: two backbones with equal identity and weights give
        # equal features, so predictors may share one forward pass (see `same_features`).
        self.identity = (cfg.backbone.arch, cfg.dilated, tuple(self.mid_layers), self.prior_layer)
        layers = sorted({*self.mid_layers, self.prior_layer})
        self.trunk = build_trunk(build_network(cfg.backbone, dilated=cfg.dilated), cfg.backbone.arch, layers)
        self.mid_channels = sum(level_channels(cfg.backbone.arch, layer) for layer in self.mid_layers)
        self.requires_grad_(False)
        self.train(False)

    def train(self, mode: bool = True) -> FrozenBackbone:
        """Stay in eval mode whatever is asked: BatchNorm running statistics must not drift in training."""
        return super().train(False)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``images`` (N, 3, H, W) -> mid-level (N, mid_channels, h, w) and high-level (N, C, h, w) maps."""
        features = self.trunk(images)
        mid = [features[layer] for layer in self.mid_layers]
        size = max((f.shape[-2:] for f in mid), key=lambda s: s[0] * s[1])
        mid = torch.cat([_resize(f, size) for f in mid], dim=1)
        return mid, _resize(features[self.prior_layer], size)

    def episode(self, query: torch.Tensor, supports: torch.Tensor) -> EpisodeFeatures:
        """One forward pass over ``query`` (B, 3, H, W) and ``supports`` (B, K, 3, H, W)."""
        b, k = supports.shape[:2]
        mid, high = self(torch.cat([query, supports.flatten(0, 1)]))
        return EpisodeFeatures(mid[:b], high[:b], mid[b:].unflatten(0, (b, k)), high[b:].unflatten(0, (b, k)))

    def same_features(self, other: FrozenBackbone) -> bool:
        """Whether ``other`` computes exactly this backbone's features (same identity, equal weights)."""
        if self is other:
            return True
        mine, theirs = self.state_dict(), other.state_dict()
        return self.identity == other.identity and mine.keys() == theirs.keys() and all(
            torch.equal(mine[key], theirs[key].to(mine[key].device)) for key in mine)


def _resize(features: torch.Tensor, size: torch.Size) -> torch.Tensor:
    if features.shape[-2:] == size:
        return features
    return F.interpolate(features, size=size, mode="bilinear", align_corners=False)
