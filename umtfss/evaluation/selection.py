"""Which finetuning step to keep: the one with the best mIoU on base-class episodes of the val split.

The fold's novel classes are the test; choosing a step (early stopping) on them would be model selection on
the test set. The base classes of images no training stage reads (the val split's, whose images the test
queries also come from: no other labelled split is left untrained at 100 %) say whether finetuning still
helps, so each snapshot of a run (:func:`umtfss.training.state.snapshots`; step 0 is the starting model) is
scored on the same seeded base-class val episodes and the best is kept, the earlier on a tie.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from umtfss.data.manifest import DatasetInfo, base_classes
from umtfss.episodes.load import load_episode
from umtfss.episodes.sampling import validation_episodes
from umtfss.evaluation.config import EvaluateConfig
from umtfss.evaluation.protocol import input_resize, score_episodes
from umtfss.evaluation.shared_features import SharedBackbones
from umtfss.progress import progress
from umtfss.training.config import SelectConfig

log = logging.getLogger(__name__)


def select_snapshot(model: nn.Module, snapshots: Mapping[int, str | os.PathLike[str]], manifest: pd.DataFrame,
                    info: DatasetInfo, fold: int, cfg: SelectConfig, scoring: EvaluateConfig, *,
                    device: torch.device) -> tuple[int, dict[int, float]]:
    """Load the best of ``snapshots`` (step -> weights file) into ``model``; return its step and every
    step's base-class val mIoU (percent). Episodes are drawn per ``cfg`` and seen as ``scoring`` sees them."""
    if not snapshots:
        raise ValueError("no snapshots to choose from")
    specs = validation_episodes(manifest, info, fold, cfg.shots, cfg.episodes, cfg.seed)
    episodes = [load_episode(spec, manifest, input_resize(scoring)) for spec in specs]  # loaded once for all
    classes = base_classes(info, fold)
    model.to(device)
    # The backbone is frozen, so every snapshot has its features: computed for the first, reused after.
    shared = SharedBackbones.of({"model": model}, scoring.feature_cache_mb)
    miou: dict[int, float] = {}
    for step, path in progress(snapshots.items(), desc=f"select fold {fold}", unit="snapshot"):
        model.load_state_dict(torch.load(Path(path), map_location=device, weights_only=True))
        scores = score_episodes({"model": model}, episodes, classes, device, scoring.batch_size, shared)
        miou[step] = round(100 * scores["model"].miou(), 2)
    best = max(miou, key=lambda step: (miou[step], -step))
    model.load_state_dict(torch.load(Path(snapshots[best]), map_location=device, weights_only=True))
    log.info("fold %d: step %d chosen (base-class val mIoU %.2f; by step %s)", fold, best, miou[best], miou)
    return best, miou
