"""Config of the `selfsup` stage: which backbone to start from and how to train it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from umtfss.config import Config
from umtfss.backbones.config import BackboneConfig, check_level, level_stride


class ColourJitterConfig(Config):
    """Photometric augmentation of each view: torchvision ColorJitter strengths, applied with ``p``."""

    p: float = Field(0.8, ge=0, le=1)
    brightness: float = Field(0.4, ge=0)
    contrast: float = Field(0.4, ge=0)
    saturation: float = Field(0.2, ge=0)
    hue: float = Field(0.02, ge=0, le=0.5)


class SelfSupConfig(Config):
    """Dense contrastive training of ``backbone`` up to ``layer``; deeper layers keep their init."""

    backbone: BackboneConfig = BackboneConfig(arch="resnet18")
    layer: str = Field("layer3", description="deepest layer trained; its cells are contrasted")
    pool: Literal["train", "all"] = Field("train", description="which images form the unlabeled pool")
    seed: int = 0
    steps: int = Field(200, ge=0, description="0 = write the initial backbone unchanged")
    batch_size: int = Field(32, ge=2, description="images per step; each gives two views")
    crop_size: int = Field(96, ge=32, description="side of each view in pixels")
    min_area: float = Field(0.3, gt=0, le=1, description="smallest crop, as a share of the image area")
    lr: float = Field(0.05, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(1e-4, ge=0)
    temperature: float = Field(0.2, gt=0)
    positive_radius: float = Field(
        1.0, gt=0, description="cells of the two views closer than this many cells (in the image) match"
    )
    projection_dim: int = Field(128, ge=8)
    jitter: ColourJitterConfig = ColourJitterConfig()
    checkpoint_every: int = Field(50, ge=1)
    log_every: int = Field(10, ge=1)
    device: Literal["auto", "cpu", "cuda"] = "auto"

    _check_layer = field_validator("layer")(check_level)

    @model_validator(mode="after")
    def _check_grid(self) -> SelfSupConfig:
        stride = level_stride(self.backbone.arch, self.layer)
        if self.crop_size // stride < 2:
            raise ValueError(f"crop_size {self.crop_size} gives under 2 x 2 {self.layer} cells "
                             f"(stride {stride}): nothing to contrast")
        return self
