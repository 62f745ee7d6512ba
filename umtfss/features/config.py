"""Config of backbones (shared by `extract` and the FSS model) and of the `extract` stage."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from umtfss.config import Config

LayerName = Literal["layer1", "layer2", "layer3", "layer4"]
# Input pixels per output cell of each ResNet stage, undilated.
LAYER_STRIDES: dict[str, int] = {"layer1": 4, "layer2": 8, "layer3": 16, "layer4": 32}


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
    margin: int = Field(
        32, ge=0, description="pixels of mirrored image around the canvas, cut off after the backbone; "
        "a multiple of the layer's stride (32 suits every layer)"
    )
    pool: Literal["train", "all"] = Field("train", description="which images form the unlabeled pool")
    batch_size: int = Field(8, ge=1)
    images_per_shard: int = Field(64, ge=1, description="images stored together in one Zarr shard file")
    device: Literal["auto", "cpu", "cuda"] = "auto"

    @model_validator(mode="after")
    def _check_margin(self) -> ExtractConfig:
        stride = LAYER_STRIDES[self.layer]
        if self.margin % stride:
            raise ValueError(f"margin {self.margin} is not a multiple of the {self.layer} stride {stride}")
        return self
