"""Sharded Zarr v3 stores of per-image arrays (features, valid masks, labels).

Every array is indexed by image along axis 0, with ``images_per_shard`` images per shard file (DVC moves a few
files, not one per chunk). Large items (features, labels) have one image per inner chunk, so random access to
one image reads one chunk; small ones (the valid masks) have one chunk per shard, since zarr's per-chunk cost
(about half a millisecond) would otherwise outweigh their bytes many times over. Chunks are zstd-compressed,
except where that buys little: float16 features shrank by a quarter and took twice as long to read.
Writers always write whole shards: a write covering part of a shard would read-modify-write it, which is
slow and, from several writers at once, unsafe.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import zarr

from umtfss.errors import InputError


def create_image_array(group: zarr.Group, name: str, *, n_images: int, item_shape: tuple[int, ...],
                       dtype: Any, images_per_shard: int, fill_value: Any = 0,
                       chunk_per_image: bool = True, compressed: bool = True) -> zarr.Array:
    """An array of ``n_images`` items of ``item_shape``, ``images_per_shard`` per shard; one item per chunk, or
    one chunk per shard when ``chunk_per_image`` is False; zstd-compressed chunks unless ``compressed`` is
    False."""
    per_shard = max(1, min(images_per_shard, n_images))
    return group.create_array(
        name, shape=(n_images, *item_shape), dtype=dtype,
        chunks=(1 if chunk_per_image else per_shard, *item_shape), shards=(per_shard, *item_shape),
        fill_value=fill_value, compressors="auto" if compressed else None,
    )


def create_feature_arrays(group: zarr.Group, *, n_images: int, grid: int, channels: int,
                          images_per_shard: int) -> tuple[zarr.Array, zarr.Array]:
    """The ``features`` (float16, uncompressed, one image per chunk) and ``valid`` (bool, one chunk per shard)
    arrays of a feature store with a ``grid`` x ``grid`` cell map per image."""
    features = create_image_array(group, "features", n_images=n_images, item_shape=(grid, grid, channels),
                                  dtype="float16", images_per_shard=images_per_shard, compressed=False)
    valid = create_image_array(group, "valid", n_images=n_images, item_shape=(grid, grid), dtype="bool",
                               images_per_shard=images_per_shard, fill_value=False, chunk_per_image=False)
    return features, valid


def shard_slices(array: zarr.Array) -> Iterator[slice]:
    """Slices of axis 0 covering the array shard by shard (the last one may be short)."""
    per_shard = images_per_shard(array)
    for start in range(0, array.shape[0], per_shard):
        yield slice(start, min(start + per_shard, array.shape[0]))


def images_per_shard(array: zarr.Array) -> int:
    shards = array.shards
    return shards[0] if shards is not None else array.chunks[0]


def open_group(path: str | os.PathLike[str], *, what: str) -> zarr.Group:
    """Open an existing store read-only, with a clear error when it is missing or not a store."""
    if not os.path.isdir(path):
        raise InputError(f"{what} store {path} not found: run the stage that writes it first")
    try:
        return zarr.open_group(str(path), mode="r")
    except Exception as exc:  # zarr raises several types for a folder that is not a group
        raise InputError(f"{path} is not a readable Zarr store: {exc}") from None


def valid_cells(extent: tuple[int, int], stride: int, grid: int) -> np.ndarray:
    """Cells of a ``grid`` x ``grid`` map whose top-left input pixel lies inside the resized image extent."""
    height, width = extent
    rows = np.arange(grid) * stride < height
    cols = np.arange(grid) * stride < width
    return rows[:, None] & cols[None, :]
