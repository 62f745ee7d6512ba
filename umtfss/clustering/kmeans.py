"""k-means of dense features: cuML on a GPU, scikit-learn on the CPU, behind one function.

The CPU engine is scikit-learn's Lloyd k-means because it measured fastest at equal inertia against faiss
(with its 256-points-per-centroid subsampling lifted) and a torch Lloyd loop, on 1 and 2 threads
(``benchmarks/bench_kmeans_engines.py``).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Literal

import numpy as np
from sklearn.cluster import KMeans

from umtfss.errors import InputError, UmtfssError
from umtfss.features.store import open_group

log = logging.getLogger(__name__)

Engine = Literal["auto", "cuml", "cpu"]
# Points per distance block. Small enough that a block converted to float32 (4096 x 128 x 4 B = 2 MiB) is still
# in cache for its matmul: 206k float16 points x 128 took 0.052 s against 0.073 s in blocks of 65536.
_ASSIGN_BLOCK = 4096


@dataclass(frozen=True)
class KMeansResult:
    centroids: np.ndarray  # float32 (k, C)
    inertia: float  # sum of squared distances of the points to their nearest centroid
    engine: str  # "cuml" or "cpu"
    n_iter: int


def nearest_centroid(points: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the nearest centroid of each row of ``points`` (float32 math), int64 (n,).

    argmin ||x - c||^2 = argmin (||c||^2 - 2 x.c): the ||x||^2 term is the same for every centroid.
    """
    centroids = np.asarray(centroids, dtype=np.float32)
    c_sq = np.einsum("kc,kc->k", centroids, centroids)
    out = np.empty(len(points), dtype=np.int64)
    for start in range(0, len(points), _ASSIGN_BLOCK):
        block = np.asarray(points[start:start + _ASSIGN_BLOCK], dtype=np.float32)
        out[start:start + len(block)] = np.argmin(c_sq[None, :] - 2.0 * (block @ centroids.T), axis=1)
    return out


def inertia(points: np.ndarray, centroids: np.ndarray) -> float:
    """Sum of squared distances of ``points`` to their nearest centroid (float64 accumulation)."""
    labels = nearest_centroid(points, centroids)
    total = 0.0
    for start in range(0, len(points), _ASSIGN_BLOCK):
        block = np.asarray(points[start:start + _ASSIGN_BLOCK], dtype=np.float32)
        diff = block - centroids[labels[start:start + len(block)]]
        total += float(np.einsum("nc,nc->", diff, diff, dtype=np.float64))
    return total


def random_init(points: np.ndarray, n_clusters: int, seed: int) -> np.ndarray:
    """``n_clusters`` distinct points drawn with ``seed``: the initial centroids of every CPU run."""
    rng = np.random.default_rng(seed)
    return np.ascontiguousarray(points[np.sort(rng.choice(len(points), n_clusters, replace=False))],
                                dtype=np.float32)


def _fit_cpu(points: np.ndarray, n_clusters: int, *, max_iter: int, n_init: int, seed: int) -> KMeansResult:
    best: KMeansResult | None = None
    for run in range(n_init):  # our own restarts: scikit-learn takes one run per explicit init
        # tol=0 stops only when no label changes (or at max_iter); it also measured faster than the default
        # tolerance, whose per-iteration centre-shift check costs more than it saves here.
        km = KMeans(n_clusters, init=random_init(points, n_clusters, seed + run), n_init=1, max_iter=max_iter,
                    tol=0.0, algorithm="lloyd").fit(points)
        result = KMeansResult(km.cluster_centers_.astype(np.float32), float(km.inertia_), "cpu", int(km.n_iter_))
        if best is None or result.inertia < best.inertia:
            best = result
    assert best is not None
    return best


def cuml_unusable() -> str | None:
    """Why cuML cannot fit here (None when it can): it may import without a GPU and fail only at ``fit``,
    so a tiny fit is the probe."""
    try:
        from cuml.cluster import KMeans as CuKMeans

        CuKMeans(n_clusters=2, max_iter=2, output_type="numpy").fit(
            np.arange(16, dtype=np.float32).reshape(8, 2))
    except Exception as exc:  # ImportError, CUDA runtime errors, driver errors: all mean "not here"
        return f"{type(exc).__name__}: {exc}".strip()
    return None


def _fit_cuml(points: np.ndarray, n_clusters: int, *, max_iter: int, n_init: int, seed: int) -> KMeansResult:
    from cuml.cluster import KMeans as CuKMeans

    km = CuKMeans(n_clusters=n_clusters, max_iter=max_iter, n_init=n_init, random_state=seed, tol=0.0,
                  output_type="numpy").fit(points)
    return KMeansResult(np.asarray(km.cluster_centers_, dtype=np.float32), float(km.inertia_), "cuml",
                        int(km.n_iter_))


def fit_kmeans(points: np.ndarray, n_clusters: int, *, max_iter: int, n_init: int, seed: int,
               engine: Engine = "auto") -> KMeansResult:
    """Euclidean k-means of float32 ``points`` (n, C), the best of ``n_init`` seeded runs.

    ``auto`` uses cuML when a tiny probe fit succeeds and falls back to the CPU (scikit-learn) otherwise, logging
    why; ``cuml`` fails with the probe's reason instead of falling back.
    """
    points = np.ascontiguousarray(points, dtype=np.float32)
    if points.ndim != 2 or len(points) < n_clusters:
        raise InputError(f"k-means needs at least n_clusters={n_clusters} points of shape (n, C), got "
                         f"{points.shape}")
    if engine in ("auto", "cuml"):
        reason = cuml_unusable()
        if reason is None:
            return _fit_cuml(points, n_clusters, max_iter=max_iter, n_init=n_init, seed=seed)
        if engine == "cuml":
            raise UmtfssError(f"cluster.engine is 'cuml' but cuML cannot fit here ({reason}); use 'auto' or 'cpu'")
        log.info("k-means engine auto: cuML unusable (%s); using the CPU engine (scikit-learn)", reason)
    return _fit_cpu(points, n_clusters, max_iter=max_iter, n_init=n_init, seed=seed)


def sample_points(features_store: str | os.PathLike[str], n_images: int, seed: int) -> np.ndarray:
    """float32 (n, C) valid cells of ``n_images`` images of the store drawn with ``seed``.

    Only the drawn images are read, one inner chunk at a time, into one preallocated array: the sample costs
    its own size, not the store's. (Zarr's ``oindex`` over many rows of a sharded array measured ~50x the
    bytes it returns in transient memory, and slower than these single-chunk reads.)
    """
    group = open_group(features_store, what="features")
    try:
        features, valid = group["features"], group["valid"]
    except KeyError as exc:
        raise InputError(f"features store {features_store} lacks array {exc}") from None
    n_total = features.shape[0]
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(n_total, min(n_images, n_total), replace=False)).tolist()
    masks = [valid[row] for row in rows]
    points = np.empty((sum(int(mask.sum()) for mask in masks), features.shape[-1]), np.float32)
    filled = 0
    for row, mask in zip(rows, masks, strict=True):
        cells = features[row][mask]
        points[filled:filled + len(cells)] = cells
        filled += len(cells)
    return points
