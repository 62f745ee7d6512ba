"""Config of episodic training, shared by `pretrain` (pseudo episodes) and `finetune` (labeled episodes)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from umtfss.config import Config


class SGDConfig(Config):
    lr: float = Field(1e-2, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(1e-4, ge=0)


class AdamWConfig(Config):
    lr: float = Field(1e-4, gt=0)
    weight_decay: float = Field(1e-2, ge=0)


class AugmentConfig(Config):
    scale: tuple[float, float] = (0.9, 1.1)
    rotate_deg: float = Field(10.0, ge=0)
    flip: bool = True


class TrainConfig(Config):
    seed: int = 0
    steps: int = Field(600, ge=1, description="optimizer steps")
    batch_size: int = Field(4, ge=1)
    shots: int = Field(1, ge=1)
    crop_size: int = Field(473, ge=32)
    sgd: SGDConfig = SGDConfig()
    adamw: AdamWConfig = AdamWConfig()
    poly_power: float = Field(0.9, ge=0)
    augment: AugmentConfig = AugmentConfig()
    checkpoint_every: int = Field(100, ge=1)
    log_every: int = Field(10, ge=1)
    num_workers: int = Field(0, ge=0)
    device: Literal["auto", "cpu", "cuda"] = "auto"


class FinetuneConfig(Config):
    """Label-fraction finetuning: a DVC matrix over folds x fractions x init.

    Paper presets (set them in params.yaml): PASCAL-5i epochs 100, batch_size 4, lr 1e-4;
    COCO-20i epochs 50, batch_size 16, lr 2.5e-3.
    """

    folds: list[int] = Field(default_factory=lambda: [0, 1, 2, 3])
    fractions: list[int] = Field(default_factory=lambda: [5, 10, 20, 100])
    inits: list[Literal["pretrained", "scratch"]] = Field(default_factory=lambda: ["pretrained", "scratch"])
    epochs: int | None = Field(None, ge=1, description="passes over the fraction's images; null = train.steps")
    train: TrainConfig = TrainConfig(steps=1000, sgd=SGDConfig(lr=1e-4), adamw=AdamWConfig(lr=1e-4))
