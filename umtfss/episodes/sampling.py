"""Who may be a query or a support, and the seeded evaluation episodes: rules every sampler shares.

Every sampler is a pure function of (seed, index), so training order is reproducible and resumable and the
evaluation episodes are the same for every predictor.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from umtfss.data.images import IGNORE
from umtfss.data.manifest import DatasetInfo, base_classes, novel_classes
from umtfss.errors import InputError

# An object must cover this share of its image to be a query or support: PFENet's 2*32*32 pixels are ~1.1%
# of a 500x375 VOC image; a share keeps the rule meaningful at any image size.
MIN_OBJECT_SHARE = 0.01
# Training samplers have no natural length (episodes are drawn, not enumerated); the loop draws what it needs.
DEFAULT_LENGTH = 100_000


def binary_mask(mask: np.ndarray, class_id: int) -> np.ndarray:
    """class -> 1, ignore stays 255, everything else (other classes included) -> 0."""
    out = (mask == class_id).astype(np.uint8)
    out[mask == IGNORE] = IGNORE
    return out


def choose_supports(rng: np.random.Generator, pool: Sequence[Any], shots: int) -> list[Any]:
    """``shots`` distinct members of ``pool`` when it has enough, else with repetition."""
    picks = rng.choice(len(pool), size=shots, replace=len(pool) < shots)
    return [pool[i] for i in picks]


def images_by_class(manifest: pd.DataFrame, classes: Sequence[int]) -> dict[int, list[str]]:
    """class -> ids of the images of ``manifest`` that can be its query or support: those where it covers at
    least MIN_OBJECT_SHARE of the image, kept only for classes with two or more such images (a query needs
    another image to support it)."""
    by_class: dict[int, list[str]] = {c: [] for c in classes}
    for row in manifest.itertuples():
        counts = row.class_pixels
        if counts is None or (isinstance(counts, float) and math.isnan(counts)):
            continue
        least = MIN_OBJECT_SHARE * row.height * row.width
        for c in classes:
            if c < len(counts) and counts[c] >= least:
                by_class[c].append(row.image_id)
    return {c: ids for c, ids in by_class.items() if len(ids) >= 2}


def query_pairs(by_class: dict[int, list[str]]) -> list[tuple[str, int]]:
    """Every (query image, class) pair of :func:`images_by_class`, in a stable order."""
    return [(image_id, c) for c, ids in sorted(by_class.items()) for image_id in ids]


@dataclass(frozen=True)
class EpisodeSpec:
    """One labeled episode: which query, which class, which supports."""

    query_id: str
    class_id: int
    support_ids: tuple[str, ...]


def draw_spec(rng: np.random.Generator, pair: tuple[str, int], by_class: dict[int, list[str]],
              shots: int) -> EpisodeSpec:
    """The episode of query ``pair``: ``shots`` supports drawn from the other images of its class."""
    query_id, class_id = pair
    supports = choose_supports(rng, [i for i in by_class[class_id] if i != query_id], shots)
    return EpisodeSpec(query_id, class_id, tuple(supports))


def _sample_specs(frame: pd.DataFrame, classes: Sequence[int], shots: int, n_episodes: int, seed: int,
                  what: str) -> list[EpisodeSpec]:
    """Exactly ``n_episodes`` seeded specs of ``classes`` among the images of ``frame`` (see callers)."""
    by_class = images_by_class(frame, classes)
    pairs = query_pairs(by_class)
    if not pairs:
        raise InputError(f"{what}: no image holds one of the classes {list(classes)} (with another image "
                         "to support it)")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(pairs))
    return [draw_spec(rng, pairs[order[i % len(pairs)]], by_class, shots) for i in range(n_episodes)]


def evaluation_episodes(manifest: pd.DataFrame, info: DatasetInfo, fold: int, shots: int, n_episodes: int,
                        seed: int) -> list[EpisodeSpec]:
    """Exactly ``n_episodes`` seeded episodes of the fold's novel classes on the val split.

    As PFENet: the (query image, class) pairs are shuffled with the seed and cycled until ``n_episodes``;
    supports are ``shots`` other val images containing the class (distinct when enough exist).
    """
    val = manifest[manifest["split"] == "val"]
    return _sample_specs(val, novel_classes(info, fold), shots, n_episodes, seed,
                         f"fold {fold} (val, novel classes)")


def calibration_episodes(manifest: pd.DataFrame, info: DatasetInfo, fold: int, shots: int, n_episodes: int,
                         seed: int) -> list[EpisodeSpec]:
    """Like :func:`evaluation_episodes`, on the fold's base classes of the train split: where a setting
    may be chosen without looking at the held-out classes."""
    train = manifest[manifest["split"] == "train"]
    return _sample_specs(train, base_classes(info, fold), shots, n_episodes, seed,
                         f"fold {fold} (train, base classes)")


def validation_episodes(manifest: pd.DataFrame, info: DatasetInfo, fold: int, shots: int, n_episodes: int,
                        seed: int) -> list[EpisodeSpec]:
    """Like :func:`evaluation_episodes`, on the fold's base classes of the val split: images no training
    stage reads, where a finetuning step may be chosen without the held-out classes. They are the images
    the test queries come from (labelled with base classes only here), as the val split is the only
    labelled split not trained on at 100 %."""
    val = manifest[manifest["split"] == "val"]
    return _sample_specs(val, base_classes(info, fold), shots, n_episodes, seed,
                         f"fold {fold} (val, base classes)")
