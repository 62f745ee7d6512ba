"""Multi-GPU k-means with cuML's Dask estimator, for feature samples too large for one GPU.

Not used by the `cluster` stage and untested here (no GPU in CI): the entry point for running the same fit
on a dask-cuda cluster, see docs/scaling.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from umtfss.clustering.kmeans import KMeansResult

if TYPE_CHECKING:
    import dask.array as da
    from dask.distributed import Client


def fit_kmeans_dask(client: Client, points: da.Array, n_clusters: int, *, max_iter: int, seed: int) -> KMeansResult:
    """k-means of a Dask array of float32 points (n, C), one partition per GPU worker of ``client``.

    Blocks may be NumPy or CuPy; cuML moves them to the workers' GPUs. Only the centroids travel between
    workers each iteration.
    """
    from cuml.dask.cluster import KMeans

    km = KMeans(client=client, n_clusters=n_clusters, max_iter=max_iter, random_state=seed,
                init="scalable-k-means++")
    km.fit(points)
    centroids = km.cluster_centers_
    centroids = centroids.get() if hasattr(centroids, "get") else np.asarray(centroids)  # CuPy -> NumPy
    # score() is the k-means objective with scikit-learn's sign convention (negative); its size is the inertia
    return KMeansResult(centroids.astype(np.float32), abs(float(km.score(points))), "cuml-dask",
                        int(getattr(km, "n_iter_", max_iter)))
