"""A picture of the pseudo classes: a few clusters' masks over a few of their images."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pyarrow as pa
from PIL import Image, ImageDraw

from umtfss.data.images import letterbox, load_image
from umtfss.features.store import open_group

TILE = 96
TINT = np.array([255, 40, 40], np.float32)


def _tile(image: np.ndarray, labels: np.ndarray, cluster: int, input_size: int) -> np.ndarray:
    canvas, _ = letterbox(image, input_size, is_mask=False)
    member = np.asarray(Image.fromarray((labels == cluster).astype(np.uint8)).resize(
        (input_size, input_size), Image.Resampling.NEAREST), bool)
    tinted = canvas.astype(np.float32)
    tinted[member] = 0.45 * tinted[member] + 0.55 * TINT
    return np.asarray(Image.fromarray(tinted.astype(np.uint8)).resize((TILE, TILE)))


def cluster_grid(regions: pa.Table, labels_path: str | os.PathLike[str], manifest: pd.DataFrame,
                 out_path: str | os.PathLike[str], *, n_clusters: int, per_cluster: int = 5) -> None:
    """PNG: one row per cluster with the most regions, its mask tinted red over ``per_cluster`` images."""
    group = open_group(labels_path, what="label")
    labels, input_size = group["labels"], int(group.attrs["input_size"])
    paths = manifest.set_index("image_id")["image_path"]
    table = regions.select(["cluster", "image_index", "image_id", "area"]).to_pandas()
    top = table["cluster"].value_counts().index[:n_clusters]
    grid = np.full((max(len(top), 1) * (TILE + 4) + 4, 16 + per_cluster * (TILE + 4) + 4, 3), 255, np.uint8)
    for row, cluster in enumerate(top):
        chosen = table[table["cluster"] == cluster].nlargest(per_cluster, "area")
        for col, region in enumerate(chosen.itertuples()):
            tile = _tile(load_image(paths[region.image_id]), labels[region.image_index], int(cluster), input_size)
            y, x = 4 + row * (TILE + 4), 20 + col * (TILE + 4)
            grid[y:y + TILE, x:x + TILE] = tile
    picture = Image.fromarray(grid)
    draw = ImageDraw.Draw(picture)
    for row, cluster in enumerate(top):
        draw.text((2, 4 + row * (TILE + 4) + TILE // 2 - 5), str(int(cluster)), fill=(0, 0, 0))
    picture.save(out_path)
