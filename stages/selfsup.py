"""Stage `selfsup`: train the backbone self-supervised on the unlabeled pool (no labels are read).

Writes ``models/backbone.pt`` (a torchvision state dict) that `extract` and the few-shot model load, and
dvclive curves in ``dvclive/selfsup``. ``selfsup.steps: 0`` writes the initial backbone unchanged: the
seeded random init, or ``selfsup.backbone.weights`` (e.g. a downloaded MoCo-v2 checkpoint) as it is.
Resumes from ``checkpoints/selfsup/`` after a kill (same params and images).
"""

from __future__ import annotations

import logging
import time

from dvclive import Live

from pipeline import paths
from pipeline.entry import run, stage_command
from pipeline.params import Params
from umtfss.backbones.files import weights_inputs
from umtfss.data.manifest import read_manifest
from umtfss.selfsup.train import train_backbone
from umtfss.training.state import clear_states, content_hash

log = logging.getLogger("stages.selfsup")


def main(params: Params) -> None:
    cfg = params.selfsup
    frame, _ = read_manifest(paths.MANIFEST)
    pool = frame if cfg.pool == "all" else frame[frame["split"] == "train"]
    start = time.perf_counter()
    live = Live(str(paths.SELFSUP_LIVE), resume=True, save_dvc_exp=False, dvcyaml=None)
    identity = {"inputs": content_hash([*paths.STAGE_INPUTS["selfsup"], *weights_inputs(cfg.backbone)])}
    train_backbone(list(pool["image_path"]), cfg, paths.BACKBONE, state_dir=paths.SELFSUP_CHECKPOINTS,
                   live=live, identity=identity)
    live.end()
    clear_states(paths.SELFSUP_CHECKPOINTS)  # the backbone is written: the states served their purpose
    log.info("backbone trained for %d steps in %.1f s: %s", cfg.steps, time.perf_counter() - start,
             paths.BACKBONE)


cli = stage_command(main, __doc__)

if __name__ == "__main__":
    run(cli)
