"""Config of the `cluster` (k-means) and `assign` (nearest centroid) stages."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from umtfss.config import Config


class ClusterConfig(Config):
    n_clusters: int = Field(50, ge=2)
    engine: Literal["auto", "cuml", "cpu"] = "auto"
    subset_images: int = Field(1000, ge=1, description="images whose valid pixels the k-means is fitted on")
    max_iter: int = Field(100, ge=1)
    n_init: int = Field(1, ge=1)
    seed: int = 0


class FelzenszwalbConfig(Config):
    scale: float = Field(100.0, gt=0)
    sigma: float = Field(0.8, ge=0)
    min_size: int = Field(20, ge=1)


class AssignConfig(Config):
    scheduler: str = Field(
        "threads", description="threads | local-cluster | tcp://host:port of an existing Dask scheduler"
    )
    n_workers: int = Field(2, ge=1, description="workers of a local-cluster")
    superpixels: Literal["none", "felzenszwalb"] = "none"
    felzenszwalb: FelzenszwalbConfig = FelzenszwalbConfig()

    @field_validator("scheduler")
    @classmethod
    def _check_scheduler(cls, value: str) -> str:
        if value in ("threads", "local-cluster") or value.startswith("tcp://"):
            return value
        raise ValueError(f"must be 'threads', 'local-cluster' or a 'tcp://host:port' address, got {value!r}")
