"""The `selfsup` training loop: a ResNet trunk plus a projection head, trained on pairs of views, resumable.

Each step draws ``batch_size`` pool images and two views of each (:mod:`umtfss.selfsup.views`), embeds every
cell of every view and minimises :func:`umtfss.selfsup.loss.dense_contrastive_loss`, with SGD under a cosine
learning-rate decay. Image and crop draws are a pure function of (seed, step) and the states saved every
``checkpoint_every`` steps hold torch's generator (colour jitter): a killed run resumes to the same weights.
The result is the ResNet's state dict in torchvision's key format (no ``fc``): every loader of backbones
reads it, and layers deeper than ``layer`` keep their initial weights.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from dvclive import Live
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from umtfss.backbones.build import build_network, build_trunk, level_channels, level_stride, network_state
from umtfss.data.images import load_image
from umtfss.device import resolve_device
from umtfss.errors import InputError
from umtfss.io import atomic_output
from umtfss.progress import progress
from umtfss.selfsup.config import SelfSupConfig
from umtfss.selfsup.loss import dense_contrastive_loss, positive_pairs
from umtfss.selfsup.views import View, photometric, random_view
from umtfss.training.run import TrainingRun, due
from umtfss.training.state import fingerprint, seed_everything

log = logging.getLogger(__name__)


class DenseEmbedder(nn.Module):
    """The backbone up to ``layer`` and a 1x1-conv projection head: L2-normalised embeddings of every cell."""

    def __init__(self, cfg: SelfSupConfig) -> None:
        super().__init__()
        self.network = build_network(cfg.backbone)
        self.trunk = build_trunk(self.network, cfg.backbone.arch, [cfg.layer])
        self.layer = cfg.layer
        channels = level_channels(cfg.backbone.arch, cfg.layer)
        hidden = 2 * cfg.projection_dim
        self.head = nn.Sequential(
            nn.Conv2d(channels, hidden, 1), nn.BatchNorm2d(hidden), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, cfg.projection_dim, 1),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, S, S) -> (N, D, G, G)."""
        return F.normalize(self.head(self.trunk(images)[self.layer]), dim=1)

    def backbone_state(self) -> dict[str, torch.Tensor]:
        """The backbone's weights in the format its loader reads (torchvision keys for ResNets)."""
        return network_state(self.network)


def cosine_schedule(optimizer: torch.optim.Optimizer, steps: int) -> LambdaLR:
    """Cosine decay of the learning rate from its initial value (at the first step) towards zero over
    ``steps`` steps, stepped after each optimiser step."""
    return LambdaLR(optimizer, lambda done: 0.5 * (1 + math.cos(math.pi * done / steps)))


def _pair_loss(net: DenseEmbedder, first: Sequence[View], second: Sequence[View], cfg: SelfSupConfig,
               device: torch.device) -> torch.Tensor:
    embeddings = net(torch.stack([v.pixels for v in (*first, *second)]).to(device))
    n, grid = len(first), embeddings.shape[-1]
    cells = embeddings.permute(0, 2, 3, 1).reshape(2, n * grid * grid, -1)
    centres_a, centres_b = (torch.from_numpy(np.concatenate([v.centres for v in views])).float().to(device)
                            for views in (first, second))
    cell_size = torch.tensor([max(a.cell_size, b.cell_size) for a, b in zip(first, second, strict=True)],
                             device=device).repeat_interleave(grid * grid)
    image_index = torch.arange(n, device=device).repeat_interleave(grid * grid)
    positives, comparable = positive_pairs(centres_a, centres_b, cell_size, image_index, cfg.positive_radius)
    return dense_contrastive_loss(cells[0], cells[1], positives, comparable, cfg.temperature)


def train_backbone(image_paths: Sequence[str], cfg: SelfSupConfig, out_path: str | os.PathLike[str], *,
                   state_dir: str | os.PathLike[str], live: Live | None = None,
                   identity: Mapping[str, Any] | None = None) -> dict[str, float]:
    """Train on ``image_paths`` and write the backbone's state dict to ``out_path`` (atomically).

    ``state_dir`` keeps resumable states; a state is resumed only when ``cfg`` and ``identity`` (JSON-able:
    whatever else defines the run, such as a hash of the images) match. Returns the last logged metrics.
    """
    if not image_paths:
        raise InputError("the unlabeled pool is empty: no image to train the backbone on")
    device = resolve_device(cfg.device)
    seed_everything(cfg.seed)  # the projection head's init; a resumed run restores its generators below
    net = DenseEmbedder(cfg).to(device)
    optimizer = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                                weight_decay=cfg.weight_decay)
    schedule = cosine_schedule(optimizer, max(cfg.steps, 1))
    parts = {"model": net, "optimizer": optimizer, "schedule": schedule}
    run = TrainingRun(state_dir, fingerprint({"selfsup": cfg.model_dump(mode="json"), **(identity or {})}),
                      parts, live=live)
    start, window = run.resume() or (0, [])
    if cfg.steps == 0:  # the initial backbone as it is: one point, so the curves a pipeline tracks exist
        run.log(0, {"lr": 0.0})
    grid = cfg.crop_size // level_stride(cfg.backbone.arch, cfg.layer)
    colour = photometric(cfg.jitter)
    metrics: dict[str, float] = {}
    net.train()
    with ThreadPoolExecutor(max_workers=2) as pool, \
            progress(desc="selfsup", total=cfg.steps, initial=start, unit="step") as bar:
        tick = time.perf_counter()
        for step in range(start + 1, cfg.steps + 1):
            rng = np.random.default_rng([cfg.seed, step])
            chosen = rng.integers(len(image_paths), size=cfg.batch_size)
            images = [torch.from_numpy(np.array(im)).permute(2, 0, 1)  # a writable copy
                      for im in pool.map(load_image, (image_paths[i] for i in chosen))]
            views = [[random_view(im, size=cfg.crop_size, grid=grid, min_area=cfg.min_area, colour=colour,
                                  rng=rng) for im in images] for _ in range(2)]
            lr = schedule.get_last_lr()[0]
            loss = _pair_loss(net, views[0], views[1], cfg, device)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            window.append(loss.item())
            bar.set_postfix(loss=f"{window[-1]:.4f}", refresh=False)
            bar.update()
            if due(step, cfg.log_every, cfg.steps):
                metrics = {"loss": float(np.mean(window)), "lr": lr}
                log.info("step %d/%d loss %.4f (%.2f s since the last log)", step, cfg.steps, metrics["loss"],
                         time.perf_counter() - tick)
                run.log(step, metrics)
                tick, window = time.perf_counter(), []
            if due(step, cfg.checkpoint_every, cfg.steps):
                run.save(step, window)
    with atomic_output(out_path) as tmp:
        torch.save(net.backbone_state(), tmp)
    return metrics
