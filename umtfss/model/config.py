"""Config of the few-shot segmentation model."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from umtfss.config import Config
from umtfss.backbones.config import BackboneConfig, check_level


class ModelConfig(Config):
    backbone: BackboneConfig = BackboneConfig()
    mid_layers: list[str] = Field(default_factory=lambda: ["layer3", "layer4"],
                                  description="two backbone levels, concatenated into the tokens")
    prior_layer: str = Field("layer4", description="the backbone level the prior mask is computed from")
    dilated: bool = Field(True, description="dilate the backbone's deeper levels to stride 8 (PFENet, the "
                          "paper); false = their own strides, tokens on the finer mid level's grid")
    dim: int = Field(256, ge=8)
    heads: int = Field(8, ge=1)
    blocks: int = Field(2, ge=1)
    dropout: float = Field(0.1, ge=0, lt=1)
    cross_attention: Literal["prototype", "vanilla"] = "prototype"
    k_fg: int = Field(50, ge=1, description="foreground prototypes (paper 50; released code 20)")
    k_bg: int = Field(100, ge=1, description="background prototypes (paper 100; released code 50)")
    lsh_bits: int = Field(64, ge=1, le=1024)
    hamming_iters: int = Field(10, ge=1)
    lsh_seed: int = 0

    _check_prior_layer = field_validator("prior_layer")(check_level)

    @field_validator("mid_layers")
    @classmethod
    def _check_mid_layers(cls, names: list[str], info: ValidationInfo) -> list[str]:
        return [check_level(name, info) for name in names]

    @model_validator(mode="after")
    def _check(self) -> "ModelConfig":
        if self.dim % self.heads:
            raise ValueError(f"dim ({self.dim}) must be divisible by heads ({self.heads})")
        if len(self.mid_layers) != 2 or len(set(self.mid_layers)) != 2:
            raise ValueError(f"mid_layers must name two distinct layers, got {self.mid_layers}")
        return self
