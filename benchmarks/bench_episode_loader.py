"""Pseudo episodes per second through the training DataLoader: decode and augmentation in the main process
(``num_workers: 0``) vs in N worker processes.

The task tables are built by the library itself on synthetic inputs: JPEG photos (up to 480 px, smooth
colour fields, so they decode like photos, not like noise), a region-structured feature store at stride 32,
then `assign`, regions and candidates. The dataset reads the region and candidate tables' id columns when it
is built and one label row per view when an episode is drawn; its build time and RSS growth are printed too.
Each side runs in a fresh interpreter. Prints a table, then the ratio (N workers over 0) last.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BENCH_DIR, MIB, current_rss, emit, print_table, ratio_line, run_worker  # noqa: E402
from _stores import TASK_STAGES, run_task_stage, write_region_features_store  # noqa: E402

from umtfss.data.manifest import DatasetInfo, write_manifest  # noqa: E402
from umtfss.episodes.config import AugmentConfig  # noqa: E402

STRIDE = 32


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--grid", type=int, default=15, help="feature cells per side (photos: grid * 32 px)")
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--clusters", type=int, default=20)
    parser.add_argument("--shots", type=int, default=1)
    parser.add_argument("--crop-size", type=int, default=473, help="pretrain.crop_size (paper: 473)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--batches", type=int, default=30, help="timed batches, after one untimed batch")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers of the compared side")
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--worker-dir", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args()


def write_photos(manifest: pd.DataFrame, directory: Path, seed: int = 0) -> list[str]:
    """One JPEG per manifest row at its height x width: a coarse random colour field, bicubic-upsampled."""
    rng = np.random.default_rng(seed)
    directory.mkdir()
    paths = []
    for image_id, height, width in manifest[["image_id", "height", "width"]].itertuples(index=False):
        coarse = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        photo = Image.fromarray(coarse).resize((int(width), int(height)), Image.Resampling.BICUBIC)
        path = directory / f"{image_id}.jpg"
        photo.save(path, quality=90)
        paths.append(str(path))
    return paths


def build_tables(directory: Path, args: argparse.Namespace) -> None:
    """manifest.parquet, labels.zarr, regions.parquet and candidates.parquet in ``directory``."""
    features = directory / "features.zarr"
    sizes = write_region_features_store(features, images=args.images, grid=args.grid, channels=args.channels,
                                        images_per_shard=32, latent_clusters=args.clusters, stride=STRIDE)
    frame = sizes.assign(image_path=write_photos(sizes, directory / "photos"), mask_path=None, split="train",
                         class_pixels=None, content_md5="")
    write_manifest(frame, DatasetInfo(name="synthetic", class_names=["background"], folds=[]),
                   directory / "manifest.parquet")
    for stage in TASK_STAGES:
        run_task_stage(stage, directory, clusters=args.clusters, subset_images=min(args.images, 200),
                       comparison_pool=4096, stride=STRIDE)


def worker(args: argparse.Namespace) -> None:
    """Episodes/s of one DataLoader configuration, in this fresh process."""
    import torch
    from torch.utils.data import DataLoader

    from umtfss.episodes.pseudo import PseudoEpisodes

    torch.set_num_threads(1)  # per process: the N-worker side must not oversubscribe the cores
    directory = args.worker_dir
    before, start = current_rss(), time.perf_counter()
    episodes = PseudoEpisodes(manifest=directory / "manifest.parquet", labels=directory / "labels.zarr",
                              regions=directory / "regions.parquet", candidates=directory / "candidates.parquet",
                              shots=args.shots, crop_size=args.crop_size, augment=AugmentConfig(), seed=0)
    build_seconds, build_bytes = time.perf_counter() - start, max(0, current_rss() - before)
    loader = DataLoader(episodes, batch_size=args.batch_size, num_workers=args.worker,
                        generator=torch.Generator().manual_seed(0))
    batches = iter(loader)
    next(batches)  # worker start-up and first decode: not what a long run sees per step
    start = time.perf_counter()
    for _ in range(args.batches):
        batch = next(batches)
    seconds = time.perf_counter() - start
    assert batch["query_image"].shape[-1] == args.crop_size
    emit({"episodes_per_s": args.batches * args.batch_size / seconds, "build_seconds": build_seconds,
          "build_mib": build_bytes / MIB})


def main() -> None:
    args = parse_args()
    if args.worker is not None:
        worker(args)
        return
    directory = Path(tempfile.mkdtemp(prefix="bench_loader_"))
    try:
        start = time.perf_counter()
        build_tables(directory, args)
        print(f"# tables for {args.images} images built in {time.perf_counter() - start:.1f} s", flush=True)
        results = {workers: run_worker(BENCH_DIR / "bench_episode_loader.py",
                                       [*sys.argv[1:], "--worker", str(workers), "--worker-dir", str(directory)],
                                       malloc_env=False)
                   for workers in (0, args.workers)}
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    print(f"{args.images} photos up to {args.grid * STRIDE} px, {args.shots}-shot, crop {args.crop_size}, "
          f"batch {args.batch_size}, {args.batches} timed batches, 1 torch thread per process")
    print_table(["num_workers", "episodes/s", "dataset build s", "dataset build MiB"],
                [[workers, r["episodes_per_s"], r["build_seconds"], r["build_mib"]] for workers, r in results.items()])
    speedup = results[args.workers]["episodes_per_s"] / results[0]["episodes_per_s"]
    print(ratio_line(f"episodes_per_s_{args.workers}_workers_vs_0", speedup, None,
                     note="decode + augmentation off the training process"))


if __name__ == "__main__":
    main()
