"""Dense self-supervised features for every image of the unlabeled pool, streamed into a sharded Zarr store.

Each image is letterboxed (longer side ``input_size``, aspect kept, padded at the bottom/right), run through
the backbone up to ``layer``, L2-normalised per cell and stored as float16. Padded cells are flagged invalid:
padding is never a feature. Memory is bounded by one shard of features plus a few prefetched images.

Padding must not shape the features of the cells next to it either: convolutions see zeros beyond the canvas
and, at the bottom/right, the letterbox fill, so cells along the image border look alike in every image and
k-means spends clusters on "image border" instead of content. The image is therefore mirrored into the
letterbox padding and into a ``margin`` around the canvas, and the margin's cells are cut off after the
backbone.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import numpy as np
import torch
import torch.nn.functional as F
import zarr

from umtfss.data.images import letterbox, load_image, to_tensor
from umtfss.device import resolve_device
from umtfss.backbones.build import build_network, build_trunk, level_channels, level_stride
from umtfss.features.config import ExtractConfig
from umtfss.features.store import create_feature_arrays, shard_slices, valid_cells
from umtfss.io import atomic_output
from umtfss.progress import progress

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")


def prefetch(fn: Callable[[T], R], items: Iterable[T], depth: int = 4) -> Iterator[R]:
    """``map(fn, items)`` computed ``depth`` items ahead on threads (Pillow decodes without the GIL)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        pending: list[Future[R]] = []
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) > depth:
                yield pending.pop(0).result()
        for future in pending:
            yield future.result()


def mirrored_canvas(image: np.ndarray, size: int, margin: int) -> tuple[np.ndarray, tuple[int, int]]:
    """The letterboxed ``image`` with its padding and a ``margin`` on every side filled by mirroring the
    resized image: a (size + 2 * margin) square uint8 canvas, and the resized extent (h, w) in the unmargined
    canvas."""
    canvas, (h, w) = letterbox(image, size, is_mask=False)
    pad = ((margin, size - h + margin), (margin, size - w + margin), (0, 0))
    return np.pad(canvas[:h, :w], pad, mode="symmetric"), (h, w)


def _load(args: tuple[str, int, int]) -> tuple[torch.Tensor, tuple[int, int]]:
    path, size, margin = args
    canvas, extent = mirrored_canvas(load_image(path), size, margin)
    return to_tensor(canvas), extent


def feature_grid(cfg: ExtractConfig) -> tuple[int, int]:
    """(cells per side, input pixels per cell) of the stored feature maps."""
    stride = level_stride(cfg.backbone.arch, cfg.layer)
    return math.ceil(cfg.input_size / stride), stride


def extract_features(image_paths: Sequence[str], image_ids: Sequence[str], out_path: str | os.PathLike[str],
                     cfg: ExtractConfig) -> None:
    """Write the feature store for ``image_paths`` (in this order) to ``out_path``, atomically."""
    device = resolve_device(cfg.device)
    trunk = build_trunk(build_network(cfg.backbone), cfg.backbone.arch, [cfg.layer]).eval().to(device)
    grid, stride = feature_grid(cfg)
    crop = slice(cfg.margin // stride, cfg.margin // stride + grid)
    channels = level_channels(cfg.backbone.arch, cfg.layer)
    n_images = len(image_paths)
    log.info("extracting %s %s features of %d images on %s: %dx%d cells x %d channels",
             cfg.backbone.arch, cfg.layer, n_images, device, grid, grid, channels)
    with atomic_output(out_path) as tmp:
        group = zarr.open_group(str(tmp), mode="w", attributes={
            "image_ids": list(image_ids), "stride": stride, "input_size": cfg.input_size, "layer": cfg.layer,
            "margin": cfg.margin, "backbone": cfg.backbone.model_dump(), "channels": channels,
        })
        features, valid = create_feature_arrays(group, n_images=n_images, grid=grid, channels=channels,
                                                images_per_shard=cfg.images_per_shard)
        jobs = ((path, cfg.input_size, cfg.margin) for path in image_paths)
        loaded = prefetch(_load, jobs, depth=2 * cfg.batch_size)
        with progress(desc="extract", total=n_images, unit="img") as bar, torch.inference_mode():
            for shard in shard_slices(features):
                shard_features = np.empty((shard.stop - shard.start, grid, grid, channels), np.float16)
                shard_valid = np.empty((shard.stop - shard.start, grid, grid), bool)
                for start in range(0, len(shard_features), cfg.batch_size):
                    batch = [next(loaded) for _ in range(min(cfg.batch_size, len(shard_features) - start))]
                    images = torch.stack([image for image, _ in batch]).to(device)
                    cells = F.normalize(trunk(images)[cfg.layer][..., crop, crop].float(), dim=1)
                    if cells.shape[-1] != grid:
                        raise RuntimeError(f"backbone gave {cells.shape[-1]} cells per side, expected {grid}")
                    stop = start + len(batch)
                    shard_features[start:stop] = cells.half().permute(0, 2, 3, 1).cpu().numpy()
                    shard_valid[start:stop] = [valid_cells(extent, stride, grid) for _, extent in batch]
                    bar.update(len(batch))
                features[shard] = shard_features
                valid[shard] = shard_valid
