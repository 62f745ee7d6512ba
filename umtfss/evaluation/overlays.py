"""Overlay grids for eyeballing predictions: one row per episode, columns support / truth / prediction."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from PIL import Image, ImageDraw

from umtfss.data.images import IGNORE, load_image, load_mask
from umtfss.episodes.load import load_episode
from umtfss.episodes.sampling import EpisodeSpec, binary_mask
from umtfss.evaluation.config import EvaluateConfig
from umtfss.evaluation.protocol import Predictor, input_resize, predict_mask
from umtfss.io import atomic_output

FOREGROUND_RGB = np.array([255, 40, 40], dtype=np.float32)
IGNORE_RGB = np.array([255, 255, 255], dtype=np.float32)
ALPHA = 0.5
COLUMNS = ("support", "query: truth", "query: prediction")
HEADER = 16


@dataclass(frozen=True)
class OverlayRow:
    """One episode at original resolution: uint8 (H, W, 3) images, masks in {0, 1, 255}."""

    support_image: np.ndarray
    support_mask: np.ndarray
    query_image: np.ndarray
    query_label: np.ndarray
    prediction: np.ndarray


def overlay(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``image`` (H, W, 3) uint8 with foreground (1) tinted red and ignore (255) tinted white."""
    if image.shape[:2] != mask.shape:
        raise ValueError(f"image {image.shape} and mask {mask.shape} differ in size")
    out = image.astype(np.float32)
    for value, colour in ((1, FOREGROUND_RGB), (IGNORE, IGNORE_RGB)):
        hit = mask == value
        out[hit] = (1 - ALPHA) * out[hit] + ALPHA * colour
    return out.round().astype(np.uint8)


def _fit(image: np.ndarray, cell: int) -> Image.Image:
    """``image`` letterboxed into a ``cell`` square (aspect kept, centred on black)."""
    picture = Image.fromarray(image)
    picture.thumbnail((cell, cell), Image.Resampling.BILINEAR)
    canvas = Image.new("RGB", (cell, cell))
    canvas.paste(picture, ((cell - picture.width) // 2, (cell - picture.height) // 2))
    return canvas


def overlay_grid(rows: Sequence[OverlayRow], cell: int = 160) -> Image.Image:
    """An RGB image of ``len(rows)`` rows x 3 columns of ``cell`` squares under a one-line header (only the
    header for no rows, so a stage asked for no overlays still writes its declared output)."""
    grid = Image.new("RGB", (cell * len(COLUMNS), HEADER + cell * len(rows)), "white")
    draw = ImageDraw.Draw(grid)
    for c, title in enumerate(COLUMNS):
        draw.text((c * cell + 4, 2), title, fill="black")
    for r, row in enumerate(rows):
        panels = (
            overlay(row.support_image, row.support_mask),
            overlay(row.query_image, row.query_label),
            overlay(row.query_image, row.prediction),
        )
        for c, panel in enumerate(panels):
            grid.paste(_fit(panel, cell), (c * cell, HEADER + r * cell))
    return grid


def save_grid(rows: Sequence[OverlayRow], path: str | os.PathLike[str], cell: int = 160) -> None:
    """Write :func:`overlay_grid` of ``rows`` to ``path`` as PNG, atomically."""
    with atomic_output(path) as tmp:
        overlay_grid(rows, cell).save(tmp, format="PNG")


def overlay_rows(
    predict_fn: Predictor,
    specs: Sequence[EpisodeSpec],
    manifest: pd.DataFrame,
    cfg: EvaluateConfig,
    *,
    device: torch.device,
) -> list[OverlayRow]:
    """``specs`` predicted by ``predict_fn`` as the protocol does, each with its first support."""
    rows = manifest.set_index("image_id")
    out = []
    with torch.inference_mode():
        for spec in specs:
            episode = load_episode(spec, manifest, input_resize(cfg))
            label = np.asarray(episode["query_label"])
            prediction = predict_mask(
                predict_fn, episode["query_image"], episode["support_images"], episode["support_masks"],
                tuple(episode["query_extent"]), label.shape, device,
            )
            support, query = rows.loc[spec.support_ids[0]], rows.loc[spec.query_id]
            out.append(OverlayRow(
                support_image=load_image(support["image_path"]),
                support_mask=binary_mask(load_mask(support["mask_path"]), spec.class_id),
                query_image=load_image(query["image_path"]),
                query_label=label.astype(np.uint8),
                prediction=prediction,
            ))
    return out
