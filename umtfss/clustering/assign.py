"""Nearest-centroid labels of every feature cell, computed with Dask shard by shard into a sharded label store.

Dask blocks are exactly the store's shards (S images): each task reads one features shard and writes one
label shard, whole, so no two tasks ever touch the same shard file (a partial-shard write from Dask silently
corrupts a sharded Zarr store). Optionally the cell labels are smoothed with Felzenszwalb superpixels of the
letterboxed image: each superpixel takes the majority label of its pixels, at input-pixel resolution.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Sequence

import dask
import dask.array as da
import numpy as np
import zarr
from skimage.segmentation import felzenszwalb

from umtfss.clustering.config import FelzenszwalbConfig
from umtfss.clustering.kmeans import nearest_centroid
from umtfss.data.images import letterbox, load_image
from umtfss.errors import InputError
from umtfss.features.store import create_image_array, images_per_shard, open_group
from umtfss.io import atomic_output
from umtfss.progress import compute_with_progress

log = logging.getLogger(__name__)
INVALID = -1


def label_block(features: np.ndarray, valid: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """int16 (s, G, G) nearest-centroid labels of a features block (s, G, G, C); -1 where not ``valid``.

    Module level, so dask.distributed workers can import it. Only valid cells are computed: padding is never
    a feature, and skipping it saves its share of the work.
    """
    labels = np.full(valid.shape, INVALID, dtype=np.int16)
    labels[valid] = nearest_centroid(features[valid], centroids)
    return labels


def smooth_with_superpixels(labels: np.ndarray, image: np.ndarray, *, upsample: int, input_size: int,
                            cfg: FelzenszwalbConfig) -> np.ndarray:
    """Cell labels (G, G) of one image -> pixel labels (G*upsample, G*upsample), majority per superpixel.

    Superpixels are computed on the resized image region only (the padding would merge with dark borders);
    pixels outside it are -1.
    """
    canvas, (h, w) = letterbox(image, input_size, is_mask=False)
    side = labels.shape[0] * upsample
    pixels = np.repeat(np.repeat(labels, upsample, axis=0), upsample, axis=1)
    out = np.full((side, side), INVALID, dtype=np.int16)
    segments = felzenszwalb(canvas[:h, :w], scale=cfg.scale, sigma=cfg.sigma, min_size=cfg.min_size)
    region = pixels[:h, :w].astype(np.int64)
    n_labels = int(region.max()) + 1
    # Every pixel inside (h, w) lies in a valid cell (cell y is valid when y*stride < h), so region >= 0.
    votes = np.bincount(segments.ravel() * n_labels + region.ravel(),
                        minlength=(int(segments.max()) + 1) * n_labels).reshape(-1, n_labels)
    out[:h, :w] = votes.argmax(axis=1)[segments]
    return out


def superpixel_block(features: np.ndarray, valid: np.ndarray, paths: np.ndarray, centroids: np.ndarray,
                     upsample: int, input_size: int, cfg: FelzenszwalbConfig) -> np.ndarray:
    """:func:`label_block`, then :func:`smooth_with_superpixels` per image (``paths`` in block row order)."""
    cells = label_block(features, valid, centroids)
    return np.stack([smooth_with_superpixels(labels, load_image(path), upsample=upsample,
                                             input_size=input_size, cfg=cfg)
                     for labels, path in zip(cells, paths, strict=True)])


def check_aligned(chunks: Sequence[int], per_shard: int) -> None:
    """Raise unless every Dask chunk boundary along images falls on a shard boundary (the last may not)."""
    ends = np.cumsum(chunks)[:-1]
    misaligned = [int(end) for end in ends if end % per_shard]
    if misaligned:
        raise ValueError(f"Dask chunk boundaries {misaligned[:5]} are not on the {per_shard}-image shard "
                         "boundaries: partial-shard writes from parallel tasks would corrupt the store")


def write_aligned(labels: da.Array, target: zarr.Array) -> None:
    """``da.store`` of ``labels`` into ``target`` after checking its chunks are whole shards (no lock needed),
    with a progress bar."""
    check_aligned(labels.chunks[0], images_per_shard(target))
    compute_with_progress(da.store(labels, target, lock=False, compute=False), desc="assign")


@contextlib.contextmanager
def dask_scheduler(scheduler: str, n_workers: int) -> Iterator[None]:
    """Make ``scheduler`` the default for computations inside: ``threads``, ``local-cluster`` (a
    dask.distributed LocalCluster of ``n_workers`` processes) or ``tcp://host:port`` (an existing one)."""
    if scheduler == "threads":
        with dask.config.set(scheduler="threads", num_workers=n_workers):
            yield
        return
    from dask.distributed import Client, LocalCluster

    if scheduler == "local-cluster":
        with LocalCluster(n_workers=n_workers, threads_per_worker=1, dashboard_address=None) as cluster, \
                Client(cluster):
            yield
    elif scheduler.startswith("tcp://"):
        with Client(scheduler):
            yield
    else:
        raise ValueError(f"unknown scheduler {scheduler!r}: threads, local-cluster or tcp://host:port")


def assign_labels(features_path: str | os.PathLike[str], centroids: np.ndarray,
                  out_path: str | os.PathLike[str], *, scheduler: str = "threads", n_workers: int = 2,
                  superpixels: FelzenszwalbConfig | None = None, images: Sequence[str] | None = None) -> None:
    """Write the label store of ``features_path`` to ``out_path``, atomically.

    ``superpixels`` smooths labels with Felzenszwalb superpixels; it needs ``images``, the image paths in
    the store's row order.
    """
    group = open_group(features_path, what="features")
    try:
        features, valid = group["features"], group["valid"]
        image_ids, stride, input_size = group.attrs["image_ids"], group.attrs["stride"], group.attrs["input_size"]
    except KeyError as exc:
        raise InputError(f"features store {features_path} lacks {exc}") from None
    n_images, grid, _, channels = features.shape
    centroids = np.asarray(centroids, dtype=np.float32)
    if centroids.ndim != 2 or centroids.shape[1] != channels:
        raise InputError(f"centroids of shape {centroids.shape} do not match the {channels}-channel features "
                         f"of {features_path}")
    per_shard = images_per_shard(features)
    feats = da.from_zarr(features, chunks=(per_shard, grid, grid, channels))
    mask = da.from_zarr(valid, chunks=(per_shard, grid, grid))
    if superpixels is None:
        cell_size, side = stride, grid
        labels = da.blockwise(label_block, "nyx", feats, "nyxc", mask, "nyx", dtype=np.int16,
                              centroids=centroids, concatenate=True)
    else:
        if images is None or len(images) != n_images:
            raise InputError(f"superpixels need one image path per row of {features_path} ({n_images}), got "
                             f"{None if images is None else len(images)}")
        cell_size, side = 1, grid * stride
        paths = da.from_array(np.asarray(images, dtype=object), chunks=per_shard)
        labels = da.blockwise(superpixel_block, "nyx", feats, "nyxc", mask, "nyx", paths, "n",
                              dtype=np.int16, concatenate=True, adjust_chunks={"y": grid * stride,
                                                                                 "x": grid * stride},
                              centroids=centroids, upsample=stride, input_size=input_size, cfg=superpixels)
    log.info("assigning %d images (%d per shard) to %d clusters on %s%s", n_images, per_shard, len(centroids),
             scheduler, "" if superpixels is None else ", Felzenszwalb-smoothed")
    with atomic_output(out_path) as tmp:
        out = zarr.open_group(str(tmp), mode="w", attributes={
            "image_ids": list(image_ids), "cell_size": cell_size, "input_size": input_size,
            "n_clusters": len(centroids),
        })
        target = create_image_array(out, "labels", n_images=n_images, item_shape=(side, side), dtype="int16",
                                    images_per_shard=per_shard, fill_value=INVALID)
        with dask_scheduler(scheduler, n_workers):
            write_aligned(labels, target)
