"""Pseudo episodes (pretraining): a query region's cluster mask, supports from its most similar same-cluster
regions, drawn from the pool the `episodes` stage writes (:mod:`umtfss.episodes.regions`, ``.candidates``)."""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import torch
from PIL import Image
from torch.utils.data import Dataset

from umtfss.data.images import IGNORE, load_image, resized_extent
from umtfss.data.manifest import read_manifest
from umtfss.episodes.config import AugmentConfig
from umtfss.episodes.load import assemble
from umtfss.episodes.sampling import DEFAULT_LENGTH, choose_supports
from umtfss.episodes.transforms import train_transform
from umtfss.errors import InputError
from umtfss.features.store import open_group


class PseudoEpisodes(Dataset):
    """Pseudo episodes: a query region's cluster mask, supports from its most similar same-cluster regions.

    A cluster is drawn uniformly (so large background-like clusters do not dominate), then a query region of
    it, then ``shots`` supports from that region's candidates. Masks come from the label store at its own
    resolution, cropped to the image's letterboxed extent and resized (nearest) to the original image, so
    augmentation runs on original images exactly as for labeled data. ``class_id`` is the cluster and
    ``query_index`` the query's image index in the label store. Where ``augment`` is the identity, a view is
    a function of its image alone and an episode also carries ``view_ids`` (int64 (1 + shots,): the query's
    and the supports' image indices), so that training may reuse a view's backbone features across steps.
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
        # Candidate lists as one CSR pair of flat arrays: bounded by the table's size, and shared by forked
        # DataLoader workers without copy-on-write (a dict of arrays would be copied page by page).
        pairs = pq.read_table(candidates, columns=["region_id", "candidate_id"])
        owner = pairs.column("region_id").to_numpy()
        order = np.argsort(owner, kind="stable")  # rank order within a region is kept
        self.candidate_ids = pairs.column("candidate_id").to_numpy()[order].astype(np.int32)
        counts = np.bincount(owner, minlength=len(self.region_cluster))
        self.candidate_offsets = np.concatenate([[0], np.cumsum(counts)])
        del pairs, owner, order
        queries = np.flatnonzero(counts > 0)
        if not len(queries):
            raise InputError(f"{candidates} has no region with a support candidate: nothing to train on")
        self.clusters = sorted(int(c) for c in np.unique(self.region_cluster[queries]))
        self.queries = {cluster: queries[self.region_cluster[queries] == cluster] for cluster in self.clusters}
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
        pool = self.candidate_ids[self.candidate_offsets[query]:self.candidate_offsets[query + 1]]
        supports = choose_supports(rng, pool, self.shots)
        query_view = self._view(query, cluster, rng)
        episode = assemble(query_view, [self._view(int(s), cluster, rng) for s in supports], cluster)
        episode["query_index"] = int(self.region_image[query])
        if self.augment.is_identity:
            episode["view_ids"] = torch.from_numpy(self.region_image[[query, *supports]].astype(np.int64))
        return episode
