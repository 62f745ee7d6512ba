"""Task construction at 1x, 4x and 16x images: `cluster`, `assign` and `episodes`, time per image and peak RSS.

Synthetic stores stand in for the backbone (no weights needed): each image's features are a Voronoi partition
of 2-6 regions, each region one latent class (a unit centre plus noise), at a stride-32 grid as ResNet layer4
gives on 480-pixel inputs. Every stage runs in a fresh interpreter, so its peak RSS is its own, with glibc's
default allocator settings (what a user's process sees).

- ``cluster``: `sample_points` over the fixed subset + the CPU k-means engine. Its cost does not depend on
  the store size, so its ratio compares total seconds, not seconds per image.
- ``assign``: nearest-centroid labels, Dask threads scheduler. Felzenszwalb smoothing is off: it needs the
  photos, which a synthetic store has none of (it is per image, so it scales like the rest of assign).
- ``episodes``: the region table (streamed one label shard at a time) + candidates (blockwise within a
  cluster, against at most ``--comparison-pool`` members).

Prints a table, then the ratio lines (largest size over smallest): time per image <= 1.3x; peak RSS of
``assign`` and ``episodes`` < 1.5x.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BENCH_DIR, MIB, current_rss, emit, peak_rss, print_table, ratio_line, run_worker  # noqa: E402
from _stores import TASK_STAGES, run_task_stage, write_region_features_store  # noqa: E402

STRIDE = 32


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=5000, help="images at scale 1")
    parser.add_argument("--scales", default="1,4,16", help="comma-separated image count factors")
    parser.add_argument("--grid", type=int, default=15, help="cells per side (15 = 480 px at stride 32)")
    parser.add_argument("--channels", type=int, default=64,
                        help="feature channels (ResNet-50 layer4 has 2048; 64 keeps 16x on this disk)")
    parser.add_argument("--clusters", type=int, default=50)
    parser.add_argument("--subset-images", type=int, default=1000, help="cluster.subset_images")
    parser.add_argument("--images-per-shard", type=int, default=64)
    parser.add_argument("--comparison-pool", type=int, default=4096, help="episodes.comparison_pool")
    parser.add_argument("--workdir", type=Path, default=None, help="where the stores go (default: a tempdir)")
    parser.add_argument("--worker", choices=TASK_STAGES, help=argparse.SUPPRESS)
    parser.add_argument("--worker-dir", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args()


def worker(args: argparse.Namespace) -> None:
    before = current_rss()
    start = time.perf_counter()
    run_task_stage(args.worker, args.worker_dir, clusters=args.clusters, subset_images=args.subset_images,
                   comparison_pool=args.comparison_pool, stride=STRIDE)
    seconds = time.perf_counter() - start
    emit({"seconds": seconds, "peak_bytes": peak_rss(), "growth_bytes": max(0, peak_rss() - before)})


def main() -> None:
    args = parse_args()
    if args.worker:
        worker(args)
        return
    scales = sorted({int(s) for s in args.scales.split(",")})
    root = Path(tempfile.mkdtemp(prefix="bench_scale_", dir=args.workdir))
    results: dict[tuple[str, int], dict] = {}
    rows = []
    try:
        for scale in scales:
            images = args.images * scale
            directory = root / f"x{scale}"
            directory.mkdir()
            start = time.perf_counter()
            manifest = write_region_features_store(
                directory / "features.zarr", images=images, grid=args.grid, channels=args.channels,
                images_per_shard=args.images_per_shard, latent_clusters=args.clusters, stride=STRIDE)
            manifest.to_parquet(directory / "manifest.parquet")
            print(f"# {images} images: synthetic store written in {time.perf_counter() - start:.1f} s",
                  flush=True)
            for stage in TASK_STAGES:
                result = run_worker(BENCH_DIR / "bench_scale.py",
                                    [*sys.argv[1:], "--worker", stage, "--worker-dir", str(directory)],
                                    timeout=3 * 3600, malloc_env=False)
                results[stage, scale] = result
                rows.append([stage, images, result["seconds"], 1000 * result["seconds"] / images,
                             result["peak_bytes"] / MIB, result["growth_bytes"] / MIB])
                print(f"# {stage} x{scale}: {result['seconds']:.1f} s", flush=True)
            regions = pd.read_parquet(directory / "regions.parquet", columns=["cluster"])
            print(f"# x{scale}: {len(regions)} regions in {regions['cluster'].nunique()} clusters", flush=True)
            shutil.rmtree(directory)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    print(f"grid {args.grid}x{args.grid} (stride {STRIDE}), {args.channels} channels, {args.clusters} clusters, "
          f"cluster subset {args.subset_images} images, {args.images_per_shard} images per shard")
    print_table(["stage", "images", "seconds", "ms/image", "peak RSS MiB", "growth MiB"], rows)
    small, large = scales[0], scales[-1]
    factor = f"{large}x_vs_{small}x"
    cluster = results["cluster", large]["seconds"] / results["cluster", small]["seconds"]
    print(ratio_line(f"cluster_seconds_{factor}", cluster, "<=", 1.3, "fixed subset: total seconds"))
    for stage in ("assign", "episodes"):
        per_image = ((results[stage, large]["seconds"] / large) / (results[stage, small]["seconds"] / small))
        print(ratio_line(f"{stage}_time_per_image_{factor}", per_image, "<=", 1.3))
    for stage in ("assign", "episodes"):
        memory = results[stage, large]["peak_bytes"] / results[stage, small]["peak_bytes"]
        print(ratio_line(f"{stage}_peak_rss_{factor}", memory, "<", 1.5))
    for stage in ("assign", "episodes"):
        # Peak RSS includes the interpreter and its imports (torch among them); the growth is the stage's own.
        growth = results[stage, large]["growth_bytes"] / max(1, results[stage, small]["growth_bytes"])
        print(ratio_line(f"{stage}_rss_growth_{factor}", growth, None, note="the stage's own memory"))


if __name__ == "__main__":
    main()
