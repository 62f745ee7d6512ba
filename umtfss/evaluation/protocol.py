"""The episodic test protocol: the same seeded episodes for every predictor, scored at original resolution.

For each fold, shot and seed, exactly ``cfg.episodes`` episodes of the fold's novel classes (val split) are
drawn. A predictor sees the episode at the resized size of ``cfg.resize`` (PFENet: longer side 473 + pad;
HSNet: 400 x 400 squash; custom: longer side ``cfg.size`` + pad); its logits are cropped to the resized
query (the padding is no image), resized bilinearly to the original label size, and the arg-max is scored
there, as PFENet and HSNet do. mIoU and FB-IoU are reported in percent, mean and std over seeds.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from umtfss.data.manifest import DatasetInfo, novel_classes, read_manifest
from umtfss.device import resolve_device
from umtfss.episodes.load import Resize, load_episode
from umtfss.episodes.sampling import EpisodeSpec, evaluation_episodes
from umtfss.errors import InputError
from umtfss.evaluation.config import EvaluateConfig
from umtfss.evaluation.metrics import IoUAccumulator
from umtfss.io import atomic_output
from umtfss.evaluation.shared_features import SharedBackbones
from umtfss.evaluation.summary import summarize_seeds
from umtfss.model.config import ModelConfig
from umtfss.model.head import foreground_wins
from umtfss.progress import bar_over, progress
from umtfss.training.checkpoint import load_model

log = logging.getLogger(__name__)

# (query (B, 3, S, S), supports (B, K, 3, S, S), support masks (B, K, S, S) int64) -> logits (B, 2, S, S).
Predictor = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]

PFENET_SIZE, HSNET_SIZE = 473, 400


def input_resize(cfg: EvaluateConfig) -> Resize:
    """How a predictor sees an episode under ``cfg.resize``."""
    size = {"pfenet": PFENET_SIZE, "hsnet": HSNET_SIZE, "custom": cfg.size}[cfg.resize]
    return Resize(size, squash=cfg.resize == "hsnet")


def predict_masks(
    predict_fn: Predictor,
    queries: torch.Tensor,
    supports: torch.Tensor,
    support_masks: torch.Tensor,
    extents: Sequence[tuple[int, int]],
    out_sizes: Sequence[tuple[int, int]],
    device: torch.device,
) -> list[np.ndarray]:
    """uint8 (H, W) {0, 1} predictions, each at its ``out_sizes`` entry, for B queries (B, 3, S, S) and their
    supports (B, K, 3, S, S) in one forward pass."""
    logits = predict_fn(queries.to(device), supports.to(device), support_masks.to(device))
    return masks_from_logits(logits, extents, out_sizes)


def masks_from_logits(logits: torch.Tensor, extents: Sequence[tuple[int, int]],
                      out_sizes: Sequence[tuple[int, int]]) -> list[np.ndarray]:
    """Logits (B, 2, S, S) cropped to each query's ``extents`` (the rest is padding), resized bilinearly to
    its ``out_sizes`` entry; foreground where its logit wins: uint8 (H, W) {0, 1} masks."""
    predictions = []
    for one, (h, w), out_size in zip(logits, extents, out_sizes, strict=True):
        one = F.interpolate(one[None, :, :h, :w].float(), size=out_size, mode="bilinear", align_corners=False)
        predictions.append(foreground_wins(one)[0].to(torch.uint8).cpu().numpy())
    return predictions


def predict_mask(
    predict_fn: Predictor,
    query: torch.Tensor,
    supports: torch.Tensor,
    support_masks: torch.Tensor,
    extent: tuple[int, int],
    out_size: tuple[int, int],
    device: torch.device,
) -> np.ndarray:
    """uint8 (H, W) {0, 1} prediction at ``out_size`` for one query (3, S, S) and its K supports."""
    return predict_masks(predict_fn, query[None], supports[None], support_masks[None], [extent], [out_size],
                         device)[0]


def score_episodes(
    predictors: Mapping[str, Predictor],
    episodes: Iterable[Mapping[str, Any]],
    classes: Sequence[int],
    device: torch.device,
    batch_size: int = 1,
    shared: SharedBackbones | None = None,
) -> dict[str, IoUAccumulator]:
    """Every predictor on every episode (each episode loaded once), ``batch_size`` episodes per forward pass;
    one accumulator per predictor. Predictors with the same frozen backbone share its features, computed once
    per distinct image (``image_ids`` of the episodes) and cached in ``shared``, which may outlive this call
    (:mod:`umtfss.evaluation.shared_features`; default: shared within each batch, nothing kept)."""
    scores = {name: IoUAccumulator(classes) for name in predictors}
    for predictor in predictors.values():
        if isinstance(predictor, nn.Module):
            predictor.eval()
    if shared is None:
        shared = SharedBackbones(predictors, 0)
    shared.check(predictors)
    groups = shared.groups
    with torch.inference_mode():
        for batch in _batches(episodes, batch_size):
            queries = torch.stack([episode["query_image"] for episode in batch]).to(device)
            supports = torch.stack([episode["support_images"] for episode in batch]).to(device)
            masks = torch.stack([episode["support_masks"] for episode in batch]).to(device)
            labels = [torch.as_tensor(episode["query_label"]) for episode in batch]
            extents = [tuple(episode["query_extent"]) for episode in batch]
            out_sizes = [tuple(label.shape) for label in labels]
            image_ids = [episode["image_ids"] for episode in batch]
            for cache, names in groups:
                features = cache.episode(image_ids, queries, supports) if cache is not None else None
                for name in names:
                    predictor = predictors[name]
                    logits = (predictor(queries, supports, masks) if features is None
                              else predictor.decode(features, masks, queries.shape[-2:]))
                    for prediction, label, episode in zip(masks_from_logits(logits, extents, out_sizes), labels,
                                                          batch, strict=True):
                        scores[name].update(prediction, label, int(episode["class_id"]))
    return scores


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive lists of ``size`` items (the last may be shorter); itertools.batched from Python 3.12."""
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def episode_specs(
    manifest: pd.DataFrame, info: DatasetInfo, fold: int, shots: int, cfg: EvaluateConfig, seed: int
) -> list[EpisodeSpec]:
    """Exactly ``cfg.episodes`` seeded specs; anything else is an error, not a silently smaller test."""
    specs = evaluation_episodes(manifest, info, fold, shots, cfg.episodes, seed)
    if len(specs) != cfg.episodes:
        raise InputError(
            f"fold {fold}, {shots}-shot, seed {seed}: got {len(specs)} episodes, not {cfg.episodes}"
        )
    return specs


def evaluate(
    predictors: Mapping[str, Predictor],
    manifest: pd.DataFrame,
    info: DatasetInfo,
    cfg: EvaluateConfig,
    *,
    device: torch.device,
    folds: Sequence[int] | None = None,
    shared: SharedBackbones | None = None,
) -> dict[str, Any]:
    """``{"fold<f>": {"<k>shot": {name: result}}}`` over ``folds`` (default ``cfg.folds``) and ``cfg.shots``,
    every predictor on the same episodes; result = :func:`summarize_seeds` of ``cfg.seeds``. Backbone features
    are kept in ``shared`` (default: a cache of ``cfg.feature_cache_mb`` for all of this call's episodes)."""
    results: dict[str, Any] = {}
    if shared is None:
        shared = SharedBackbones.of(predictors, cfg.feature_cache_mb)
    folds = list(folds if folds is not None else cfg.folds)
    resize = input_resize(cfg)
    bar = progress(desc=f"evaluate fold {', '.join(map(str, folds))}", unit="episode",
                   total=len(folds) * len(cfg.shots) * len(cfg.seeds) * cfg.episodes)
    for fold in folds:
        classes = novel_classes(info, fold)
        for shots in cfg.shots:
            per_seed: dict[str, list[dict[str, Any]]] = {name: [] for name in predictors}
            for seed in cfg.seeds:
                specs = episode_specs(manifest, info, fold, shots, cfg, seed)
                episodes = (load_episode(spec, manifest, resize) for spec in bar_over(specs, bar))
                for name, acc in score_episodes(predictors, episodes, classes, device, cfg.batch_size,
                                                shared).items():
                    if acc.n_episodes != cfg.episodes:  # the reported count is the one scored, never assumed
                        raise RuntimeError(f"fold {fold}, {shots}-shot, seed {seed}: {name} scored "
                                           f"{acc.n_episodes} episodes, not {cfg.episodes}")
                    per_seed[name].append({
                        "seed": seed,
                        "miou": round(100 * acc.miou(), 2),
                        "fbiou": round(100 * acc.fbiou(), 2),
                        "episodes": acc.n_episodes,
                    })
                log.info("fold %d, %d-shot, seed %d: %s", fold, shots, seed,
                         {name: runs[-1]["miou"] for name, runs in per_seed.items()})
            results.setdefault(f"fold{fold}", {})[f"{shots}shot"] = {
                name: summarize_seeds(runs) for name, runs in per_seed.items()
            }
    bar.close()
    return results


def evaluate_model(
    model: nn.Module,
    manifest: pd.DataFrame,
    info: DatasetInfo,
    cfg: EvaluateConfig,
    *,
    device: torch.device,
    folds: Sequence[int] | None = None,
) -> dict[str, Any]:
    """:func:`evaluate` of one model, under the name ``model``."""
    return evaluate({"model": model.to(device)}, manifest, info, cfg, device=device, folds=folds)


def evaluate_checkpoint(
    checkpoint: str | os.PathLike[str],
    model_cfg: ModelConfig,
    cfg: EvaluateConfig,
    *,
    folds: Sequence[int],
    out: str | os.PathLike[str],
    manifest_path: str | os.PathLike[str],
) -> dict[str, Any]:
    """Score a checkpoint file on ``folds`` and write ``out`` (JSON, atomically); returns what was written.

    Written shape (one finetune run): ``{"fraction", "init", "fold", "seed", "selection", "fold<f>":
    {"<k>shot": {"model": result}}}``, the first five copied from the checkpoint's meta (null when absent).
    """
    model, meta = load_model(checkpoint, expected=model_cfg)
    manifest, info = read_manifest(manifest_path)
    device = resolve_device(cfg.device)
    result = {key: meta.get(key) for key in ("fold", "fraction", "init", "seed", "selection")}
    result.update(evaluate_model(model, manifest, info, cfg, device=device, folds=folds))
    write_json(out, result)
    return result


def write_json(path: str | os.PathLike[str], payload: Mapping[str, Any]) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2) + "\n")
