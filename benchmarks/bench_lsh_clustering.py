"""Hamming LSH clustering (the model's) vs float Lloyd k-means on the same tokens, equal K and iterations.

LSH side: :func:`umtfss.model.prototypes.sign_codes` + :func:`hamming_kmeans`, called exactly as
:func:`group_prototypes` calls them (foreground and background of each episode as ``2B`` padded sets).
Lloyd side: a plain torch k-means in float space on each set's own tokens (cdist / argmin / scatter-mean),
the same K, the same number of iterations and a final assignment, seeded two ways: farthest-point seeding
(the LSH side's seeding, in float space: the two sides then differ only in the space they cluster in) and
a random sample of the members (the cheapest seeding). Time: median of interleaved repeats, no autograd.

    python benchmarks/bench_lsh_clustering.py       # 60x60 tokens, d=256, K=50+100, 64 bits, 10 iterations
    python benchmarks/bench_lsh_clustering.py --side 12 --dim 32 --k-fg 4 --k-bg 8
"""

from __future__ import annotations

import argparse

import torch

from _common import print_table, ratio_line, set_threads, time_interleaved
from bench_cross_attention import support_labels
from umtfss.model.masks import BACKGROUND, FOREGROUND
from umtfss.model.prototypes import hamming_kmeans, sign_codes


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--side", type=int, default=60, help="token grid side (60: 3600 a shot)")
    parser.add_argument("--shots", type=int, default=1)
    parser.add_argument("--batch", type=int, default=1, help="episodes")
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--k-fg", type=int, default=50)
    parser.add_argument("--k-bg", type=int, default=100)
    parser.add_argument("--bits", type=int, default=64)
    parser.add_argument("--iters", type=int, default=10, help="k-means iterations, both sides")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None)
    return parser.parse_args()


def clustered_tokens(batch: int, n: int, dim: int, centres: int) -> torch.Tensor:
    """Support-like tokens: a mixture of ``centres`` Gaussian blobs, so both sides have structure to find."""
    generator = torch.Generator().manual_seed(0)
    means = torch.randn(centres, dim, generator=generator)
    pick = torch.randint(centres, (batch, n), generator=generator)
    return means[pick] + 0.5 * torch.randn(batch, n, dim, generator=generator)


def lsh_clustering(tokens: torch.Tensor, labels: torch.Tensor, projection: torch.Tensor, k_fg: int, k_bg: int,
                   iterations: int) -> torch.Tensor:
    """The model's grouping minus the prototype means: codes, then Hamming k-means of the 2B sets."""
    b, n, _ = tokens.shape
    members = torch.stack([labels == FOREGROUND, labels == BACKGROUND], dim=1).flatten(0, 1)
    clusters = torch.minimum(torch.tensor([k_fg, k_bg]).repeat(b), members.sum(1)).clamp(min=1)
    codes = sign_codes(tokens, projection)
    codes = codes[:, None].expand(b, 2, n, codes.shape[-1]).flatten(0, 1)
    return hamming_kmeans(codes, members, clusters, iterations)


def farthest_point_seeds(points: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of ``k`` seeds: the first point, then repeatedly the point farthest from all chosen ones."""
    chosen = [0]
    distance = torch.full((points.shape[0],), torch.inf)
    for _ in range(k - 1):
        distance = torch.minimum(distance, (points - points[chosen[-1]]).square().sum(1))
        chosen.append(int(distance.argmax()))
    return torch.tensor(chosen)


def lloyd(points: torch.Tensor, k: int, iterations: int, seeds: torch.Tensor) -> torch.Tensor:
    """Plain float k-means: cdist/argmin assignment, scatter-mean update (an empty cluster stays put)."""
    centroids = points[seeds].clone()
    for _ in range(iterations):
        index = torch.cdist(points, centroids).argmin(1)
        sums = torch.zeros_like(centroids).index_add_(0, index, points)
        counts = torch.bincount(index, minlength=k).to(points.dtype)[:, None]
        centroids = torch.where(counts > 0, sums / counts.clamp(min=1), centroids)
    return torch.cdist(points, centroids).argmin(1)


def lloyd_clustering(tokens: torch.Tensor, labels: torch.Tensor, k_fg: int, k_bg: int, iterations: int,
                     seeding: str) -> list[torch.Tensor]:
    """Lloyd k-means of each episode's foreground and background tokens, each on its own members."""
    generator = torch.Generator().manual_seed(0)
    out = []
    for episode, episode_labels in zip(tokens, labels, strict=True):
        for kind, k in ((FOREGROUND, k_fg), (BACKGROUND, k_bg)):
            points = episode[episode_labels == kind]
            k = min(k, points.shape[0])
            if seeding == "farthest":
                seeds = farthest_point_seeds(points, k)
            else:
                seeds = torch.randperm(points.shape[0], generator=generator)[:k]
            out.append(lloyd(points, k, iterations, seeds))
    return out


def main() -> None:
    args = parse_args()
    set_threads(args.threads)
    n = args.shots * args.side * args.side
    tokens = clustered_tokens(args.batch, n, args.dim, centres=2 * (args.k_fg + args.k_bg))
    labels = support_labels(args.batch, args.shots, args.side)
    projection = torch.randn(args.dim, args.bits, generator=torch.Generator().manual_seed(0))
    k_fg, k_bg, iters = args.k_fg, args.k_bg, args.iters
    with torch.no_grad():
        seconds = time_interleaved({
            "lsh_hamming": lambda: lsh_clustering(tokens, labels, projection, k_fg, k_bg, iters),
            "lloyd_farthest": lambda: lloyd_clustering(tokens, labels, k_fg, k_bg, iters, "farthest"),
            "lloyd_random": lambda: lloyd_clustering(tokens, labels, k_fg, k_bg, iters, "random"),
        }, warmup=args.warmup, repeats=args.repeats)

    fg = int((labels == FOREGROUND).sum()) // args.batch
    bg = int((labels == BACKGROUND).sum()) // args.batch
    print(f"clustering {args.batch} episode(s) of {n} support tokens ({fg} fg, {bg} bg), d={args.dim}, "
          f"K={k_fg}+{k_bg}, {iters} iterations, {torch.get_num_threads()} threads")
    print_table(["side", "space", "seeding", "median s"], [
        ["lsh_hamming", f"{args.bits}-bit codes", "farthest point", seconds["lsh_hamming"]],
        ["lloyd_farthest", f"float{args.dim}", "farthest point", seconds["lloyd_farthest"]],
        ["lloyd_random", f"float{args.dim}", "random sample", seconds["lloyd_random"]],
    ])
    print(ratio_line("lsh_vs_lloyd_random_seeding_speedup", seconds["lloyd_random"] / seconds["lsh_hamming"],
                     ">=", 3.0))
    print(ratio_line("lsh_vs_lloyd_speedup", seconds["lloyd_farthest"] / seconds["lsh_hamming"], ">=", 3.0,
                     "same seeding"))


if __name__ == "__main__":
    main()
