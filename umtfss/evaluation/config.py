"""Config of episodic evaluation."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from umtfss.config import Config


class EvaluateConfig(Config):
    folds: list[int] = Field(default_factory=lambda: [0])
    shots: list[int] = Field(default_factory=lambda: [1, 5])
    episodes: int = Field(1000, ge=1, description="exactly this many episodes per fold, shot and seed")
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4])
    batch_size: int = Field(8, ge=1, description="episodes per forward pass; the same predictions as one at a "
                            "time up to float rounding (batched matmuls may sum in another order)")
    feature_cache_mb: float = Field(
        2048, ge=0, description="per-image backbone features kept while scoring (each distinct image goes "
        "through the backbone once); 0 = only within a batch"
    )
    resize: Literal["pfenet", "hsnet", "custom"] = Field(
        "pfenet",
        description="pfenet: longer side 473 + pad; hsnet: 400x400; custom: longer side `size` + pad",
    )
    size: int = Field(473, ge=32, description="longer side for resize=custom")
    baseline_threshold: Literal["auto"] | Annotated[float, Field(ge=-1, le=1)] = Field(
        "auto", description="cosine threshold of the training-free baseline; auto = chosen per fold on "
        "base-class train episodes (never on the held-out classes)"
    )
    calibration_episodes: int = Field(100, ge=1, description="base-class episodes that choose the auto threshold")
    overlay_episodes: int = Field(6, ge=0)
    device: Literal["auto", "cpu", "cuda"] = "auto"

    @field_validator("folds")
    @classmethod
    def _check_folds(cls, value: list[int]) -> list[int]:
        if not value or any(f not in (0, 1, 2, 3) for f in value):
            raise ValueError(f"folds must be a non-empty list of 0..3, got {value}")
        return value

    @field_validator("shots", "seeds")
    @classmethod
    def _check_non_empty(cls, value: list[int]) -> list[int]:
        if not value or min(value) < 0:
            raise ValueError(f"must be a non-empty list of non-negative integers, got {value}")
        return value
