"""Per-image backbone features kept for reuse: a frozen backbone's output is a function of its input image.

Evaluation shares them among predictors and across episodes (:mod:`umtfss.evaluation.shared_features`);
training reuses them across steps when its views are a function of the image alone (unaugmented pseudo
episodes: :attr:`umtfss.episodes.pseudo.PseudoEpisodes.view_ids`). Features of an image computed in one
batch or another differ only by float rounding (batched convolutions may sum in another order).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Mapping, Sequence
from typing import Protocol, runtime_checkable

import torch

from umtfss.model.backbone import EpisodeFeatures, FrozenBackbone

# (view id, input shape): a view is one image at one size, whichever episode or role it is in
Key = tuple[Hashable, tuple[int, ...]]


@runtime_checkable
class FeatureDecoder(Protocol):
    """A predictor whose forward is its frozen ``backbone`` then ``decode`` (the few-shot model, the
    baseline): such predictors may be given features computed once for all of them."""

    backbone: FrozenBackbone

    def decode(self, features: EpisodeFeatures, support_masks: torch.Tensor,
               size: torch.Size) -> torch.Tensor: ...


class FeatureCache:
    """Per-image features of one backbone, computed once per distinct image and kept up to ``max_bytes``
    (least recently used dropped first; 0 keeps nothing beyond the batch at hand)."""

    def __init__(self, backbone: FrozenBackbone, max_bytes: int) -> None:
        self.backbone, self.max_bytes = backbone, max_bytes
        self.images_computed = 0
        self._items: OrderedDict[Key, tuple[torch.Tensor, torch.Tensor]] = OrderedDict()
        self._bytes = 0

    def episode(self, image_ids: Sequence[Sequence[Hashable]], queries: torch.Tensor,
                supports: torch.Tensor) -> EpisodeFeatures:
        """Features of an episode batch: ``image_ids[b]`` = (query id, support ids...) of ``queries`` (B, 3,
        H, W) and ``supports`` (B, K, 3, H, W); the backbone sees each image not yet cached once."""
        shape = tuple(queries.shape[1:])
        missing: dict[Key, torch.Tensor] = {}
        for row, ids in enumerate(image_ids):
            if len(ids) != 1 + supports.shape[1]:
                raise ValueError(f"episode {row}: {len(ids)} image ids for 1 query and {supports.shape[1]} supports")
            for slot, image_id in enumerate(ids):
                key = (image_id, shape)
                if key not in self._items and key not in missing:
                    missing[key] = queries[row] if slot == 0 else supports[row, slot - 1]
        computed: dict[Key, tuple[torch.Tensor, torch.Tensor]] = {}
        if missing:
            mid, high = self.backbone(torch.stack(list(missing.values())))
            self.images_computed += len(missing)
            # clones: a row of the batch would keep the whole batch's storage alive in the cache
            computed = {key: (m.clone(), h.clone()) for key, m, h in zip(missing, mid, high, strict=True)}
        rows = [[self._lookup((image_id, shape), computed) for image_id in ids] for ids in image_ids]
        for key, item in computed.items():
            self._store(key, item)
        return EpisodeFeatures(
            query_mid=torch.stack([row[0][0] for row in rows]),
            query_high=torch.stack([row[0][1] for row in rows]),
            support_mid=torch.stack([torch.stack([m for m, _ in row[1:]]) for row in rows]),
            support_high=torch.stack([torch.stack([h for _, h in row[1:]]) for row in rows]),
        )

    def _lookup(self, key: Key, computed: Mapping[Key, tuple[torch.Tensor, torch.Tensor]]
                ) -> tuple[torch.Tensor, torch.Tensor]:
        if key in computed:
            return computed[key]
        self._items.move_to_end(key)
        return self._items[key]

    def _store(self, key: Key, item: tuple[torch.Tensor, torch.Tensor]) -> None:
        size = sum(t.numel() * t.element_size() for t in item)
        if size > self.max_bytes:
            return
        self._items[key] = item
        self._bytes += size
        while self._bytes > self.max_bytes:
            _, dropped = self._items.popitem(last=False)
            self._bytes -= sum(t.numel() * t.element_size() for t in dropped)
