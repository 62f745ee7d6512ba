"""Sharded Zarr v3 stores of per-image arrays (features, valid masks, labels).

Every array is indexed by image along axis 0, with ``images_per_shard`` images per shard file (DVC moves a few
files, not one per chunk). An inner chunk holds as many whole images as fit in :data:`CHUNK_BYTES` (at least
one, and a divisor of the shard): zarr pays ~0.1 ms per chunk read or written, so one chunk per small item
spends more on bookkeeping than on bytes, while random access to one image still decodes at most one chunk of
that size. Chunks are zstd-compressed, except where that buys little: float16 features shrank by a quarter and
took twice as long to read.
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

# Reading 1000 feature maps of 16 x 16 x 128 float16 (64 KiB each, 64 per shard) took 0.10 s with one image per
# chunk and 0.04 s with 8 (this bound); 16 or more per chunk read no faster, and random access slowed.
CHUNK_BYTES = 1 << 19


def images_per_chunk(item_bytes: int, per_shard: int) -> int:
    """The most images of ``item_bytes`` each that fit in :data:`CHUNK_BYTES` and divide ``per_shard``; >= 1."""
    fitting = max(1, min(per_shard, CHUNK_BYTES // max(item_bytes, 1)))
    return next(n for n in range(fitting, 0, -1) if per_shard % n == 0)


def create_image_array(group: zarr.Group, name: str, *, n_images: int, item_shape: tuple[int, ...],
                       dtype: Any, images_per_shard: int, fill_value: Any = 0,
                       compressed: bool = True) -> zarr.Array:
    """An array of ``n_images`` items of ``item_shape``, ``images_per_shard`` per shard and
    :func:`images_per_chunk` per inner chunk; zstd-compressed chunks unless ``compressed`` is False."""
    per_shard = max(1, min(images_per_shard, n_images))
    per_chunk = images_per_chunk(int(np.prod(item_shape)) * np.dtype(dtype).itemsize, per_shard)
    return group.create_array(
        name, shape=(n_images, *item_shape), dtype=dtype,
        chunks=(per_chunk, *item_shape), shards=(per_shard, *item_shape),
        fill_value=fill_value, compressors="auto" if compressed else None,
    )


def create_feature_arrays(group: zarr.Group, *, n_images: int, grid: int, channels: int,
                          images_per_shard: int) -> tuple[zarr.Array, zarr.Array]:
    """The ``features`` (float16, uncompressed) and ``valid`` (bool) arrays of a feature store with a ``grid`` x
    ``grid`` cell map per image."""
    features = create_image_array(group, "features", n_images=n_images, item_shape=(grid, grid, channels),
                                  dtype="float16", images_per_shard=images_per_shard, compressed=False)
    valid = create_image_array(group, "valid", n_images=n_images, item_shape=(grid, grid), dtype="bool",
                               images_per_shard=images_per_shard, fill_value=False)
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
