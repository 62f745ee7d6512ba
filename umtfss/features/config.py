"""Config of the `extract` stage."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from umtfss.backbones.config import BackboneConfig, check_level, level_stride
from umtfss.config import Config


class ExtractConfig(Config):
    backbone: BackboneConfig = BackboneConfig()
    layer: str = Field("layer4", description="the backbone level whose cells are clustered")
    input_size: int = Field(473, ge=32, description="longer image side after resizing (aspect kept, then padded)")
    margin: int = Field(
        32, ge=0, description="pixels of mirrored image around the canvas, cut off after the backbone; "
        "a multiple of the layer's stride (32 suits every layer)"
    )
    pool: Literal["train", "all"] = Field("train", description="which images form the unlabeled pool")
    batch_size: int = Field(8, ge=1)
    images_per_shard: int = Field(64, ge=1, description="images stored together in one Zarr shard file")
    device: Literal["auto", "cpu", "cuda"] = "auto"

    _check_layer = field_validator("layer")(check_level)

    @model_validator(mode="after")
    def _check_margin(self) -> ExtractConfig:
        stride = level_stride(self.backbone.arch, self.layer)
        if self.margin % stride:
            raise ValueError(f"margin {self.margin} is not a multiple of the {self.layer} stride {stride}")
        return self
