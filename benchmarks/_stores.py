"""Synthetic stores in the documented artifact formats (docs/artifacts.md), and the task stages run on them,
for the benchmarks.

Arrays are created by the store module that `extract` uses, so the layout is the real one; written shard by
shard, so that a store of any size is written in bounded memory.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import zarr

from umtfss.clustering.assign import assign_labels
from umtfss.clustering.kmeans import fit_kmeans, sample_points
from umtfss.episodes.candidates import write_candidates
from umtfss.episodes.regions import write_regions
from umtfss.features.store import create_feature_arrays

TASK_STAGES = ("cluster", "assign", "episodes")


def _letterboxed_cells(rng: np.random.Generator, n: int, grid: int,
                       min_side: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cell rows, cols and the (n, grid, grid) valid mask of ``n`` letterboxed images: the longer side fills
    the canvas, the shorter one covers 60-100 % of it (at least ``min_side`` cells)."""
    short = np.maximum(min_side, np.round(grid * rng.uniform(0.6, 1.0, n))).astype(int)
    tall = rng.random(n) < 0.5
    rows, cols = np.where(tall, grid, short), np.where(tall, short, grid)
    mask = ((np.arange(grid)[None, :, None] < rows[:, None, None])
            & (np.arange(grid)[None, None, :] < cols[:, None, None]))
    return rows, cols, mask


def write_features_store(path: str | os.PathLike[str], *, images: int, grid: int, channels: int,
                         images_per_shard: int, stride: int = 16, seed: int = 0) -> int:
    """A `features.zarr` group of ``images`` letterboxed images: L2-normalised float16 features on valid
    cells, zeros and ``valid == False`` on padding. Returns the number of valid cells."""
    rng = np.random.default_rng(seed)
    group = zarr.open_group(str(path), mode="w", zarr_format=3)
    shard = min(images_per_shard, images)
    features, valid = create_feature_arrays(group, n_images=images, grid=grid, channels=channels,
                                            images_per_shard=shard)
    input_size = grid * stride
    total = 0
    for start in range(0, images, shard):
        stop = min(start + shard, images)
        n = stop - start
        rows, cols, mask = _letterboxed_cells(rng, n, grid, min_side=1)
        block = rng.standard_normal((n, grid, grid, channels), dtype=np.float32)
        block /= np.linalg.norm(block, axis=-1, keepdims=True)
        block[~mask] = 0
        features[start:stop] = block.astype(np.float16)
        valid[start:stop] = mask
        total += int(mask.sum())
    group.attrs.update({
        "image_ids": [f"img{i:06d}" for i in range(images)], "stride": stride, "input_size": input_size,
        "layer": "layer3", "channels": channels,
        "backbone": {"arch": "resnet18", "weights": None, "weights_format": "auto", "seed": 0},
    })
    return total


def write_centroids(path: str | os.PathLike[str], *, clusters: int, channels: int,
                    seed: int = 1) -> np.ndarray:
    """`centroids.npy`: float32 (clusters, channels) unit vectors (k-means centroids of unit features)."""
    rng = np.random.default_rng(seed)
    centroids = rng.standard_normal((clusters, channels), dtype=np.float32)
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    np.save(Path(path), centroids)
    return centroids


def write_region_features_store(path: str | os.PathLike[str], *, images: int, grid: int, channels: int,
                                images_per_shard: int, latent_clusters: int, stride: int = 32,
                                seed: int = 0) -> pd.DataFrame:
    """A `features.zarr` group whose images are made of regions, as photos' feature maps are: each image is
    the Voronoi partition of 2-6 random sites, each cell of the partition one of ``latent_clusters`` latent
    classes (a fixed unit centre plus noise, L2-normalised), so that k-means, assignment and region building
    see spatially coherent clusters. Returns the manifest rows the region table needs (``image_id``,
    ``height``, ``width``: the letterboxed extent at scale 1)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((latent_clusters, channels), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    group = zarr.open_group(str(path), mode="w", zarr_format=3)
    shard = min(images_per_shard, images)
    features, valid = create_feature_arrays(group, n_images=images, grid=grid, channels=channels,
                                            images_per_shard=shard)
    cell = np.stack(np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij"), axis=-1).astype(np.float32)
    heights, widths = np.empty(images, np.int64), np.empty(images, np.int64)
    for start in range(0, images, shard):
        stop = min(start + shard, images)
        n = stop - start
        rows, cols, mask = _letterboxed_cells(rng, n, grid, min_side=2)
        sites = rng.uniform(0, 1, (n, 6, 2)) * np.stack([rows, cols], axis=1)[:, None, :]
        used = rng.integers(2, 7, n)
        distance = ((cell[None, :, :, None, :] - sites[:, None, None, :, :]) ** 2).sum(-1)
        distance = np.where(np.arange(6) < used[:, None, None, None], distance, np.inf)
        latent = rng.integers(0, latent_clusters, (n, 6))
        region = np.take_along_axis(latent, distance.argmin(-1).reshape(n, -1), axis=1).reshape(n, grid, grid)
        block = centres[region] + 0.35 * rng.standard_normal((n, grid, grid, channels), dtype=np.float32)
        block /= np.linalg.norm(block, axis=-1, keepdims=True)
        block[~mask] = 0
        features[start:stop] = block.astype(np.float16)
        valid[start:stop] = mask
        heights[start:stop], widths[start:stop] = rows * stride, cols * stride
    image_ids = [f"img{i:06d}" for i in range(images)]
    group.attrs.update({
        "image_ids": image_ids, "stride": stride, "input_size": grid * stride, "layer": "layer4",
        "channels": channels, "backbone": {"arch": "resnet50", "weights": None, "weights_format": "auto", "seed": 0},
    })
    return pd.DataFrame({"image_id": image_ids, "height": heights, "width": widths})


def run_task_stage(stage: str, directory: Path, *, clusters: int, subset_images: int, comparison_pool: int,
                   stride: int) -> None:
    """One of :data:`TASK_STAGES` on the stores in ``directory`` (``features.zarr``, ``manifest.parquet``, and
    what the earlier stages wrote there), as the pipeline's stage runs it: `cluster` on a subset with the
    CPU engine, `assign` with Dask threads and no superpixels, `episodes` = regions + candidates."""
    features = directory / "features.zarr"
    if stage == "cluster":
        points = sample_points(features, subset_images, seed=0)
        result = fit_kmeans(points, clusters, max_iter=50, n_init=1, seed=0, engine="cpu")
        np.save(directory / "centroids.npy", result.centroids)
    elif stage == "assign":
        assign_labels(features, np.load(directory / "centroids.npy"), directory / "labels.zarr",
                      scheduler="threads", n_workers=2)
    elif stage == "episodes":
        manifest = pd.read_parquet(directory / "manifest.parquet", columns=["image_id", "height", "width"])
        write_regions(features, directory / "labels.zarr", manifest, directory / "regions.parquet",
                      min_area=2 * stride * stride, max_extent=0.95)
        write_candidates(directory / "regions.parquet", directory / "candidates.parquet", top_fraction=0.5,
                         max_candidates=100, comparison_pool=comparison_pool)
    else:
        raise ValueError(f"unknown stage {stage!r}: one of {TASK_STAGES}")
