"""Stage `episodes`: the region table and support candidates that pseudo episodes are drawn from.

The code is :mod:`umtfss.episodes` (``regions``, ``candidates``, ``plots``), where the sampler that draws
episodes from these tables (``pseudo``) lives too.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pyarrow.parquet as pq

from pipeline import paths
from pipeline.entry import run, stage_command
from pipeline.params import Params
from umtfss.data.manifest import read_manifest
from umtfss.episodes.candidates import write_candidates
from umtfss.episodes.plots import cluster_grid
from umtfss.episodes.regions import write_regions
from umtfss.io import atomic_output

log = logging.getLogger(__name__)


def main(params: Params) -> None:
    cfg = params.episodes
    manifest, _ = read_manifest(paths.MANIFEST)
    with atomic_output(paths.REGIONS) as tmp:
        write_regions(paths.FEATURES, paths.LABELS, manifest, tmp, min_area=cfg.min_area,
                      max_extent=cfg.max_extent)
    with atomic_output(paths.CANDIDATES) as tmp:
        n_candidates, n_with_candidates = write_candidates(paths.REGIONS, tmp, top_fraction=cfg.top_fraction,
                                                           max_candidates=cfg.max_candidates,
                                                           comparison_pool=cfg.comparison_pool)

    regions = pq.read_table(paths.REGIONS, columns=["cluster", "image_index", "image_id", "area"])
    per_cluster = np.bincount(regions.column("cluster").to_numpy().astype(np.int64))
    metrics = {
        "n_regions": len(regions),
        "n_clusters_with_regions": int((per_cluster > 0).sum()),
        "regions_per_cluster_median": float(np.median(per_cluster[per_cluster > 0])) if len(regions) else 0.0,
        "n_regions_with_candidates": n_with_candidates,
        "mean_candidates": round(n_candidates / len(regions), 2) if len(regions) else 0.0,
    }
    with atomic_output(paths.EPISODES_METRICS) as tmp:
        tmp.write_text(json.dumps(metrics, indent=2))
    with atomic_output(paths.CLUSTERS_PLOT) as tmp:
        cluster_grid(regions, paths.LABELS, manifest, tmp, n_clusters=cfg.plot_clusters)
    log.info("episodes: %s", metrics)


cli = stage_command(main, __doc__)

if __name__ == "__main__":
    run(cli)
