"""Stage `cluster`: k-means of the valid feature cells of a seeded subset of images -> centroids."""

from __future__ import annotations

import json
import logging
import time

import numpy as np

from pipeline import paths
from pipeline.entry import run, stage_command
from pipeline.params import Params
from umtfss.clustering.kmeans import fit_kmeans, nearest_centroid, sample_points
from umtfss.io import atomic_output

log = logging.getLogger(__name__)


def main(params: Params) -> None:
    cfg = params.cluster
    start = time.perf_counter()
    points = sample_points(paths.FEATURES, cfg.subset_images, cfg.seed)
    result = fit_kmeans(points, cfg.n_clusters, max_iter=cfg.max_iter, n_init=cfg.n_init, seed=cfg.seed,
                        engine=cfg.engine)
    sizes = np.bincount(nearest_centroid(points, result.centroids), minlength=cfg.n_clusters)
    seconds = time.perf_counter() - start
    with atomic_output(paths.CENTROIDS) as tmp, tmp.open("wb") as f:
        np.save(f, result.centroids)
    metrics = {"engine": result.engine, "inertia": result.inertia, "n_points": len(points),
               "n_iter": result.n_iter, "seconds": round(seconds, 3), "cluster_sizes": sizes.tolist()}
    with atomic_output(paths.CLUSTER_METRICS) as tmp:
        tmp.write_text(json.dumps(metrics, indent=2) + "\n")
    log.info("k-means (%s) of %d points into %d clusters: inertia %.4g, %d iterations, %.1f s", result.engine,
             len(points), cfg.n_clusters, result.inertia, result.n_iter, seconds)


cli = stage_command(main, __doc__)

if __name__ == "__main__":
    run(cli)
