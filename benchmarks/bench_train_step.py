"""Training step time per episode, 1-shot and 5-shot, prototype vs vanilla cross-attention.

The model is :class:`umtfss.model.FewShotSegmenter` built from params.yaml's ``model`` section (the default
embedded config), the batch size and crop size are ``pretrain``'s, the optimisers are the training loop's
(:func:`umtfss.training.optim.build_optimizers`) and one step is the loop's own
(:func:`umtfss.training.loop._train_step`: forward, the configured loss, backward, SGD + AdamW step).
Episodes are seeded random images with a foreground blob, an ignore border and letterbox padding (step time
does not depend on the pixels). Time per episode = median step time / batch size. ``--device cuda`` labels the
figures as GPU figures.

    python benchmarks/bench_train_step.py                       # params.yaml model, CPU
    python benchmarks/bench_train_step.py --device cuda         # GPU figures
    python benchmarks/bench_train_step.py --dim 32 --heads 4 --k-fg 8 --k-bg 16 --size 64 --batch 1 --shots 1
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import torch
import yaml

from _common import PROJECT_ROOT, print_table, ratio_line, set_threads, time_interleaved
from umtfss.model import FewShotSegmenter
from umtfss.model.config import ModelConfig
from umtfss.training.config import TrainConfig
from umtfss.training.loop import _train_step
from umtfss.training.optim import build_optimizers

VARIANTS = ("prototype", "vanilla")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", type=Path, default=PROJECT_ROOT / "params.yaml")
    parser.add_argument("--shots", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--batch", type=int, default=None, help="default: pretrain.batch_size")
    parser.add_argument("--size", type=int, default=None, help="crop size (default: pretrain.crop_size)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    # Overrides of the model section, for a CI-sized run.
    parser.add_argument("--dim", type=int, default=None)
    parser.add_argument("--heads", type=int, default=None)
    parser.add_argument("--k-fg", type=int, default=None)
    parser.add_argument("--k-bg", type=int, default=None)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    return parser.parse_args()


def load_configs(args: argparse.Namespace) -> tuple[ModelConfig, TrainConfig]:
    """params.yaml's model and pretrain sections (validated), with the command line's overrides."""
    raw = yaml.safe_load(args.params.read_text()) or {}
    overrides = {key: value for key, value in
                 {"dim": args.dim, "heads": args.heads, "k_fg": args.k_fg, "k_bg": args.k_bg}.items()
                 if value is not None}
    model = {**raw.get("model", {}), **overrides}
    # Timing does not depend on the weights: a seeded init, so the script runs before `selfsup` has trained any.
    model["backbone"] = {**model.get("backbone", {}), "weights": None}
    model = ModelConfig.model_validate(model)
    train = TrainConfig.model_validate({**raw.get("pretrain", {}), "device": args.device})
    return model, train


def episode_batch(batch: int, shots: int, size: int) -> dict[str, torch.Tensor]:
    """A batch in the DataLoader's layout (umtfss/episodes/__init__.py): foreground blob, ignore ring, padding."""
    generator = torch.Generator().manual_seed(0)
    y, x = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    radius = ((y - size * 0.4) ** 2 + (x - size * 0.5) ** 2).sqrt() / size
    mask = torch.zeros(size, size, dtype=torch.int64)
    mask[radius < 0.27] = 255
    mask[radius < 0.25] = 1
    mask[-size // 8:] = 255
    return {
        "query_image": torch.randn(batch, 3, size, size, generator=generator),
        "query_mask": mask.expand(batch, size, size).clone(),
        "support_images": torch.randn(batch, shots, 3, size, size, generator=generator),
        "support_masks": mask.expand(batch, shots, size, size).clone(),
    }


def make_step(model_cfg: ModelConfig, train_cfg: TrainConfig, variant: str, shots: int, batch: int, size: int,
              device: torch.device) -> Callable[[], None]:
    """One training step of a fresh model of ``variant`` on a fixed batch."""
    torch.manual_seed(0)
    model = FewShotSegmenter(model_cfg.model_copy(update={"cross_attention": variant})).to(device).train()
    optimizers = build_optimizers(model, train_cfg)
    episodes = episode_batch(batch, shots, size)

    def step() -> None:
        # Ends in .item()/.cpu(): synchronises a GPU.
        _train_step(model, episodes, optimizers, device, train_cfg.loss)
    return step


def main() -> None:
    args = parse_args()
    set_threads(args.threads)
    model_cfg, train_cfg = load_configs(args)
    batch = args.batch or train_cfg.batch_size
    size = args.size or train_cfg.crop_size
    device = torch.device(args.device)

    seconds: dict[tuple[int, str], float] = {}
    for shots in args.shots:
        steps = {v: make_step(model_cfg, train_cfg, v, shots, batch, size, device) for v in VARIANTS}
        for variant, value in time_interleaved(steps, warmup=args.warmup, repeats=args.repeats).items():
            seconds[shots, variant] = value

    where = (f"GPU ({torch.cuda.get_device_name(device)})" if device.type == "cuda"
             else f"CPU, {torch.get_num_threads()} threads")
    print(f"training step, {where}: {model_cfg.backbone.arch}, dim={model_cfg.dim}, heads={model_cfg.heads}, "
          f"blocks={model_cfg.blocks}, K={model_cfg.k_fg}+{model_cfg.k_bg}, batch {batch} episodes of "
          f"{size}x{size}")
    print_table(["device", "shots", "variant", "step s", "s / episode"],
                [["GPU" if device.type == "cuda" else "CPU", shots, variant, seconds[shots, variant],
                  seconds[shots, variant] / batch] for shots in args.shots for variant in VARIANTS])
    for shots in args.shots:
        speedup = seconds[shots, "vanilla"] / seconds[shots, "prototype"]
        print(ratio_line(f"train_step_prototype_vs_vanilla_speedup_{shots}shot_{device.type}", speedup,
                         note="vanilla step time / prototype step time"))


if __name__ == "__main__":
    main()
