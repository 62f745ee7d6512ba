"""Config of backbones (shared by `extract` and the FSS model) and of the `extract` stage."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from umtfss.config import Config

LayerName = Literal["layer1", "layer2", "layer3", "layer4"]


class BackboneConfig(Config):
    """A torchvision ResNet and where its weights come from."""

    arch: Literal["resnet18", "resnet50"] = "resnet50"
    weights: str | None = Field(
        None, description="checkpoint path (torchvision state dict or MoCo-v2 .pth.tar); null = seeded random init"
    )
    weights_format: Literal["auto", "torchvision", "moco"] = "auto"
    seed: int = Field(0, description="seed of the random init when weights is null")


class ExtractConfig(Config):
    backbone: BackboneConfig = BackboneConfig()
    layer: LayerName = "layer4"
    input_size: int = Field(473, ge=32, description="longer image side after resizing (aspect kept, then padded)")
    pool: Literal["train", "all"] = Field("train", description="which images form the unlabeled pool")
    batch_size: int = Field(8, ge=1)
    images_per_shard: int = Field(64, ge=1, description="images stored together in one Zarr shard file")
    device: Literal["auto", "cpu", "cuda"] = "auto"
