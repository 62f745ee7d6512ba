"""Stage `extract`: dense, L2-normalised backbone features of the unlabeled pool into a sharded Zarr store."""

from __future__ import annotations

from pipeline import paths
from pipeline.entry import run, stage_command
from pipeline.params import Params
from umtfss.data.manifest import read_manifest
from umtfss.features.extract import extract_features
from umtfss.io import remove_stale_partials


def main(params: Params) -> None:
    cfg = params.extract
    frame, _ = read_manifest(paths.MANIFEST)
    pool = frame if cfg.pool == "all" else frame[frame["split"] == "train"]
    remove_stale_partials(paths.ARTIFACTS)
    extract_features(list(pool["image_path"]), list(pool["image_id"]), paths.FEATURES, cfg)


cli = stage_command(main, __doc__)

if __name__ == "__main__":
    run(cli)
