"""Backbone passes shared by predictors and by episodes: evaluation's cost is mostly the frozen backbone.

The `evaluate` stage scores a pretrained model, an untrained one and the training-free baseline, all over the
same frozen backbone, on 1,000 episodes per shot whose images repeat (on the embedded benchmark, 123 distinct
images in the 6,000 of 1,000 5-shot episodes), and an evaluation view is a function of the image alone. So each
group of predictors with the same backbone features runs that backbone once per distinct image, and keeps
the per-image features in a byte-bounded, least-recently-used cache (:mod:`umtfss.model.feature_cache`).
"""

from __future__ import annotations

from collections.abc import Mapping

from umtfss.model.backbone import FrozenBackbone
from umtfss.model.feature_cache import FeatureCache, FeatureDecoder


def shared_backbone_groups(predictors: Mapping[str, object]) -> list[tuple[FrozenBackbone | None, list[str]]]:
    """Predictors grouped by backbone (``FrozenBackbone.same_features``), in the order given; a predictor
    that is no :class:`FeatureDecoder` is a group of its own, with ``None`` for a backbone (it runs whole)."""
    groups: list[tuple[FrozenBackbone | None, list[str]]] = []
    for name, predictor in predictors.items():
        if not isinstance(predictor, FeatureDecoder):
            groups.append((None, [name]))
            continue
        for backbone, names in groups:
            if backbone is not None and backbone.same_features(predictor.backbone):
                names.append(name)
                break
        else:
            groups.append((predictor.backbone, [name]))
    return groups


class SharedBackbones:
    """Predictors grouped by backbone (:func:`shared_backbone_groups`), one :class:`FeatureCache` of
    ``max_bytes`` per group, kept for as long as this object lives: across the folds, shots and seeds of an
    evaluation, or the snapshots of one model scored in turn (a frozen backbone's features do not change).
    """

    def __init__(self, predictors: Mapping[str, object], max_bytes: int) -> None:
        self.names = list(predictors)
        self.groups: list[tuple[FeatureCache | None, list[str]]] = [
            (FeatureCache(backbone, max_bytes) if backbone is not None else None, names)
            for backbone, names in shared_backbone_groups(predictors)
        ]

    @classmethod
    def of(cls, predictors: Mapping[str, object], cache_mb: float) -> SharedBackbones:
        """A cache of ``cache_mb`` megabytes (2**20 bytes) per backbone."""
        return cls(predictors, int(cache_mb * 2**20))

    def check(self, predictors: Mapping[str, object]) -> None:
        """Raise ValueError unless these groups were built for ``predictors`` (the same names)."""
        if list(predictors) != self.names:
            raise ValueError(f"shared backbones built for {self.names}, used for {list(predictors)}")

    @property
    def images_computed(self) -> int:
        """Images that went through a backbone so far, all groups together."""
        return sum(cache.images_computed for cache, _ in self.groups if cache is not None)
