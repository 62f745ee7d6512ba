"""Prototype vs vanilla cross-attention, forward + backward, on the model's own modules (CPU).

Both sides are the query cross-attention of :class:`umtfss.model.transformer.QuerySupportTransformer` as the
model runs it: the support keys are computed once (prototype: LSH hashing + Hamming k-means + prototype means
by :class:`PrototypeGrouper`; vanilla: every valid support token), then the query passes the ``blocks``
cross-attention blocks. Two scopes: ``attention`` (keys + the blocks' multi-head attention layers, residual
added: what the prototypes change, and the target) and ``block`` (the whole TransformerBlock, whose MLP and
LayerNorms cost the same on both sides). Defaults are the paper's scale: 60x60 query and support tokens,
d=256, 8 heads, K_fg + K_bg = 50 + 100. Time: median of interleaved repeats. Peak memory: RSS high-water mark
above the RSS before the step, after a warm-up step, one fresh process per case.

    python benchmarks/bench_cross_attention.py            # full size
    python benchmarks/bench_cross_attention.py --side 12 --dim 32 --heads 4 --k-fg 4 --k-bg 8   # seconds
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import torch

from _common import (
    BENCH_DIR, MIB, emit, peak_growth, print_table, ratio_line, run_worker, set_threads,
    time_interleaved,
)
from umtfss.model.config import ModelConfig
from umtfss.model.masks import BACKGROUND, FOREGROUND, IGNORE
from umtfss.model.transformer import QuerySupportTransformer, all_support_tokens

VARIANTS = ("prototype", "vanilla")
SCOPES = ("attention", "block")
CASES = [f"{variant}/{scope}" for scope in SCOPES for variant in VARIANTS]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--side", type=int, default=60, help="token grid side (60: 3600 tokens)")
    parser.add_argument("--shots", type=int, default=1, help="support tokens = shots * side^2")
    parser.add_argument("--batch", type=int, default=1, help="episodes per batch")
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--k-fg", type=int, default=50)
    parser.add_argument("--k-bg", type=int, default=100)
    parser.add_argument("--bits", type=int, default=64, help="LSH bits")
    parser.add_argument("--iters", type=int, default=10, help="Hamming k-means iterations")
    parser.add_argument("--blocks", type=int, default=2, help="cross blocks sharing the keys")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--worker", choices=CASES, help=argparse.SUPPRESS)  # internal: one memory case
    return parser.parse_args()


def support_labels(batch: int, shots: int, side: int) -> torch.Tensor:
    """A disc of foreground (about a quarter of the cells) ringed by ignored cells in each shot, as a VOC mask
    at feature resolution looks: (B, shots * side^2) labels."""
    y, x = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    radius = ((y - side / 2) ** 2 + (x - side / 2) ** 2).sqrt() / side
    grid = torch.full((side, side), BACKGROUND, dtype=torch.int64)
    grid[radius < 0.3] = IGNORE
    grid[radius < 0.28] = FOREGROUND
    return grid.flatten().repeat(batch, shots)


def make_case(case: str, args: argparse.Namespace) -> Callable[[], None]:
    """One forward + backward of ``case`` (variant/scope) on fixed seeded inputs."""
    variant, scope = case.split("/")
    torch.manual_seed(0)
    cfg = ModelConfig(dim=args.dim, heads=args.heads, blocks=args.blocks, k_fg=args.k_fg, k_bg=args.k_bg,
                      lsh_bits=args.bits, hamming_iters=args.iters, cross_attention=variant)
    transformer = QuerySupportTransformer(cfg).train()
    tokens = args.side * args.side
    query = torch.randn(args.batch, tokens, args.dim, requires_grad=True)
    supports = torch.randn(args.batch, args.shots * tokens, args.dim, requires_grad=True)
    labels = support_labels(args.batch, args.shots, args.side)
    parameters = list(transformer.query_cross.parameters())

    def step() -> None:
        if transformer.support_keys is None:
            keys, valid = all_support_tokens(supports, labels)
        else:
            keys, valid = transformer.support_keys(supports, labels)
        q = query
        for block in transformer.query_cross:
            if scope == "block":
                q = block(q, keys, valid=valid)
            else:
                q = q + block.attention(q, keys, keys, valid)
        q.square().mean().backward()
        for tensor in (query, supports, *parameters):
            tensor.grad = None

    return step


def worker(args: argparse.Namespace) -> None:
    """Peak RSS growth of one forward + backward, measured in this fresh process."""
    emit({"peak_bytes": peak_growth(make_case(args.worker, args))})


def main() -> None:
    args = parse_args()
    set_threads(args.threads)
    if args.worker:
        worker(args)
        return

    cases = {case: make_case(case, args) for case in CASES}
    seconds = time_interleaved(cases, warmup=args.warmup, repeats=args.repeats)
    script = BENCH_DIR / "bench_cross_attention.py"
    memory = {c: run_worker(script, [*sys.argv[1:], "--worker", c])["peak_bytes"] for c in CASES}

    tokens = args.side * args.side
    print(f"cross-attention fwd+bwd: B={args.batch}, query {tokens} tokens, support {args.shots * tokens} "
          f"tokens, d={args.dim}, heads={args.heads}, K={args.k_fg}+{args.k_bg}, {args.bits} bits, "
          f"{args.iters} Hamming iterations, {args.blocks} cross blocks, {torch.get_num_threads()} threads")
    rows = []
    for case in CASES:
        variant, scope = case.split("/")
        keys = args.k_fg + args.k_bg if variant == "prototype" else args.shots * tokens
        rows.append([variant, scope, keys, seconds[case], memory[case] / MIB])
    print_table(["variant", "scope", "keys", "median s", "peak MiB"], rows)

    def speedup(scope: str) -> float:
        return seconds[f"vanilla/{scope}"] / seconds[f"prototype/{scope}"]

    def memory_ratio(scope: str) -> float:
        return memory[f"prototype/{scope}"] / max(memory[f"vanilla/{scope}"], 1)

    peaks = "peak prototype / vanilla"
    print(ratio_line("prototype_vs_vanilla_block_memory", memory_ratio("block"), "<", 1.0, peaks))
    print(ratio_line("prototype_vs_vanilla_memory", memory_ratio("attention"), "<", 1.0, peaks))
    print(ratio_line("prototype_vs_vanilla_block_speedup", speedup("block"), ">=", 5.0,
                     "whole blocks, MLP included"))
    print(ratio_line("prototype_vs_vanilla_speedup", speedup("attention"), ">=", 5.0,
                     "attention layers + keys"))


if __name__ == "__main__":
    main()
