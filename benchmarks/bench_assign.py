"""Dask `assign` over a sharded Zarr store vs an in-memory NumPy matmul + argmin, and its peak RSS vs size.

Dask side: :func:`umtfss.clustering.assign.assign_labels`, what the `assign` stage runs, from a features store
written in the documented format (docs/artifacts.md: float16 (N, G, G, C), one image per chunk,
``images_per_shard`` per shard, a valid mask) to a label store, with the stage's default scheduler. NumPy
side (the target's baseline): the same features already in memory as stored (float16, every cell, and the
valid mask), ``argmin(|c|^2 - 2 x.c)`` in float32 over the same centroids, padding set to -1: the same work
minus Zarr and Dask. Also shown: the bare float32 matmul + argmin over only the valid cells, converted
beforehand (no float16 conversion, no padding). Throughput = valid cells per second. Memory: the peak RSS
of a fresh process that runs the Dask assign on N images, then on ``--scale`` x N images; a streaming assign
keeps it (nearly) flat. The whole-process figure includes the imports (torch, through umtfss.data), so the
growth above the process's RSS at the start of the assign is shown as well.

    python benchmarks/bench_assign.py                    # 1000 images, store and k as params.yaml makes them
    python benchmarks/bench_assign.py --images 16 --grid 4 --channels 8 --images-per-shard 4
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import zarr

import yaml

from _common import (
    BENCH_DIR, MIB, PROJECT_ROOT, current_rss, emit, peak_rss, print_table, ratio_line, run_worker,
    time_interleaved,
)
from _stores import write_centroids, write_features_store
from umtfss.clustering.assign import assign_labels
from umtfss.clustering.config import ClusterConfig
from umtfss.backbones.build import level_channels
from umtfss.features.config import ExtractConfig
from umtfss.features.extract import feature_grid


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", type=Path, default=PROJECT_ROOT / "params.yaml")
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--grid", type=int, default=None, help="cells per side (default: extract's)")
    parser.add_argument("--channels", type=int, default=None, help="default: extract's layer's")
    parser.add_argument("--clusters", type=int, default=None, help="default: cluster.n_clusters")
    parser.add_argument("--images-per-shard", type=int, default=None, help="default: extract's")
    parser.add_argument("--scheduler", default="threads", help="assign.scheduler (threads | local-cluster)")
    parser.add_argument("--workers", type=int, default=2, help="assign.n_workers")
    parser.add_argument("--scale", type=int, default=4, help="image count factor of the memory comparison")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    # Internal: one memory case, run by a fresh process.
    parser.add_argument("--worker-store", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--worker-centroids", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    # Unset sizes come from params.yaml: the store the default pipeline writes.
    raw = yaml.safe_load(args.params.read_text()) or {}
    extract = ExtractConfig.model_validate(raw.get("extract", {}))
    grid, args.stride = feature_grid(extract)
    args.grid = args.grid or grid
    args.channels = args.channels or level_channels(extract.backbone.arch, extract.layer)
    args.clusters = args.clusters or ClusterConfig.model_validate(raw.get("cluster", {})).n_clusters
    args.images_per_shard = args.images_per_shard or extract.images_per_shard
    return args


def worker(args: argparse.Namespace) -> None:
    """Peak RSS of one Dask assign of ``--worker-store``, in this fresh process."""
    centroids = np.load(args.worker_centroids)
    out = args.worker_store.with_name(args.worker_store.stem + "_labels.zarr")
    before = current_rss()
    assign_labels(args.worker_store, centroids, out, scheduler=args.scheduler, n_workers=args.workers)
    emit({"peak_bytes": peak_rss(), "growth_bytes": max(0, peak_rss() - before)})
    shutil.rmtree(out)


def main() -> None:
    args = parse_args()
    logging.disable(logging.INFO)
    if args.worker_store:
        worker(args)
        return
    workdir = Path(tempfile.mkdtemp(prefix="bench_assign_"))
    try:
        sizes = {"N": args.images, f"{args.scale}N": args.scale * args.images}
        stores = {name: workdir / f"features_{name}.zarr" for name in sizes}
        cells = {name: write_features_store(stores[name], images=n, grid=args.grid, channels=args.channels,
                                            images_per_shard=args.images_per_shard, stride=args.stride)
                 for name, n in sizes.items()}
        centroids = write_centroids(workdir / "centroids.npy", clusters=args.clusters, channels=args.channels)

        # The NumPy sides' inputs: the N store's arrays, loaded before timing (they are "in memory").
        group = zarr.open_group(str(stores["N"]), mode="r")
        features, valid = group["features"][:], group["valid"][:]
        points = features[valid].astype(np.float32)
        c_sq = np.einsum("kc,kc->k", centroids, centroids)

        def numpy_assign() -> None:
            flat = features.reshape(-1, args.channels).astype(np.float32)
            labels = np.argmin(c_sq[None, :] - 2.0 * (flat @ centroids.T), axis=1).astype(np.int16)
            labels.reshape(valid.shape)[~valid] = -1

        def numpy_float32_valid() -> None:
            np.argmin(c_sq[None, :] - 2.0 * (points @ centroids.T), axis=1)

        runs = iter(range(1_000_000))

        def dask_assign() -> None:
            out = workdir / f"labels_{next(runs)}.zarr"
            assign_labels(stores["N"], centroids, out, scheduler=args.scheduler, n_workers=args.workers)
            shutil.rmtree(out)

        seconds = time_interleaved({"dask_zarr": dask_assign, "numpy_in_memory": numpy_assign,
                                    "numpy_float32_valid_only": numpy_float32_valid},
                                   warmup=args.warmup, repeats=args.repeats)
        memory = {name: run_worker(BENCH_DIR / "bench_assign.py",
                                   [*sys.argv[1:], "--worker-store", str(store),
                                    "--worker-centroids", str(workdir / "centroids.npy")], malloc_env=False)
                  for name, store in stores.items()}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"assign: {args.images} images of {args.grid}x{args.grid} cells x {args.channels} channels "
          f"(float16, {args.images_per_shard} images per shard, {cells['N']} valid cells), "
          f"k={args.clusters}, "
          f"Dask scheduler {args.scheduler} with {args.workers} workers")
    print_table(["side", "median s", "valid cells / s"],
                [[side, value, cells["N"] / value] for side, value in seconds.items()])
    print_table(["dask assign of", "images", "peak RSS MiB", "growth over start MiB"],
                [[name, sizes[name], memory[name]["peak_bytes"] / MIB, memory[name]["growth_bytes"] / MIB]
                 for name in sizes])
    big = f"{args.scale}N"
    print(ratio_line("dask_vs_numpy_float32_valid_only_throughput",
                     seconds["numpy_float32_valid_only"] / seconds["dask_zarr"], ">=", 0.7,
                     "vs the bare float32 matmul, no float16 conversion"))
    growth = memory[big]["growth_bytes"] / max(memory["N"]["growth_bytes"], 1)
    print(ratio_line(f"assign_rss_growth_{big}_vs_N", growth, "<", 1.2, "peak RSS above the process's start"))
    print(ratio_line(f"assign_peak_rss_{big}_vs_N", memory[big]["peak_bytes"] / memory["N"]["peak_bytes"],
                     "<", 1.2, "whole-process peak RSS"))
    print(ratio_line("dask_vs_numpy_throughput", seconds["numpy_in_memory"] / seconds["dask_zarr"], ">=", 0.7,
                     "same float16 features in memory"))


if __name__ == "__main__":
    main()
