"""Stage `assign`: nearest-centroid label of every feature cell (optionally superpixel-smoothed) + quality."""

from __future__ import annotations

import json
import logging
import time

import numpy as np
import pandas as pd

from pipeline import paths
from pipeline.entry import run, stage_command
from pipeline.params import Params
from umtfss.clustering.assign import assign_labels
from umtfss.clustering.quality import cluster_quality
from umtfss.data.manifest import read_manifest
from umtfss.errors import InputError
from umtfss.features.store import open_group
from umtfss.io import atomic_output, remove_stale_partials

log = logging.getLogger(__name__)


def _load_centroids() -> np.ndarray:
    try:
        return np.load(paths.CENTROIDS)
    except (OSError, ValueError) as exc:
        raise InputError(f"centroids {paths.CENTROIDS} unreadable (run the `cluster` stage first): {exc}") from None


def main(params: Params) -> None:
    cfg = params.assign
    frame, _ = read_manifest(paths.MANIFEST)
    image_ids = list(open_group(paths.FEATURES, what="features").attrs["image_ids"])
    by_id = frame.set_index("image_id")
    missing = sorted(set(image_ids) - set(by_id.index))
    if missing:
        raise InputError(f"{paths.FEATURES} holds images not in {paths.MANIFEST}: {missing[:5]}")
    remove_stale_partials(paths.ARTIFACTS)
    start = time.perf_counter()
    assign_labels(paths.FEATURES, _load_centroids(), paths.LABELS, scheduler=cfg.scheduler,
                  n_workers=cfg.n_workers, superpixels=cfg.felzenszwalb if cfg.superpixels == "felzenszwalb" else None,
                  images=list(by_id.loc[image_ids, "image_path"]))
    labeled = frame[(frame["split"] == "train") & ~pd.isna(frame["mask_path"])]
    quality = cluster_quality(paths.LABELS, dict(zip(labeled["image_id"], labeled["mask_path"], strict=True)))
    seconds = time.perf_counter() - start
    metrics = {"purity": round(quality.purity, 4), "nmi": round(quality.nmi, 4), "seconds": round(seconds, 3),
               "n_images": quality.n_images}
    with atomic_output(paths.ASSIGN_METRICS) as tmp:
        tmp.write_text(json.dumps(metrics, indent=2) + "\n")
    log.info("labels of %d images (superpixels: %s): purity %.3f, NMI %.3f over %d labeled images, %.1f s",
             len(image_ids), cfg.superpixels, quality.purity, quality.nmi, quality.n_images, seconds)


cli = stage_command(main, __doc__)

if __name__ == "__main__":
    run(cli)
