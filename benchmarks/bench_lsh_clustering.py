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
from umtfss.model.prototypes import SEED_ROUNDS, hamming_kmeans, sign_codes


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


def lsh_sets(tokens: torch.Tensor, labels: torch.Tensor, projection: torch.Tensor, k_fg: int,
             k_bg: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Codes, members and cluster counts of the 2B sets, as :func:`group_prototypes` builds them."""
    b, n, _ = tokens.shape
    members = torch.stack([labels == FOREGROUND, labels == BACKGROUND], dim=1).flatten(0, 1)
    clusters = torch.minimum(torch.tensor([k_fg, k_bg]).repeat(b), members.sum(1)).clamp(min=1)
    codes = sign_codes(tokens, projection)
    return codes[:, None].expand(b, 2, n, codes.shape[-1]).flatten(0, 1), members, clusters


def lsh_clustering(tokens: torch.Tensor, labels: torch.Tensor, projection: torch.Tensor, k_fg: int, k_bg: int,
                   iterations: int, seed_rounds: int = SEED_ROUNDS) -> torch.Tensor:
    """The model's grouping minus the prototype means: codes, then Hamming k-means of the 2B sets."""
    codes, members, clusters = lsh_sets(tokens, labels, projection, k_fg, k_bg)
    return hamming_kmeans(codes, members, clusters, iterations, seed_rounds)


def hamming_cost(codes: torch.Tensor, members: torch.Tensor, index: torch.Tensor) -> int:
    """Sum over all sets of each member's Hamming distance to its cluster's majority code."""
    bits, cost = codes.shape[-1], 0
    for set_codes, set_members, set_index in zip(codes, members, index, strict=True):
        own, assigned = set_codes[set_members], set_index[set_members]
        votes = torch.zeros(int(index.max()) + 1, bits).index_add_(0, assigned, own)
        majority = torch.where(votes >= 0, 1.0, -1.0)
        cost += int(((bits - (own * majority[assigned]).sum(1)) / 2).sum())
    return cost


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
    sequential = max(k_fg, k_bg)  # rounds >= clusters - 1: one pick per round, the classic seeding
    with torch.no_grad():
        seconds = time_interleaved({
            "lsh_hamming": lambda: lsh_clustering(tokens, labels, projection, k_fg, k_bg, iters),
            "lsh_sequential_seeding": lambda: lsh_clustering(tokens, labels, projection, k_fg, k_bg, iters,
                                                             sequential),
            "lloyd_farthest": lambda: lloyd_clustering(tokens, labels, k_fg, k_bg, iters, "farthest"),
            "lloyd_random": lambda: lloyd_clustering(tokens, labels, k_fg, k_bg, iters, "random"),
        }, warmup=args.warmup, repeats=args.repeats)

        codes, members, _ = lsh_sets(tokens, labels, projection, k_fg, k_bg)
        cost = {rounds: hamming_cost(codes, members, lsh_clustering(tokens, labels, projection, k_fg, k_bg,
                                                                    iters, rounds))
                for rounds in (SEED_ROUNDS, sequential)}

    fg = int((labels == FOREGROUND).sum()) // args.batch
    bg = int((labels == BACKGROUND).sum()) // args.batch
    print(f"clustering {args.batch} episode(s) of {n} support tokens ({fg} fg, {bg} bg), d={args.dim}, "
          f"K={k_fg}+{k_bg}, {iters} iterations, {torch.get_num_threads()} threads")
    print_table(["side", "space", "seeding", "median s", "Hamming cost"], [
        ["lsh_hamming", f"{args.bits}-bit codes", f"farthest point, {SEED_ROUNDS} rounds", seconds["lsh_hamming"],
         cost[SEED_ROUNDS]],
        ["lsh_sequential_seeding", f"{args.bits}-bit codes", "farthest point, one pick per round",
         seconds["lsh_sequential_seeding"], cost[sequential]],
        ["lloyd_farthest", f"float{args.dim}", "farthest point", seconds["lloyd_farthest"], "-"],
        ["lloyd_random", f"float{args.dim}", "random sample", seconds["lloyd_random"], "-"],
    ])
    print(ratio_line("lsh_rounds_vs_sequential_seeding_cost", cost[SEED_ROUNDS] / max(1, cost[sequential]), "<=",
                     1.01, "within-cluster Hamming cost after the iterations; seedings of 3-12 rounds "
                     "measured within +-1% of it either way"))
    print(ratio_line("lsh_vs_lloyd_random_seeding_speedup", seconds["lloyd_random"] / seconds["lsh_hamming"],
                     ">=", 3.0))
    print(ratio_line("lsh_vs_lloyd_speedup", seconds["lloyd_farthest"] / seconds["lsh_hamming"], ">=", 3.0,
                     "same seeding"))


if __name__ == "__main__":
    main()
