"""The training-free baseline's threshold, chosen on labeled base-class episodes of the train split.

A cosine threshold suits one backbone and not another, and choosing it on the held-out classes would be model
selection on the test set. Each fold's threshold is therefore the one of a fixed grid with the best mIoU over
the fold's base classes on train-split episodes: the data a finetuned model may also see.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import torch

from umtfss.data.manifest import DatasetInfo, base_classes
from umtfss.episodes.load import load_episode
from umtfss.episodes.sampling import calibration_episodes
from umtfss.evaluation.baseline import PrototypeBaseline
from umtfss.evaluation.config import EvaluateConfig
from umtfss.evaluation.metrics import IoUAccumulator
from umtfss.evaluation.protocol import input_resize, predict_mask
from umtfss.progress import progress

log = logging.getLogger(__name__)

THRESHOLDS: tuple[float, ...] = tuple(round(float(t), 2) for t in np.arange(0.3, 0.951, 0.05))
CALIBRATION_SEED = 0  # the base-class episodes are not the test episodes in any case: one fixed draw


def choose_threshold(baseline: PrototypeBaseline, manifest: pd.DataFrame, info: DatasetInfo, fold: int,
                     cfg: EvaluateConfig, *, device: torch.device) -> tuple[float, dict[float, float]]:
    """The grid threshold with the best 1-shot mIoU (ties: the lower one) on ``cfg.calibration_episodes``
    base-class episodes of ``fold``, and the mIoU (percent) of every grid value."""
    specs = calibration_episodes(manifest, info, fold, 1, cfg.calibration_episodes, CALIBRATION_SEED)
    scores = {t: IoUAccumulator(base_classes(info, fold)) for t in THRESHOLDS}
    baseline.to(device).eval()
    with torch.inference_mode():
        for spec in progress(specs, desc=f"calibrate fold {fold}", unit="episode"):
            episode = load_episode(spec, manifest, input_resize(cfg))
            label = episode["query_label"]
            similarity = baseline.similarity(episode["query_image"][None].to(device),
                                             episode["support_images"][None].to(device),
                                             episode["support_masks"][None].to(device))
            for threshold, accumulator in scores.items():
                def thresholded(*_: torch.Tensor, at: float = threshold) -> torch.Tensor:
                    return torch.cat([torch.full_like(similarity, at), similarity], dim=1)

                prediction = predict_mask(thresholded, episode["query_image"], episode["support_images"],
                                          episode["support_masks"], tuple(episode["query_extent"]),
                                          tuple(label.shape), device)
                accumulator.update(prediction, label, spec.class_id)
    miou = {t: round(100 * acc.miou(), 2) for t, acc in scores.items()}
    best = max(THRESHOLDS, key=lambda t: (miou[t], -t))
    log.info("fold %d: baseline threshold %.2f (base-class mIoU %.2f over %d episodes)", fold, best,
             miou[best], len(specs))
    return best, miou
