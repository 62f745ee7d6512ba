"""Stage `prepare`: the dataset (generated or scanned), the image manifest and the labeled fractions."""

from __future__ import annotations

import logging

from pipeline import paths
from pipeline.entry import run, stage_command
from pipeline.params import Params
from umtfss.data.datasets import prepare_dataset
from umtfss.data.fractions import write_fractions
from umtfss.data.manifest import write_manifest
from umtfss.io import remove_stale_partials

log = logging.getLogger(__name__)


def main(params: Params) -> None:
    cfg = params.prepare
    remove_stale_partials(paths.DATA)
    frame, info = prepare_dataset(cfg, paths.DATASET)
    write_manifest(frame, info, paths.MANIFEST)
    counts = write_fractions(paths.MANIFEST, paths.FRACTIONS, cfg.fractions.percents, cfg.fractions.seed)
    log.info("prepared %s: %s images (%s), %d classes; labeled fractions %s", info.name, len(frame),
             frame["split"].value_counts().to_dict(), info.n_classes, counts)


cli = stage_command(main, __doc__)

if __name__ == "__main__":
    run(cli)
