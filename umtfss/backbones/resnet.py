"""torchvision ResNets with their weights from a checkpoint path, and a trunk that returns named layers.

Checkpoints accepted: a torchvision state dict, or a MoCo-v2 ``.pth.tar`` (``state_dict`` with
``module.encoder_q.*`` keys; the projection head is dropped). ``weights: null`` gives a seeded random init,
the honest choice where no pretrained weights can be had.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from umtfss.backbones.checkpoints import check_fits, read_checkpoint
from umtfss.backbones.config import ARCH_LEVELS, BackboneConfig
from umtfss.backbones.files import weights_file
from umtfss.errors import CheckpointError
from umtfss.vision import models

LAYERS = tuple(lv.name for lv in ARCH_LEVELS["resnet18"])  # every ResNet has the same stages
_MOCO_PREFIX = "module.encoder_q."


def _dilate(layer: nn.Sequential, dilation: int) -> None:
    """Turn a stride-2 ResNet stage into a stride-1 stage with dilated 3x3 convolutions.

    torchvision's ``replace_stride_with_dilation`` refuses BasicBlock (ResNet-18), so both block types are
    patched after construction, the way dilated FSS backbones (PFENet, HSNet) do it.
    """
    for module in layer.modules():
        if isinstance(module, nn.Conv2d):
            if module.kernel_size == (3, 3):
                module.dilation, module.padding = (dilation, dilation), (dilation, dilation)
            if module.stride == (2, 2):
                module.stride = (1, 1)


def _read_state_dict(cfg: BackboneConfig) -> dict[str, torch.Tensor]:
    path = weights_file(cfg)
    assert path is not None, "_read_state_dict needs weights"
    state = read_checkpoint(path)
    is_moco = any(key.startswith(_MOCO_PREFIX) for key in state)
    if cfg.weights_format == "moco" and not is_moco:
        raise CheckpointError(f"{path} is not a MoCo checkpoint: no '{_MOCO_PREFIX}*' keys")
    if cfg.weights_format == "torchvision" and is_moco:
        raise CheckpointError(f"{path} is a MoCo checkpoint, but weights_format is 'torchvision'")
    if is_moco:
        state = {key[len(_MOCO_PREFIX):]: value for key, value in state.items() if key.startswith(_MOCO_PREFIX)}
    return {key: value for key, value in state.items() if not key.startswith("fc.")}


def build_resnet(cfg: BackboneConfig, *, dilated: bool = False) -> models.ResNet:
    """The configured ResNet with its weights loaded; ``dilated`` keeps layer3/layer4 at stride 8."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        resnet = getattr(models, cfg.arch)(weights=None)
    if cfg.weights is not None:
        state = _read_state_dict(cfg)
        expected = {key: value.shape for key, value in resnet.state_dict().items() if not key.startswith("fc.")}
        check_fits(state, expected, str(cfg.weights), cfg.arch)
        resnet.load_state_dict(state, strict=False)
    if dilated:
        _dilate(resnet.layer3, 2)
        _dilate(resnet.layer4, 4)
    return resnet


class ResNetTrunk(nn.Module):
    """Runs a ResNet up to the deepest requested layer and returns each requested layer's output."""

    def __init__(self, resnet: models.ResNet, layers: Sequence[str]) -> None:
        super().__init__()
        self.layers = tuple(layers)
        self.stem = nn.Sequential(resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool)
        depth = max(LAYERS.index(name) for name in layers) + 1
        self.stages = nn.ModuleDict({name: getattr(resnet, name) for name in LAYERS[:depth]})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.stem(x)
        outputs: dict[str, torch.Tensor] = {}
        for name, stage in self.stages.items():
            x = stage(x)
            if name in self.layers:
                outputs[name] = x
        return outputs
