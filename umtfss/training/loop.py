"""Episodic training of a few-shot segmenter, resumable after a kill and data-parallel under ``torchrun``.

One step: a batch of episodes (query, K supports and their masks), the configured loss of the query's 2-class
logits against its mask (255 ignored; :mod:`umtfss.training.losses`), one step of both optimisers
(:mod:`umtfss.training.optim`). The episode order comes from the seed alone (:class:`EpisodeOrder`), and the
state saved every ``checkpoint_every`` steps holds every random generator, so a run killed and resumed any
number of times ends with the same weights as one that never stopped (bitwise on the CPU, given the same
thread count). This holds when the episode dataset's randomness depends only on the episode index, or on the
global generators with ``num_workers: 0``.

Episodes whose views are a function of the image alone carry ``view_ids`` (unaugmented pseudo episodes); the
frozen backbone's features of those views are then kept across steps (``cfg.feature_cache_mb``) and the
backbone runs once per distinct view: the same weights up to float rounding (a batch of other composition may
sum in another order; on the CPUs measured, bitwise equal). Single-process only: under DDP the model's forward
must run through the wrapper.

Multi-process: ``torchrun --nproc_per_node N -m stages.pretrain`` (see :mod:`umtfss.training.distributed`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from typing import Any

import torch
from dvclive import Live
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset

from umtfss.device import resolve_device
from umtfss.model.feature_cache import FeatureCache, FeatureDecoder
from umtfss.model.head import foreground_wins
from umtfss.progress import progress
from umtfss.training import distributed
from umtfss.training.config import TrainConfig
from umtfss.training.losses import IGNORE_INDEX, LossKind, segmentation_loss
from umtfss.training.optim import Optimizers, build_optimizers
from umtfss.training.run import TrainingRun, due
from umtfss.training.sampler import EpisodeOrder
from umtfss.training.state import fingerprint, save_snapshot, seed_everything

log = logging.getLogger(__name__)

# Sums over the steps since the last log: loss, steps, foreground intersection, foreground union.
_WINDOW_SIZE = 4


def train(
    model: nn.Module,
    episodes: Dataset,
    cfg: TrainConfig,
    *,
    state_dir: str | os.PathLike[str],
    live: Live | None = None,
    identity: Mapping[str, Any] | None = None,
    snapshot_every: int | None = None,
) -> nn.Module:
    """Train ``model`` for ``cfg.steps`` steps on batches of ``episodes``; return it (unwrapped).

    ``state_dir``: where resumable states are kept. Training continues from the newest one when it belongs to
    this run: same ``cfg``, world size and ``identity`` (JSON-able: whatever else defines the run, such as the
    model config and hashes of the inputs and initial weights); otherwise the folder is cleared first.
    ``live``: dvclive logger for loss, foreground IoU and learning rates every ``cfg.log_every`` steps.
    ``snapshot_every``: also keep the weights before the first step and after every ``snapshot_every``-th and
    the last (:func:`umtfss.training.state.snapshots`), to choose a step from afterwards.
    """
    device = resolve_device(cfg.device, distributed.current().local_rank)
    with distributed.session(device) as process:
        if cfg.batch_size % process.world_size:
            raise ValueError(
                f"batch_size {cfg.batch_size} does not split over {process.world_size} processes"
            )
        model.to(device)
        optimizers = build_optimizers(model, cfg)
        defined_by = {"train": cfg.model_dump(mode="json"), "world_size": process.world_size}
        if snapshot_every:  # another cadence keeps other snapshots: not a run to resume
            defined_by["snapshot_every"] = snapshot_every
        run = TrainingRun(state_dir, fingerprint({**defined_by, **(identity or {})}),
                          {"model": model, "optimizers": optimizers}, live=live, process=process)
        resumed = run.resume()
        if resumed is None:
            # Ranks differ in dropout and agree on weights (DDP syncs them).
            seed_everything(cfg.seed + process.rank)
            start, window = 0, torch.zeros(_WINDOW_SIZE, dtype=torch.float64)
            if snapshot_every and process.is_main:
                save_snapshot(state_dir, 0, model)
        else:
            start, window = resumed

        net: nn.Module = model
        if process.distributed:
            net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        cache = _feature_cache(model, cfg, process)
        batches = iter(_loader(episodes, cfg, start, process, device))
        model.train()
        tick = time.perf_counter()
        bar = progress(desc="train", total=cfg.steps, initial=start, unit="step", disable=not process.is_main)
        with bar:
            for step in range(start + 1, cfg.steps + 1):
                increment = _train_step(net, next(batches), optimizers, device, cfg.loss, cache)
                window += increment
                bar.set_postfix(loss=f"{increment[0].item():.4f}", refresh=False)  # this process's batch
                bar.update()
                if due(step, cfg.log_every, cfg.steps):
                    seconds_per_step = (time.perf_counter() - tick) / window[1].item()
                    _report(run, step, cfg.steps, window, optimizers, seconds_per_step)
                    window, tick = torch.zeros_like(window), time.perf_counter()
                # Before the state: a kill between the two redoes the step and rewrites the same snapshot.
                if snapshot_every and due(step, snapshot_every, cfg.steps) and process.is_main:
                    save_snapshot(state_dir, step, model)
                if due(step, cfg.checkpoint_every, cfg.steps):
                    run.save(step, window)
        if cache is not None and cache.images_computed:
            log.info("backbone features of %d distinct views computed (kept across steps)", cache.images_computed)
        distributed.barrier()  # no process leaves before the last state is written
        del net  # DDP's reducer holds the process group: release it here, not wherever the caller drops it
    return model


def _loader(
    episodes: Dataset, cfg: TrainConfig, start: int, process: distributed.Process, device: torch.device
) -> DataLoader:
    """Batches of this process's share of the episode stream, from step ``start`` on."""
    per_process = cfg.batch_size // process.world_size
    order = EpisodeOrder(
        len(episodes),  # type: ignore[arg-type]
        cfg.seed,
        start=start * per_process,
        rank=process.rank,
        world_size=process.world_size,
    )
    return DataLoader(
        episodes,
        batch_size=per_process,
        sampler=order,
        num_workers=cfg.num_workers,
        # A private generator: creating the loader must not draw from the global one that dropout uses.
        generator=torch.Generator().manual_seed(cfg.seed),
        pin_memory=device.type == "cuda",
    )


def _feature_cache(model: nn.Module, cfg: TrainConfig, process: distributed.Process) -> FeatureCache | None:
    """Where backbone features may be kept across steps (a model that decodes given features, one process,
    a cache size), the cache for this run; else None."""
    if not cfg.feature_cache_mb or process.distributed or not isinstance(model, FeatureDecoder):
        return None
    return FeatureCache(model.backbone, int(cfg.feature_cache_mb * 2**20))


def _train_step(
    net: nn.Module, batch: dict[str, Any], optimizers: Optimizers, device: torch.device, loss_kind: LossKind,
    cache: FeatureCache | None = None,
) -> torch.Tensor:
    """One optimisation step; returns its window contribution (loss, 1 step, fg intersection, fg union).
    ``cache``: backbone features of the batch's ``view_ids``, where it has them (see the module docstring)."""
    query = batch["query_image"].to(device, non_blocking=True)
    target = batch["query_mask"].to(device, non_blocking=True)
    supports = batch["support_images"].to(device, non_blocking=True)
    support_masks = batch["support_masks"].to(device, non_blocking=True)
    if cache is not None and "view_ids" in batch:
        features = cache.episode(batch["view_ids"].tolist(), query, supports)
        logits = net.decode(features, support_masks, query.shape[-2:])  # type: ignore[operator]
    else:
        logits = net(query, supports, support_masks)
    loss = segmentation_loss(logits, target, loss_kind)
    optimizers.zero_grad()
    loss.backward()
    optimizers.step()
    with torch.no_grad():
        valid = target != IGNORE_INDEX
        predicted = foreground_wins(logits) & valid
        actual = (target == 1) & valid
        counts = torch.stack([(predicted & actual).sum(), (predicted | actual).sum()]).double().cpu()
    return torch.cat([torch.tensor([loss.item(), 1.0], dtype=torch.float64), counts])


def _report(
    run: TrainingRun,
    step: int,
    steps: int,
    window: torch.Tensor,
    optimizers: Optimizers,
    seconds_per_step: float,
) -> None:
    """Log the window's mean loss and pooled foreground IoU over all processes."""
    loss_sum, count, intersection, union = distributed.all_sum(window.clone()).tolist()
    metrics = {
        "loss": loss_sum / count,
        "fg_iou": intersection / union if union else 1.0,
        **optimizers.learning_rates(),
    }
    run.log(step, metrics)
    if distributed.is_main_process():
        log.info(
            "step %d/%d loss %.4f fg_iou %.3f (%.3f s/step)",
            step,
            steps,
            metrics["loss"],
            metrics["fg_iou"],
            seconds_per_step,
        )
