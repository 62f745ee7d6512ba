"""Regions: all label cells of one cluster in one image, with their size, box and mean feature.

Read shard by shard from the label and feature stores and written to Parquet one row group per shard, so
memory does not grow with the number of images.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from umtfss.errors import InputError
from umtfss.features.store import open_group, shard_slices
from umtfss.progress import progress


def region_schema(channels: int) -> pa.Schema:
    return pa.schema([
        ("region_id", pa.int64()), ("image_index", pa.int32()), ("image_id", pa.string()),
        ("cluster", pa.int16()), ("cells", pa.int32()), ("area", pa.int64()),
        ("x0", pa.int32()), ("y0", pa.int32()), ("x1", pa.int32()), ("y1", pa.int32()),
        ("embedding", pa.list_(pa.float32(), channels)),
    ])


def _pooling_factor(label_cell: int, feature_stride: int) -> int:
    if feature_stride % label_cell:
        raise InputError(f"label cells of {label_cell} px do not tile feature cells of {feature_stride} px")
    return feature_stride // label_cell


def image_regions(labels: np.ndarray, features: np.ndarray, factor: int) -> dict[str, np.ndarray]:
    """Every cluster present in one image: ``cluster``, ``cells`` (label cells), the cell box ``cx0, cy0,
    cx1, cy1`` (exclusive end) and the L2-normalised masked-average ``embedding`` (clusters whose average is
    zero are dropped).

    Labels finer than features (Felzenszwalb, ``factor`` label cells per feature cell side) weight each
    feature cell by its member share. All clusters of the image at once: one bincount and one matmul.
    """
    grid, channels = features.shape[0], features.shape[-1]
    ys, xs = np.nonzero(labels >= 0)
    member = labels[ys, xs].astype(np.int64)
    clusters, inverse = np.unique(member, return_inverse=True)
    n = len(clusters)
    inside = (ys < grid * factor) & (xs < grid * factor)
    cell = (ys[inside] // factor) * grid + xs[inside] // factor
    weights = np.bincount(inverse[inside] * grid * grid + cell, minlength=n * grid * grid)
    weights = weights.reshape(n, grid * grid).astype(np.float32) / factor**2
    embedding = weights @ features.reshape(grid * grid, channels).astype(np.float32)
    norm = np.linalg.norm(embedding, axis=1)
    boxes = {}
    for name, values, reduce in (("cx0", xs, np.minimum), ("cy0", ys, np.minimum),
                                 ("cx1", xs + 1, np.maximum), ("cy1", ys + 1, np.maximum)):
        out = np.full(n, values.max(initial=0) if reduce is np.minimum else 0, np.int64)
        reduce.at(out, inverse, values)
        boxes[name] = out
    keep = norm > 0
    return {"cluster": clusters[keep], "cells": np.bincount(inverse, minlength=n)[keep],
            **{name: box[keep] for name, box in boxes.items()},
            "embedding": embedding[keep] / norm[keep, None]}


def region_batches(features_path: str | os.PathLike[str], labels_path: str | os.PathLike[str],
                   manifest: pd.DataFrame, *, min_area: int, max_extent: float) -> Iterator[pa.RecordBatch]:
    """The region table (docs/artifacts.md), one record batch per label shard, after the released code's
    filters: regions under ``min_area`` original-image pixels, and regions whose box spans at least
    ``max_extent`` of the image width or height (background stuff, in the released code's reading)."""
    feature_group = open_group(features_path, what="feature")
    label_group = open_group(labels_path, what="label")
    image_ids = list(label_group.attrs["image_ids"])
    if image_ids != list(feature_group.attrs["image_ids"]):
        raise InputError(f"{labels_path} and {features_path} hold different images: rerun `assign`")
    rows_by_id = manifest.set_index("image_id")
    missing = [i for i in image_ids if i not in rows_by_id.index]
    if missing:
        raise InputError(f"images {missing[:3]} of {labels_path} are not in the manifest: rerun the pipeline")
    heights = rows_by_id.loc[image_ids, "height"].to_numpy().astype(np.int64)
    widths = rows_by_id.loc[image_ids, "width"].to_numpy().astype(np.int64)
    input_size = int(label_group.attrs["input_size"])
    label_cell = int(label_group.attrs["cell_size"])
    factor = _pooling_factor(label_cell, int(feature_group.attrs["stride"]))
    labels, features = label_group["labels"], feature_group["features"]
    schema = region_schema(features.shape[-1])
    next_id = 0
    with progress(desc="regions", total=len(image_ids), unit="img") as bar:
        for block in shard_slices(labels):
            label_block, feature_block = labels[block], features[block]
            parts = []
            for offset, index in enumerate(range(block.start, block.stop)):
                found = image_regions(label_block[offset], feature_block[offset], factor)
                found["image_index"] = np.full(len(found["cluster"]), index)
                parts.append(found)
            found = {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
            index = found["image_index"]
            height, width = heights[index], widths[index]
            pixel = label_cell * np.maximum(height, width) / input_size  # original pixels per label cell side
            x0 = np.minimum((found["cx0"] * pixel).astype(np.int64), width - 1)
            y0 = np.minimum((found["cy0"] * pixel).astype(np.int64), height - 1)
            x1 = np.minimum(np.ceil(found["cx1"] * pixel).astype(np.int64), width)
            y1 = np.minimum(np.ceil(found["cy1"] * pixel).astype(np.int64), height)
            area = np.round(found["cells"] * pixel**2).astype(np.int64)
            keep = (area >= min_area) & ((x1 - x0) < max_extent * width) & ((y1 - y0) < max_extent * height)
            count = int(keep.sum())
            columns = [np.arange(next_id, next_id + count), index[keep], [image_ids[i] for i in index[keep]],
                       found["cluster"][keep], found["cells"][keep], area[keep],
                       x0[keep], y0[keep], x1[keep], y1[keep]]
            arrays = [pa.array(values, type=field.type) for values, field in zip(columns, schema)]
            arrays.append(pa.FixedSizeListArray.from_arrays(
                pa.array(found["embedding"][keep].reshape(-1), pa.float32()), schema.field("embedding").type.list_size))
            next_id += count
            bar.update(block.stop - block.start)
            yield pa.RecordBatch.from_arrays(arrays, schema=schema)


def write_regions(features_path: str | os.PathLike[str], labels_path: str | os.PathLike[str],
                  manifest: pd.DataFrame, out_path: str | os.PathLike[str], *, min_area: int,
                  max_extent: float) -> int:
    """Write the region table to ``out_path`` (one row group per label shard); returns the region count."""
    writer, total = None, 0
    try:
        for batch in region_batches(features_path, labels_path, manifest, min_area=min_area,
                                    max_extent=max_extent):
            writer = writer or pq.ParquetWriter(out_path, batch.schema)
            writer.write_batch(batch)
            total += batch.num_rows
    finally:
        if writer is not None:
            writer.close()
    if writer is None:  # a store of no images
        raise InputError(f"{labels_path} holds no images: nothing to build regions from")
    return total


def region_embeddings(regions: pa.Table | pa.RecordBatch) -> np.ndarray:
    """(R, C) float32 view of the embedding column."""
    column = regions.column("embedding")
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    return column.flatten().to_numpy(zero_copy_only=False).reshape(len(regions), column.type.list_size)
