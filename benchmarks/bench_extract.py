"""`extract` end to end vs the bare backbone forward on the same images.

End to end: :func:`umtfss.features.extract.extract_features`, the function the `extract` stage runs: reading
the PNGs, letterboxing, the backbone, L2-normalisation, float16 and the sharded Zarr writes. Bare: the same
backbone trunk (same config, eval mode, inference mode, same batch size) on the same images, already decoded,
letterboxed and normalised in memory. The images are real PNGs of the embedded benchmark, written by its
generator (:func:`umtfss.data.embedded.generate`). The extract config is params.yaml's ``extract`` section,
on the CPU unless ``--device`` says otherwise.

    python benchmarks/bench_extract.py                      # 256 embedded images, params.yaml's extract
    python benchmarks/bench_extract.py --images 8 --input-size 64 --batch-size 4
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
from pathlib import Path

import torch
import yaml

from _common import PROJECT_ROOT, print_table, ratio_line, set_threads, time_interleaved
from umtfss.data.config import EmbeddedConfig
from umtfss.data.embedded import generate
from umtfss.data.images import load_image, to_tensor
from umtfss.backbones.build import build_network, build_trunk
from umtfss.features.config import ExtractConfig
from umtfss.features.extract import extract_features, feature_grid, mirrored_canvas


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", type=Path, default=PROJECT_ROOT / "params.yaml")
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--min-size", type=int, default=112, help="embedded images' shorter side (pixels)")
    parser.add_argument("--max-size", type=int, default=160, help="embedded images' longer side (pixels)")
    parser.add_argument("--layer", choices=("layer1", "layer2", "layer3", "layer4"), default=None,
                        help="default: extract.layer")
    parser.add_argument("--input-size", type=int, default=None, help="default: extract.input_size")
    parser.add_argument("--batch-size", type=int, default=None, help="default: extract.batch_size")
    parser.add_argument("--images-per-shard", type=int, default=None, help="default: params")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    return parser.parse_args()


def extract_config(args: argparse.Namespace) -> ExtractConfig:
    """params.yaml's extract section with the command line's overrides."""
    raw = (yaml.safe_load(args.params.read_text()) or {}).get("extract", {})
    overrides = {"layer": args.layer, "input_size": args.input_size, "batch_size": args.batch_size,
                 "images_per_shard": args.images_per_shard, "device": args.device,
                 # Timing does not depend on the weights: a seeded init, so the script runs before `selfsup`.
                 "backbone": {**raw.get("backbone", {}), "weights": None}}
    return ExtractConfig.model_validate({**raw, **{k: v for k, v in overrides.items() if v is not None}})


def main() -> None:
    args = parse_args()
    set_threads(args.threads)
    logging.disable(logging.INFO)  # extract's progress log is not part of the comparison's output
    cfg = extract_config(args)
    device = torch.device(args.device)
    workdir = Path(tempfile.mkdtemp(prefix="bench_extract_"))
    try:
        embedded = EmbeddedConfig(n_train=max(8, args.images), n_val=8, min_size=args.min_size,
                                  max_size=args.max_size)
        frame, _, _ = generate(embedded, workdir / "dataset", workdir / "dataset")
        frame = frame.iloc[: args.images]
        paths, ids = frame["image_path"].tolist(), frame["image_id"].tolist()

        # The bare side: the images decoded, letterboxed (with extract's mirrored margin) and normalised up
        # front, batched as extract batches.
        tensors = [to_tensor(mirrored_canvas(load_image(p), cfg.input_size, cfg.margin)[0]) for p in paths]
        batches = [torch.stack(tensors[i: i + cfg.batch_size]).to(device)
                   for i in range(0, len(tensors), cfg.batch_size)]
        trunk = build_trunk(build_network(cfg.backbone), cfg.backbone.arch, [cfg.layer]).eval().to(device)

        def bare() -> None:
            with torch.inference_mode():
                for batch in batches:
                    trunk(batch)[cfg.layer].cpu()  # .cpu(): waits for a GPU, as extract's copy back does

        runs = iter(range(1_000_000))

        def end_to_end() -> None:
            out = workdir / f"features_{next(runs)}.zarr"
            extract_features(paths, ids, out, cfg)
            shutil.rmtree(out)  # a few ms: the store of the previous run must not fill the disk

        seconds = time_interleaved({"extract": end_to_end, "bare_forward": bare}, warmup=args.warmup,
                                   repeats=args.repeats)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    grid, _ = feature_grid(cfg)
    where = "GPU" if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"extract vs bare forward, {where}: {args.images} embedded PNGs ({args.min_size}-{args.max_size} "
          f"px), {cfg.backbone.arch} {cfg.layer}, input {cfg.input_size} -> {grid}x{grid} cells, batch "
          f"{cfg.batch_size}, {cfg.images_per_shard} images per shard")
    print_table(["side", "median s", "images / s"],
                [[side, value, args.images / value] for side, value in seconds.items()])
    ratio = seconds["extract"] / seconds["bare_forward"]
    print(ratio_line("extract_vs_bare_forward_time", ratio, "<=", 1.25))


if __name__ == "__main__":
    main()
