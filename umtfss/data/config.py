"""Config of the `prepare` stage: which dataset, where it lives, and the labeled fractions."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from umtfss.config import Config


class EmbeddedConfig(Config):
    """The synthetic PASCAL-5i-shaped benchmark that `prepare` generates from a seed."""

    seed: int = Field(0, ge=0)
    n_train: int = Field(600, ge=8)
    n_val: int = Field(300, ge=8)
    n_classes: int = Field(20, ge=20, description="object classes (materials); a multiple of 4 folds")
    n_stuff: int = Field(4, ge=1, description="background materials, labeled 0")
    min_size: int = Field(112, ge=32, description="shorter image side, pixels")
    max_size: int = Field(160, ge=32, description="longer image side, pixels")
    max_objects: int = Field(3, ge=1)

    @model_validator(mode="after")
    def _check(self) -> "EmbeddedConfig":
        if self.n_classes % 4:
            raise ValueError(f"n_classes must be a multiple of 4 (4 folds), got {self.n_classes}")
        if self.min_size > self.max_size:
            raise ValueError(f"min_size ({self.min_size}) must not exceed max_size ({self.max_size})")
        return self


class PascalConfig(Config):
    """Image lists of PASCAL-5i, relative to the VOC2012 root; null = the standard lists shipped in umtfss."""

    train_list: str | None = Field(
        None, description="lines `JPEGImages/<id>.jpg SegmentationClassAug/<id>.png`")
    val_list: str | None = None


class CocoConfig(Config):
    """COCO-20i: which class split, and where the images and instance annotations are under the root."""

    split: Literal["interleaved", "contiguous"] = "interleaved"
    train_images: str = "train2014"
    val_images: str = "val2014"
    train_annotations: str = "annotations/instances_train2014.json"
    val_annotations: str = "annotations/instances_val2014.json"


class FractionsConfig(Config):
    """Nested, class-stratified subsets of the labeled train split (percent of images)."""

    percents: list[int] = Field(default_factory=lambda: [5, 10, 20, 100])
    seed: int = 0

    @field_validator("percents")
    @classmethod
    def _check_percents(cls, value: list[int]) -> list[int]:
        if not value or any(not 0 < p <= 100 for p in value) or len(set(value)) != len(value):
            raise ValueError(f"percents must be distinct integers in 1..100, got {value}")
        return sorted(value)


class PrepareConfig(Config):
    dataset: Literal["embedded", "pascal5i", "coco20i", "folder"] = "embedded"
    root: str | None = Field(
        None, description="source root of pascal5i / coco20i / folder; unused by `embedded` (generated in place)"
    )
    embedded: EmbeddedConfig = EmbeddedConfig()
    pascal5i: PascalConfig = PascalConfig()
    coco20i: CocoConfig = CocoConfig()
    fractions: FractionsConfig = FractionsConfig()

    @model_validator(mode="after")
    def _check_root(self) -> "PrepareConfig":
        if self.dataset != "embedded" and not self.root:
            raise ValueError(f"root is required for dataset {self.dataset!r} (the folder that holds it)")
        return self
