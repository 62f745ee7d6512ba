"""k-means on the CPU: faiss vs scikit-learn vs a torch Lloyd loop, and the engine `fit_kmeans` uses.

Every engine starts from the same centroids (`random_init`) on the same points and runs Lloyd iterations
(faiss with its 256-points-per-centroid subsampling lifted, scikit-learn `lloyd` with tol=0); inertia is
computed by one function for all of them. Prints a table, then two ratio lines: the `cpu` engine's time over
the fastest engine's (target <= 1.2) and its inertia over the best inertia (target <= 1.01).

    python benchmarks/bench_kmeans_engines.py                       # 200k x 256, k = 50, 1 thread
    python benchmarks/bench_kmeans_engines.py --points 2000 --dim 16 --k 5 --iters 3 --repeats 1
"""

from __future__ import annotations

import argparse

import faiss
import numpy as np
import torch
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

from _common import print_table, ratio_line, time_interleaved
from umtfss.clustering.kmeans import fit_kmeans, inertia, random_init


def make_points(n: int, dim: int, k: int, seed: int = 0) -> np.ndarray:
    """Unit vectors around ``k`` random directions, noisy enough that Lloyd needs its iterations."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((k, dim), dtype=np.float32)
    points = centres[rng.integers(0, k, n)] + 1.5 * rng.standard_normal((n, dim), dtype=np.float32)
    return points / np.linalg.norm(points, axis=1, keepdims=True)


def run_faiss(points: np.ndarray, init: np.ndarray, iters: int) -> np.ndarray:
    km = faiss.Kmeans(points.shape[1], len(init), niter=iters, verbose=False,
                      max_points_per_centroid=len(points), min_points_per_centroid=1)
    km.train(points, init_centroids=init)
    return km.centroids


def run_sklearn(points: np.ndarray, init: np.ndarray, iters: int) -> np.ndarray:
    return KMeans(len(init), init=init, n_init=1, max_iter=iters, tol=0.0, algorithm="lloyd").fit(
        points).cluster_centers_.astype(np.float32)


def run_torch(points: np.ndarray, init: np.ndarray, iters: int) -> np.ndarray:
    x = torch.from_numpy(points)
    centroids = torch.from_numpy(init.copy())
    for _ in range(iters):
        c_sq = (centroids * centroids).sum(1)
        labels = torch.addmm(c_sq, x, centroids.T, alpha=-2.0).argmin(1)
        sums = torch.zeros_like(centroids).index_add_(0, labels, x)
        counts = torch.bincount(labels, minlength=len(centroids))
        keep = counts > 0  # an empty cluster keeps its centroid
        centroids[keep] = sums[keep] / counts[keep, None].float()
    return centroids.numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="threads of every engine (equal footing)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved timed runs per engine (median)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    faiss.omp_set_num_threads(args.threads)

    points = make_points(args.points, args.dim, args.k)
    init = random_init(points, args.k, seed=0)
    engines = {
        "faiss": lambda: run_faiss(points, init, args.iters),
        "sklearn": lambda: run_sklearn(points, init, args.iters),
        "torch": lambda: run_torch(points, init, args.iters),
        "fit_kmeans(cpu)": lambda: fit_kmeans(points, args.k, max_iter=args.iters, n_init=1, seed=0,
                                              engine="cpu").centroids,
    }
    with threadpool_limits(args.threads):
        seconds = time_interleaved(engines, warmup=0, repeats=args.repeats)
        results = {name: (seconds[name], inertia(points, run())) for name, run in engines.items()}
    print(f"{args.points} points x {args.dim} dims, k={args.k}, {args.iters} iterations, {args.threads} thread(s), "
          f"median of {args.repeats}")
    print_table(["engine", "seconds", "inertia"], [[name, t, i] for name, (t, i) in results.items()])
    cpu_time, cpu_inertia = results.pop("fit_kmeans(cpu)")
    fastest = min(t for t, _ in results.values())
    best = min(i for _, i in results.values())
    print(ratio_line("cpu_engine_vs_fastest_time", cpu_time / fastest, "<=", 1.2))
    print(ratio_line("cpu_engine_vs_best_inertia", cpu_inertia / best, "<=", 1.01))


if __name__ == "__main__":
    main()
