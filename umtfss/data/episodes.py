"""Episode samplers: pseudo episodes (pretraining), labeled episodes (finetuning), evaluation episodes.

An episode is a dict: ``query_image`` (3, S, S) float32, ``query_mask`` (S, S) int64 in {0, 1, 255},
``support_images`` (K, 3, S, S), ``support_masks`` (K, S, S), ``class_id`` and ``query_index``. Every
sampler is a pure function of (seed, index), so training order is reproducible and resumable.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import torch
from PIL import Image
from torch.utils.data import Dataset

from umtfss.data.images import IGNORE, load_image, load_mask, resized_extent
from umtfss.data.manifest import DatasetInfo, base_classes, novel_classes, read_manifest
from umtfss.data.transforms import eval_transform, train_transform
from umtfss.errors import InputError
from umtfss.features.store import open_group
from umtfss.training.config import AugmentConfig

# An object must cover this share of its image to be a query or support: PFENet's 2*32*32 pixels are ~1.1%
# of a 500x375 VOC image; a share keeps the rule meaningful at any image size.
MIN_OBJECT_SHARE = 0.01
DEFAULT_LENGTH = 100_000


def binary_mask(mask: np.ndarray, class_id: int) -> np.ndarray:
    """class -> 1, ignore stays 255, everything else (other classes included) -> 0."""
    out = (mask == class_id).astype(np.uint8)
    out[mask == IGNORE] = IGNORE
    return out


def _stack(pairs: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.stack([image for image, _ in pairs]), torch.stack([mask for _, mask in pairs])


def _choose_supports(rng: np.random.Generator, pool: Sequence[Any], shots: int) -> list[Any]:
    """``shots`` distinct members of ``pool`` when it has enough, else with repetition."""
    picks = rng.choice(len(pool), size=shots, replace=len(pool) < shots)
    return [pool[i] for i in picks]


class PseudoEpisodes(Dataset):
    """Pseudo episodes: a query region's cluster mask, supports from its most similar same-cluster regions.

    A cluster is drawn uniformly (so large background-like clusters do not dominate), then a query region of
    it, then ``shots`` supports from that region's candidates. Masks come from the label store at its own
    resolution, cropped to the image's letterboxed extent and resized (nearest) to the original image, so
    augmentation runs on original images exactly as for labeled data.
    """

    def __init__(self, *, manifest: str | os.PathLike[str], labels: str | os.PathLike[str],
                 regions: str | os.PathLike[str], candidates: str | os.PathLike[str], shots: int,
                 crop_size: int, augment: AugmentConfig, seed: int, length: int = DEFAULT_LENGTH) -> None:
        frame, _ = read_manifest(manifest)
        self.labels_path = str(labels)
        group = open_group(labels, what="label")
        self.image_ids = list(group.attrs["image_ids"])
        self.input_size, self.cell_size = int(group.attrs["input_size"]), int(group.attrs["cell_size"])
        rows = frame.set_index("image_id").loc[self.image_ids]
        self.paths = rows["image_path"].tolist()
        self.sizes = list(zip(rows["height"].astype(int), rows["width"].astype(int)))
        table = pq.read_table(regions, columns=["region_id", "image_index", "cluster"])
        self.region_image = table.column("image_index").to_numpy()
        self.region_cluster = table.column("cluster").to_numpy()
        pairs = pq.read_table(candidates, columns=["region_id", "candidate_id"]).to_pandas()
        self.candidates = {int(r): group_["candidate_id"].to_numpy() for r, group_ in pairs.groupby("region_id")}
        by_cluster: dict[int, list[int]] = defaultdict(list)
        for region in sorted(self.candidates):
            by_cluster[int(self.region_cluster[region])].append(region)
        if not by_cluster:
            raise InputError(f"{candidates} has no region with a support candidate: nothing to train on")
        self.clusters = sorted(by_cluster)
        self.queries = {cluster: np.asarray(regions_) for cluster, regions_ in by_cluster.items()}
        self.shots, self.crop_size, self.augment = shots, crop_size, augment
        self.seed, self.length = seed, length
        self._labels = None  # opened lazily, once per DataLoader worker

    def __len__(self) -> int:
        return self.length

    def pseudo_mask(self, image_index: int, cluster: int) -> np.ndarray:
        """uint8 (H, W) at the original image size: 1 = cluster, 0 = other clusters, 255 = no label."""
        if self._labels is None:
            self._labels = open_group(self.labels_path, what="label")["labels"]
        labels = np.asarray(self._labels[image_index])
        height, width = self.sizes[image_index]
        ext_h, ext_w = resized_extent(height, width, self.input_size)
        rows, cols = math.ceil(ext_h / self.cell_size), math.ceil(ext_w / self.cell_size)
        cells = labels[:rows, :cols]
        mask = np.where(cells < 0, IGNORE, cells == cluster).astype(np.uint8)
        boxed = Image.fromarray(mask).resize((cols * self.cell_size, rows * self.cell_size),
                                             Image.Resampling.NEAREST).crop((0, 0, ext_w, ext_h))
        return np.asarray(boxed.resize((width, height), Image.Resampling.NEAREST))

    def _view(self, region: int, cluster: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        image_index = int(self.region_image[region])
        image = load_image(self.paths[image_index])
        return train_transform(image, self.pseudo_mask(image_index, cluster), self.crop_size, self.augment, rng)

    def __getitem__(self, index: int) -> dict[str, Any]:
        rng = np.random.default_rng([self.seed, index])
        cluster = self.clusters[rng.integers(len(self.clusters))]
        query = int(rng.choice(self.queries[cluster]))
        supports = _choose_supports(rng, self.candidates[query], self.shots)
        query_image, query_mask = self._view(query, cluster, rng)
        support_images, support_masks = _stack([self._view(int(s), cluster, rng) for s in supports])
        return {"query_image": query_image, "query_mask": query_mask, "support_images": support_images,
                "support_masks": support_masks, "class_id": cluster,
                "query_index": int(self.region_image[query])}


def _labeled_pairs(manifest: pd.DataFrame, classes: Sequence[int]) -> dict[int, list[str]]:
    """class -> ids of the images where it covers at least MIN_OBJECT_SHARE of the image."""
    by_class: dict[int, list[str]] = {c: [] for c in classes}
    for row in manifest.itertuples():
        counts = row.class_pixels
        if counts is None or (isinstance(counts, float) and math.isnan(counts)):
            continue
        least = MIN_OBJECT_SHARE * row.height * row.width
        for c in classes:
            if c < len(counts) and counts[c] >= least:
                by_class[c].append(row.image_id)
    return by_class


class LabeledEpisodes(Dataset):
    """Labeled episodes of ``classes`` among ``image_ids`` (finetuning on a fold's base classes).

    A (query image, class) pair is drawn uniformly; supports are other images of the list with that class.
    Masks are binary for the episode's class: pixels of every other class, the fold's novel classes included,
    become background, as PFENet does for base-class training.
    """

    def __init__(self, manifest: pd.DataFrame, *, image_ids: Sequence[str], classes: Sequence[int], shots: int,
                 crop_size: int, augment: AugmentConfig, seed: int, length: int = DEFAULT_LENGTH) -> None:
        wanted = set(image_ids)
        frame = manifest[manifest["image_id"].isin(wanted)]
        by_class = {c: ids for c, ids in _labeled_pairs(frame, classes).items() if len(ids) >= 2}
        self.pairs = [(image_id, c) for c, ids in sorted(by_class.items()) for image_id in ids]
        if not self.pairs:
            raise InputError(f"no labeled episodes: none of classes {list(classes)} appears in two or more of the "
                             f"{len(wanted)} listed images")
        self.by_class = by_class
        rows = frame.set_index("image_id")
        self.image_paths, self.mask_paths = rows["image_path"].to_dict(), rows["mask_path"].to_dict()
        self.shots, self.crop_size, self.augment = shots, crop_size, augment
        self.seed, self.length = seed, length

    def __len__(self) -> int:
        return self.length

    def _view(self, image_id: str, class_id: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        mask = binary_mask(load_mask(self.mask_paths[image_id]), class_id)
        return train_transform(load_image(self.image_paths[image_id]), mask, self.crop_size, self.augment, rng)

    def __getitem__(self, index: int) -> dict[str, Any]:
        rng = np.random.default_rng([self.seed, index])
        query_id, class_id = self.pairs[rng.integers(len(self.pairs))]
        supports = _choose_supports(rng, [i for i in self.by_class[class_id] if i != query_id], self.shots)
        query_image, query_mask = self._view(query_id, class_id, rng)
        support_images, support_masks = _stack([self._view(s, class_id, rng) for s in supports])
        return {"query_image": query_image, "query_mask": query_mask, "support_images": support_images,
                "support_masks": support_masks, "class_id": class_id, "query_index": index}


@dataclass(frozen=True)
class EpisodeSpec:
    """One evaluation episode: which query, which class, which supports."""

    query_id: str
    class_id: int
    support_ids: tuple[str, ...]


def _sample_specs(frame: pd.DataFrame, classes: Sequence[int], shots: int, n_episodes: int, seed: int,
                  what: str) -> list[EpisodeSpec]:
    """Exactly ``n_episodes`` seeded specs of ``classes`` among the images of ``frame`` (see callers)."""
    by_class = {c: ids for c, ids in _labeled_pairs(frame, classes).items() if len(ids) >= 2}
    pairs = [(image_id, c) for c, ids in sorted(by_class.items()) for image_id in ids]
    if not pairs:
        raise InputError(f"{what}: no image holds one of the classes {list(classes)} (with another image "
                         "to support it)")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(pairs))
    specs = []
    for i in range(n_episodes):
        query_id, class_id = pairs[order[i % len(pairs)]]
        supports = _choose_supports(rng, [s for s in by_class[class_id] if s != query_id], shots)
        specs.append(EpisodeSpec(query_id, class_id, tuple(supports)))
    return specs


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


def load_eval_episode(spec: EpisodeSpec, manifest: pd.DataFrame, size: int) -> dict[str, Any]:
    """The episode letterboxed to ``size`` (the sampler keys, ``query_index`` = the query's manifest row), plus
    ``query_label`` at the original resolution and ``query_extent``, the resized query's (h, w) inside the canvas."""
    rows = manifest.set_index("image_id")
    try:
        query, supports = rows.loc[spec.query_id], [rows.loc[i] for i in spec.support_ids]
    except KeyError as exc:
        raise InputError(f"episode image {exc} is not in the manifest") from None
    label = binary_mask(load_mask(query["mask_path"]), spec.class_id)
    query_image, query_mask, extent = eval_transform(load_image(query["image_path"]), label, size)
    support = []
    for row in supports:
        image, mask, _ = eval_transform(load_image(row["image_path"]),
                                        binary_mask(load_mask(row["mask_path"]), spec.class_id), size)
        support.append((image, mask))
    support_images, support_masks = _stack(support)
    return {"query_image": query_image, "query_mask": query_mask, "support_images": support_images,
            "support_masks": support_masks, "class_id": spec.class_id,
            "query_index": int(rows.index.get_loc(spec.query_id)),
            "query_label": torch.from_numpy(label).long(), "query_extent": extent}
