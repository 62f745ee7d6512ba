"""Config of the `episodes` stage (region filters, support-candidate selection) and of the training
augmentation of episodes."""

from __future__ import annotations

from pydantic import Field

from umtfss.config import Config


class EpisodesConfig(Config):
    min_area: int = Field(2 * 32 * 32, ge=0, description="drop regions smaller than this, in original-image pixels")
    max_extent: float = Field(
        0.95, gt=0, le=1, description="drop regions spanning at least this fraction of the width or height"
    )
    top_fraction: float = Field(0.5, gt=0, le=1, description="keep this most-similar share of same-cluster regions")
    max_candidates: int = Field(200, ge=1, description="cap on support candidates per region")
    comparison_pool: int = Field(
        4096, ge=2, description="rank each region against at most this many same-cluster regions (a seeded "
        "sample of larger clusters), so candidates cost linear time in the number of images"
    )
    plot_clusters: int = Field(6, ge=1, description="clusters shown in plots/clusters.png")


class AugmentConfig(Config):
    """PFENet's joint augmentation of training episodes (:func:`umtfss.episodes.transforms.train_transform`)."""

    scale: tuple[float, float] = (0.9, 1.1)
    rotate_deg: float = Field(10.0, ge=0)
    flip: bool = True

    @property
    def is_identity(self) -> bool:
        """Whether a view is the image alone, letterboxed to the crop: no rescale, rotation, flip or offset."""
        return tuple(self.scale) == (1.0, 1.0) and self.rotate_deg == 0 and not self.flip
