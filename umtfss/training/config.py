"""Config of episodic training, shared by `pretrain` (pseudo episodes) and `finetune` (labeled episodes)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from umtfss.config import Config
from umtfss.episodes.config import AugmentConfig
from umtfss.training.losses import LossKind


class SGDConfig(Config):
    lr: float = Field(1e-2, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(1e-4, ge=0)


class AdamWConfig(Config):
    lr: float = Field(1e-4, gt=0)
    weight_decay: float = Field(1e-2, ge=0)


class TrainConfig(Config):
    seed: int = 0
    steps: int = Field(600, ge=1, description="optimizer steps")
    batch_size: int = Field(4, ge=1)
    shots: int = Field(1, ge=1)
    crop_size: int = Field(473, ge=32)
    sgd: SGDConfig = SGDConfig()
    adamw: AdamWConfig = AdamWConfig()
    poly_power: float = Field(0.9, ge=0)
    loss: LossKind = Field("ce+dice", description="ce (PFENet) | dice (the released code) | ce+dice")
    augment: AugmentConfig = AugmentConfig()
    checkpoint_every: int = Field(100, ge=1)
    log_every: int = Field(10, ge=1)
    num_workers: int = Field(0, ge=0)
    feature_cache_mb: float = Field(
        2048, ge=0, description="backbone features kept across steps where views are unaugmented (0: none)")
    device: Literal["auto", "cpu", "cuda"] = "auto"


class ScoreConfig(Config):
    """How finetuned models are scored where it differs from the `evaluate` section (null = as there).

    One score per matrix item: with many items, fewer episodes or shots keep the matrix affordable.
    """

    shots: list[int] | None = None
    episodes: int | None = Field(None, ge=1)
    seeds: list[int] | None = None

    @field_validator("shots", "seeds")
    @classmethod
    def _check_non_empty(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and (not value or min(value) < 0):
            raise ValueError(f"must be null or a non-empty list of non-negative integers, got {value}")
        return value


class SelectConfig(Config):
    """Which step of a finetuning run is kept: the best on base-class episodes of the val split (never the
    fold's novel classes), scored on the starting weights and every ``every`` steps."""

    every: int = Field(25, ge=1, description="steps between scored snapshots (and the last step)")
    episodes: int = Field(100, ge=1, description="base-class val episodes each snapshot is scored on")
    shots: int = Field(1, ge=1)
    seed: int = 0


class FinetuneConfig(Config):
    """Label-fraction finetuning: a DVC matrix over folds x fractions x inits x training seeds.

    Each run trains with its matrix seed (episode order, dropout, the scratch init); ``train.seed`` is
    therefore not a finetune setting, and setting it is an error.

    Paper presets (set them in params.yaml): PASCAL-5i epochs 100, batch_size 4, lr 1e-4;
    COCO-20i epochs 50, batch_size 16, lr 2.5e-3.
    """

    folds: list[int] = Field(default_factory=lambda: [0, 1, 2, 3])
    fractions: list[int] = Field(default_factory=lambda: [5, 10, 20, 100])
    inits: list[Literal["pretrained", "scratch"]] = Field(default_factory=lambda: ["pretrained", "scratch"])
    seeds: list[int] = Field(default_factory=lambda: [0], description="training seeds: one run each")
    epochs: int | None = Field(None, ge=1, description="passes over the fraction's images; null = train.steps")
    train: TrainConfig = TrainConfig(steps=1000, sgd=SGDConfig(lr=1e-4), adamw=AdamWConfig(lr=1e-4))
    select: SelectConfig = SelectConfig()
    score: ScoreConfig = ScoreConfig()

    @field_validator("seeds")
    @classmethod
    def _check_seeds(cls, value: list[int]) -> list[int]:
        if not value or min(value) < 0 or len(set(value)) != len(value):
            raise ValueError(f"must be a non-empty list of distinct non-negative integers, got {value}")
        return value

    @model_validator(mode="after")
    def _no_train_seed(self) -> FinetuneConfig:
        if "seed" in self.train.model_fields_set:
            raise ValueError("train.seed is not read: each finetune run trains with its seed of "
                             "finetune.seeds")
        return self
