"""Regions: all label cells of one cluster in one image, with their size, box and mean feature.

Read shard by shard from the label and feature stores, so memory does not grow with the number of images.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pyarrow as pa

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


def _image_regions(labels: np.ndarray, features: np.ndarray, factor: int, pixel: float, height: int,
                   width: int) -> list[tuple]:
    """(cluster, cells, area, x0, y0, x1, y1, embedding) of every cluster present in one image."""
    rows = []
    grid = features.shape[0]
    for cluster in np.unique(labels[labels >= 0]):
        member = labels == cluster
        ys, xs = np.nonzero(member)
        # Labels finer than features (Felzenszwalb, cell 1 px) weight each feature cell by its member share.
        padded = np.zeros((grid * factor, grid * factor), np.float32)
        padded[: member.shape[0], : member.shape[1]] = member[: grid * factor, : grid * factor]
        weights = padded.reshape(grid, factor, grid, factor).mean(axis=(1, 3))
        embedding = np.einsum("yx,yxc->c", weights, features)
        norm = np.linalg.norm(embedding)
        if norm == 0:
            continue
        box = (min(int(xs.min() * pixel), width - 1), min(int(ys.min() * pixel), height - 1),
               min(int(np.ceil((xs.max() + 1) * pixel)), width), min(int(np.ceil((ys.max() + 1) * pixel)), height))
        rows.append((int(cluster), len(ys), round(len(ys) * pixel**2), *box, embedding / norm))
    return rows


def build_regions(features_path: str | os.PathLike[str], labels_path: str | os.PathLike[str],
                  manifest: pd.DataFrame, *, min_area: int, max_extent: float) -> pa.Table:
    """The region table (docs/artifacts.md) after the released code's filters.

    Dropped: regions under ``min_area`` original-image pixels, and regions whose box spans at least
    ``max_extent`` of the image width or height (background stuff, in the released code's reading).
    """
    feature_group = open_group(features_path, what="feature")
    label_group = open_group(labels_path, what="label")
    image_ids = list(label_group.attrs["image_ids"])
    if image_ids != list(feature_group.attrs["image_ids"]):
        raise InputError(f"{labels_path} and {features_path} hold different images: rerun `assign`")
    rows_by_id = manifest.set_index("image_id")
    missing = [i for i in image_ids if i not in rows_by_id.index]
    if missing:
        raise InputError(f"images {missing[:3]} of {labels_path} are not in the manifest: rerun the pipeline")
    heights = rows_by_id.loc[image_ids, "height"].to_numpy()
    widths = rows_by_id.loc[image_ids, "width"].to_numpy()
    input_size = int(label_group.attrs["input_size"])
    label_cell = int(label_group.attrs["cell_size"])
    factor = _pooling_factor(label_cell, int(feature_group.attrs["stride"]))
    labels, features = label_group["labels"], feature_group["features"]

    columns: dict[str, list] = {name: [] for name in region_schema(1).names}
    with progress(desc="regions", total=len(image_ids), unit="img") as bar:
        for block in shard_slices(labels):
            label_block, feature_block = labels[block], features[block].astype(np.float32)
            for offset, index in enumerate(range(block.start, block.stop)):
                height, width = int(heights[index]), int(widths[index])
                pixel = label_cell * max(height, width) / input_size  # original pixels per label cell side
                for cluster, cells, area, x0, y0, x1, y1, embedding in _image_regions(
                        label_block[offset], feature_block[offset], factor, pixel, height, width):
                    if area < min_area or (x1 - x0) >= max_extent * width or (y1 - y0) >= max_extent * height:
                        continue
                    for name, value in zip(columns, (len(columns["region_id"]), index, image_ids[index],
                                                     cluster, cells, area, x0, y0, x1, y1, embedding)):
                        columns[name].append(value)
            bar.update(block.stop - block.start)
    channels = features.shape[-1]
    embeddings = np.asarray(columns.pop("embedding"), np.float32).reshape(-1)
    arrays = [pa.array(values, type=field.type) for values, field in zip(columns.values(), region_schema(1))]
    arrays.append(pa.FixedSizeListArray.from_arrays(pa.array(embeddings, pa.float32()), channels))
    return pa.Table.from_arrays(arrays, schema=region_schema(channels))


def region_embeddings(regions: pa.Table) -> np.ndarray:
    """(R, C) float32 view of the embedding column."""
    column = regions.column("embedding").combine_chunks()
    return column.flatten().to_numpy(zero_copy_only=False).reshape(len(regions), column.type.list_size)
