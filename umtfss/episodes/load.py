"""Loading labeled episodes: one path from an :class:`EpisodeSpec` to tensors, for training and evaluation.

Training passes a random augmentation as the view, evaluation the predictor's test resize; both read the
same rows, build the same binary masks and stack the supports the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import torch

from umtfss.data.images import load_image, load_mask, resized_extent
from umtfss.episodes.sampling import EpisodeSpec, binary_mask
from umtfss.episodes.transforms import letterbox_view, squash_view
from umtfss.errors import InputError

# (uint8 (H, W, 3) image, uint8 (H, W) binary mask) -> (3, S, S) float32 image, (S, S) int64 mask
View = Callable[[np.ndarray, np.ndarray], tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class Resize:
    """How a predictor sees an evaluation episode: a ``size`` square, letterboxed (aspect kept, padded) or
    squashed (stretched)."""

    size: int
    squash: bool = False


def assemble(query: tuple[torch.Tensor, torch.Tensor], supports: list[tuple[torch.Tensor, torch.Tensor]],
             class_id: int) -> dict[str, Any]:
    """The episode dict of a query view and its support views (without ``query_index``)."""
    return {"query_image": query[0], "query_mask": query[1],
            "support_images": torch.stack([image for image, _ in supports]),
            "support_masks": torch.stack([mask for _, mask in supports]), "class_id": class_id}


def read_episode(spec: EpisodeSpec, rows: pd.DataFrame, view: View) -> tuple[dict[str, Any], np.ndarray]:
    """The episode of ``spec`` through ``view`` (query first, then the supports in order: a random view draws
    in that order), and the query's binary mask at the original resolution. ``rows``: the manifest indexed
    by image id."""
    try:
        query, supports = rows.loc[spec.query_id], [rows.loc[i] for i in spec.support_ids]
    except KeyError as exc:
        raise InputError(f"episode image {exc} is not in the manifest") from None
    label = binary_mask(load_mask(query["mask_path"]), spec.class_id)
    query_view = view(load_image(query["image_path"]), label)
    support_views = [
        view(load_image(row["image_path"]), binary_mask(load_mask(row["mask_path"]), spec.class_id))
        for row in supports
    ]
    return assemble(query_view, support_views, spec.class_id), label


def load_episode(spec: EpisodeSpec, manifest: pd.DataFrame, resize: Resize) -> dict[str, Any]:
    """The evaluation episode of ``spec`` at ``resize``: the episode keys (``query_index`` = the query's
    manifest row), plus ``query_label`` at the original resolution, ``query_extent``, the (h, w) of the
    resized query inside the square (the rest is padding), and ``image_ids`` (query, then supports)."""
    rows = manifest.set_index("image_id")
    view = partial(squash_view if resize.squash else letterbox_view, size=resize.size)
    episode, label = read_episode(spec, rows, view)
    extent = (resize.size, resize.size) if resize.squash else resized_extent(*label.shape, resize.size)
    return {**episode, "query_index": int(rows.index.get_loc(spec.query_id)),
            "query_label": torch.from_numpy(label).long(), "query_extent": extent,
            "image_ids": (spec.query_id, *spec.support_ids)}
