"""The order episodes are trained in: reproducible from the seed alone, so a resumed run sees the same
batches."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler


class EpisodeOrder(Sampler[int]):
    """An endless stream of episode indices: pass ``e`` over the dataset is permutation ``(seed, e)``.

    Process ``rank`` of ``world_size`` takes every ``world_size``-th index of the stream, starting after the
    first ``start`` indices of its share (those consumed before a resume). Nothing depends on a global random
    generator, so the order is the same however often training is interrupted.
    """

    def __init__(self, size: int, seed: int, *, start: int = 0, rank: int = 0, world_size: int = 1) -> None:
        if size < 1:
            raise ValueError("cannot train on an empty episode dataset")
        self.size, self.seed, self.start, self.rank, self.world_size = size, seed, start, rank, world_size

    def permutation(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(self.size)

    def __iter__(self) -> Iterator[int]:
        position = self.start * self.world_size + self.rank
        epoch, order = -1, np.empty(0, dtype=np.int64)
        while True:
            pass_index, offset = divmod(position, self.size)
            if pass_index != epoch:
                epoch, order = pass_index, self.permutation(pass_index)
            yield int(order[offset])
            position += self.world_size
