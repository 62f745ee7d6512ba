"""Backbone weights load from the checkpoint formats people have, and wrong ones are refused clearly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from umtfss.errors import CheckpointError
from umtfss.features.backbones import ResNetTrunk, build_resnet, layer_channels, layer_stride
from umtfss.features.config import BackboneConfig
from umtfss.vision import models


def _reference(arch: str, seed: int = 123) -> models.ResNet:
    torch.manual_seed(seed)
    return getattr(models, arch)(weights=None)


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return all(torch.equal(sa[k], sb[k]) for k in sa if not k.startswith("fc."))


def test_torchvision_state_dict_loads(tmp_path: Path) -> None:
    reference = _reference("resnet18")
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)
    loaded = build_resnet(BackboneConfig(arch="resnet18", weights=str(path)))
    assert _same_weights(loaded, reference)


def test_moco_checkpoint_loads_encoder_q_and_drops_the_head(tmp_path: Path) -> None:
    reference = _reference("resnet18")
    state = {f"module.encoder_q.{k}": v for k, v in reference.state_dict().items() if not k.startswith("fc.")}
    state["module.encoder_q.fc.0.weight"] = torch.zeros(512, 512)  # MoCo-v2's MLP head
    state["module.encoder_k.conv1.weight"] = torch.zeros_like(reference.conv1.weight)
    state["module.queue"] = torch.zeros(128, 16)
    path = tmp_path / "moco_v2_800ep.pth.tar"
    torch.save({"epoch": 800, "arch": "resnet18", "state_dict": state}, path)
    for weights_format in ("auto", "moco"):
        loaded = build_resnet(BackboneConfig(arch="resnet18", weights=str(path), weights_format=weights_format))
        assert _same_weights(loaded, reference)
    with pytest.raises(CheckpointError, match="MoCo"):
        build_resnet(BackboneConfig(arch="resnet18", weights=str(path), weights_format="torchvision"))


def test_checkpoint_for_another_architecture_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "resnet18.pth"
    torch.save(_reference("resnet18").state_dict(), path)
    with pytest.raises(CheckpointError, match="not a resnet50 checkpoint"):
        build_resnet(BackboneConfig(arch="resnet50", weights=str(path)))


def test_missing_and_garbage_checkpoints_are_refused(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        build_resnet(BackboneConfig(arch="resnet18", weights=str(tmp_path / "nope.pth")))
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="cannot be read"):
        build_resnet(BackboneConfig(arch="resnet18", weights=str(garbage)))


def test_random_init_is_seeded_and_leaves_global_rng_alone() -> None:
    torch.manual_seed(7)
    before = torch.rand(1)
    torch.manual_seed(7)
    a = build_resnet(BackboneConfig(arch="resnet18", seed=1))
    assert torch.equal(torch.rand(1), before)
    assert _same_weights(a, build_resnet(BackboneConfig(arch="resnet18", seed=1)))
    assert not _same_weights(a, build_resnet(BackboneConfig(arch="resnet18", seed=2)))


@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])
def test_dilated_trunk_keeps_stride_8(arch: str) -> None:
    trunk = ResNetTrunk(build_resnet(BackboneConfig(arch=arch), dilated=True), ["layer2", "layer3", "layer4"])
    with torch.inference_mode():
        outputs = trunk(torch.randn(1, 3, 64, 64))
    for layer, tensor in outputs.items():
        assert tensor.shape[1:] == (layer_channels(arch, layer), 8, 8)
        assert layer_stride(layer, dilated=True) == 8
    plain = ResNetTrunk(build_resnet(BackboneConfig(arch=arch)), ["layer4"])
    with torch.inference_mode():
        assert plain(torch.randn(1, 3, 64, 64))["layer4"].shape[-1] == 2
