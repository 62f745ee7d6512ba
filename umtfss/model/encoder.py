"""PFENet-style episode encoding: reduce mid-level features, add the support prototype and the prior mask."""

from __future__ import annotations

import torch
from torch import nn

# PFENet's dropout after the channel reduction; heavier than the Transformer's because it regularises the only
# trainable layer that sees raw backbone features.
REDUCTION_DROPOUT = 0.5


def _conv1x1(in_channels: int, out_channels: int, dropout: float = 0.0) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.ReLU(inplace=True)]
    if dropout:
        layers.append(nn.Dropout2d(dropout))
    return nn.Sequential(*layers)


def masked_average(features: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Foreground prototype of an episode: the average of all K supports' features weighted by foreground.

    ``features`` (B, K, C, h, w), ``weights`` (B, K, h, w) foreground fractions. The shots are pooled pixel by
    pixel (not averaged per shot), so a shot with little or no foreground counts little or not at all. Returns
    (B, C); zeros for an episode without any foreground.
    """
    total = torch.einsum("bkchw,bkhw->bc", features, weights)
    return total / (weights.sum((1, 2, 3))[:, None] + 5e-4)


class EpisodeEncoder(nn.Module):
    """Query and support feature maps of width ``dim`` that already know the support foreground.

    Query: [reduced features, support prototype, prior mask] -> 1x1 conv. Supports: [reduced features,
    support prototype] -> 1x1 conv. Supports get no prior channel, as in the authors' code: a support's own
    prior would mostly repeat its mask, which the support tokens already carry through the grouping.
    """

    def __init__(self, in_channels: int, dim: int) -> None:
        super().__init__()
        self.reduce_query = _conv1x1(in_channels, dim, REDUCTION_DROPOUT)
        self.reduce_support = _conv1x1(in_channels, dim, REDUCTION_DROPOUT)
        self.merge_query = _conv1x1(2 * dim + 1, dim)
        self.merge_support = _conv1x1(2 * dim, dim)

    def forward(
        self, query: torch.Tensor, supports: torch.Tensor, foreground: torch.Tensor, prior: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``query`` (B, C, h, w), ``supports`` (B, K, C, h, w) mid-level features, ``foreground``
        (B, K, h, w) fractions, ``prior`` (B, 1, h, w). Returns the query (B, dim, h, w) and the supports
        (B, K, dim, h, w)."""
        b, k = supports.shape[:2]
        query = self.reduce_query(query)
        supports = self.reduce_support(supports.flatten(0, 1))
        prototype = masked_average(supports.unflatten(0, (b, k)), foreground)[..., None, None]
        query = self.merge_query(torch.cat([query, prototype.expand_as(query), prior], dim=1))
        prototypes = prototype.repeat_interleave(k, dim=0).expand_as(supports)
        supports = self.merge_support(torch.cat([supports, prototypes], dim=1))
        return query, supports.unflatten(0, (b, k))
