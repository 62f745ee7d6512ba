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


class CcpConfig(Config):
    """Clothing Co-Parsing: the train/val split of the pixel-labelled photos, which classes are usable, the
    folds over them, and optional seeded slices (rules in umtfss/data/ccp.py)."""

    val_fraction: float = Field(0.2, gt=0, lt=1, description="share of the labelled photos held out as val")
    seed: int = Field(0, ge=0, description="seeds the split and the slices")
    min_share: float = Field(0.005, gt=0, le=1, description="share of an image a class must cover to count")
    min_images: int = Field(50, ge=1, description="train images a usable class must cover min_share of")
    background_classes: list[str] = Field(
        default_factory=lambda: ["null", "skin", "hair"], description="label_list names never usable")
    n_folds: int = Field(4, ge=2, description="folds over the usable classes (a fold's base: the others)")
    max_labeled: int | None = Field(None, ge=2, description="seeded subset of labelled photos (null: all)")
    max_unlabeled: int | None = Field(None, ge=0, description="seeded subset of the other photos (null: all)")


class MasksConfig(Config):
    """A folder of images with class-id PNG masks: its classes, ignore ids and folds (layout in
    umtfss/data/masks.py). Folds are either listed (``folds``) or ``n_folds`` contiguous runs of class ids."""

    class_names: list[str] = Field(min_length=2, max_length=255, description="class id order; 0 = background")
    ignore_ids: list[int] = Field(default_factory=lambda: [255], description="mask values that mean ignore")
    folds: list[list[int]] | None = Field(None, description="class ids held out in each fold")
    n_folds: int | None = Field(None, ge=2, description="instead of folds: n contiguous folds over 1..n")

    @model_validator(mode="after")
    def _check(self) -> "MasksConfig":
        n_classes = len(self.class_names) - 1
        if (self.folds is None) == (self.n_folds is None):
            raise ValueError("set exactly one of folds (class ids per fold) and n_folds (contiguous folds)")
        if self.n_folds is not None and self.n_folds > n_classes:
            raise ValueError(f"n_folds ({self.n_folds}) exceeds the {n_classes} declared object classes")
        bad_ignore = [i for i in self.ignore_ids if not n_classes < i <= 255]
        if bad_ignore or len(set(self.ignore_ids)) != len(self.ignore_ids):
            raise ValueError(f"ignore_ids must be distinct ids in {n_classes + 1}..255 (above the declared "
                             f"classes), got {self.ignore_ids}")
        seen: set[int] = set()
        for f, fold in enumerate(self.folds or []):
            undeclared = [c for c in fold if not 1 <= c <= n_classes]
            if not fold or undeclared:
                raise ValueError(f"fold {f} must list declared class ids 1..{n_classes}, got {fold}")
            repeated = sorted({c for c in fold if c in seen or fold.count(c) > 1})
            if repeated:
                raise ValueError(f"folds must be disjoint: class ids {repeated} repeat in fold {f}")
            seen.update(fold)
        return self


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
    dataset: Literal["embedded", "pascal5i", "coco20i", "ccp", "masks", "folder"] = "embedded"
    root: str | None = Field(
        None, description="source root of pascal5i / coco20i / ccp / masks / folder; unused by `embedded` "
        "(generated in place)"
    )
    embedded: EmbeddedConfig = EmbeddedConfig()
    pascal5i: PascalConfig = PascalConfig()
    coco20i: CocoConfig = CocoConfig()
    ccp: CcpConfig = CcpConfig()
    masks: MasksConfig | None = Field(None, description="required by dataset `masks` (no default classes)")
    fractions: FractionsConfig = FractionsConfig()

    @model_validator(mode="after")
    def _check_root(self) -> "PrepareConfig":
        if self.dataset != "embedded" and not self.root:
            raise ValueError(f"root is required for dataset {self.dataset!r} (the folder that holds it)")
        if self.dataset == "masks" and self.masks is None:
            raise ValueError("dataset 'masks' needs a masks section: class_names and folds or n_folds")
        return self
