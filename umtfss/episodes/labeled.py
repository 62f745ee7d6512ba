"""Labeled episodes (finetuning): a fold's base classes among the images of a labeled fraction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from umtfss.episodes.config import AugmentConfig
from umtfss.episodes.load import read_episode
from umtfss.episodes.sampling import DEFAULT_LENGTH, draw_spec, images_by_class, query_pairs
from umtfss.episodes.transforms import train_transform
from umtfss.errors import InputError


class LabeledEpisodes(Dataset):
    """Labeled episodes of ``classes`` among ``image_ids`` (finetuning on a fold's base classes).

    A (query image, class) pair is drawn uniformly; supports are other images of the list with that class.
    Masks are binary for the episode's class: pixels of every other class, the fold's novel classes included,
    become background, as PFENet does for base-class training. ``query_index`` is the episode's index.
    """

    def __init__(self, manifest: pd.DataFrame, *, image_ids: Sequence[str], classes: Sequence[int],
                 shots: int, crop_size: int, augment: AugmentConfig, seed: int,
                 length: int = DEFAULT_LENGTH) -> None:
        wanted = set(image_ids)
        frame = manifest[manifest["image_id"].isin(wanted)]
        self.by_class = images_by_class(frame, classes)
        self.pairs = query_pairs(self.by_class)
        if not self.pairs:
            raise InputError(f"no labeled episodes: none of classes {list(classes)} appears in two or more "
                             f"of the {len(wanted)} listed images")
        self.rows = frame.set_index("image_id")
        self.shots, self.crop_size, self.augment = shots, crop_size, augment
        self.seed, self.length = seed, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, Any]:
        rng = np.random.default_rng([self.seed, index])
        spec = draw_spec(rng, self.pairs[rng.integers(len(self.pairs))], self.by_class, self.shots)
        def view(image: np.ndarray, mask: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
            return train_transform(image, mask, self.crop_size, self.augment, rng)

        episode, _ = read_episode(spec, self.rows, view)
        return {**episode, "query_index": index}
