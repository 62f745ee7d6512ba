"""One interface over the architectures of :mod:`umtfss.backbones.config`.

``build_network(cfg)`` gives the whole network with its weights loaded; ``build_trunk(network, arch, levels)``
a module that returns the requested levels by name; ``network_state(network)`` the weights in the format
that ``build_network`` reads back (what `selfsup` writes). `selfsup`, `extract` and the few-shot model use
nothing else, so an architecture is added here and in the level table alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from umtfss.backbones.config import (
    ARCH_LEVELS,
    FAMILY,
    BackboneConfig,
    level_channels,
    level_stride,
)

__all__ = ["ARCH_LEVELS", "BackboneConfig", "build_network", "build_trunk", "level_channels", "level_stride",
           "network_state"]


def build_network(cfg: BackboneConfig, *, dilated: bool = False) -> nn.Module:
    """The configured backbone with its weights; ``dilated`` keeps every level at stride <= 8."""
    if FAMILY[cfg.arch] == "resnet":
        from umtfss.backbones.resnet import build_resnet
        return build_resnet(cfg, dilated=dilated)
    from umtfss.backbones.efficientnet import build_efficientnet
    return build_efficientnet(cfg, dilated=dilated)


def build_trunk(network: nn.Module, arch: str, levels: Sequence[str]) -> nn.Module:
    """A module over ``network`` whose forward returns ``{level: features}`` for ``levels`` of ``arch``."""
    unknown = sorted(set(levels) - {lv.name for lv in ARCH_LEVELS[arch]})
    if unknown or not levels:
        raise ValueError(f"levels must be a non-empty subset of {[lv.name for lv in ARCH_LEVELS[arch]]}, "
                         f"got {list(levels)}")
    if FAMILY[arch] == "resnet":
        from umtfss.backbones.resnet import ResNetTrunk
        return ResNetTrunk(network, levels)
    from umtfss.backbones.efficientnet import EfficientNetTrunk
    return EfficientNetTrunk(network, arch, levels)


def network_state(network: nn.Module) -> dict[str, torch.Tensor]:
    """``network``'s weights and BatchNorm statistics, without a classifier, detached on the CPU."""
    return {k: v.detach().cpu().clone(memory_format=torch.contiguous_format)
            for k, v in network.state_dict().items() if not k.startswith("fc.")}
