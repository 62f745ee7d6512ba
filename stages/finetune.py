"""finetune: train on a labeled fraction of one fold's base classes, then score on the fold's novel classes.

``python -m stages.finetune --fold F --fraction P --init pretrained|scratch`` (one item of dvc.yaml's matrix):
starts from ``models/pretrain.pt`` or from a fresh model, trains on labeled episodes of the base classes drawn
from the images of ``data/fractions/train_<P>.txt``, writes ``models/finetune/<name>.pt`` and the episodic
scores of ``params.evaluate`` on the novel classes to ``metrics/finetune/<name>.json``.

Resumes from ``checkpoints/finetune/<name>/`` after a kill; data-parallel under ``torchrun``.
"""

from __future__ import annotations

import argparse
import math

from pipeline import paths
from pipeline.entry import run_stage
from pipeline.params import Params
from umtfss.backbones.files import weights_inputs
from umtfss.data.episodes import LabeledEpisodes
from umtfss.data.fractions import read_fraction
from umtfss.data.manifest import base_classes, read_manifest
from umtfss.evaluation.protocol import evaluate_checkpoint
from umtfss.model import FewShotSegmenter
from umtfss.training.checkpoint import load_model, save_model
from umtfss.training.distributed import is_main_process
from umtfss.training.loop import train
from umtfss.training.state import clear_states, content_hash, seed_everything


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m stages.finetune", description=__doc__.splitlines()[0])
    parser.add_argument("--fold", type=int, required=True, choices=range(4), help="held-out fold")
    parser.add_argument("--fraction", type=int, required=True, help="labeled fraction, percent")
    parser.add_argument("--init", choices=("pretrained", "scratch"), required=True)
    return parser.parse_args()


def main(params: Params) -> None:
    args = _arguments()
    name = paths.finetune_name(args.fold, args.fraction, args.init)
    cfg = params.finetune.train
    manifest, info = read_manifest(paths.MANIFEST)
    image_ids = read_fraction(paths.FRACTIONS, args.fraction)
    episodes = LabeledEpisodes(
        manifest,
        image_ids=image_ids,
        classes=base_classes(info, args.fold),
        shots=cfg.shots,
        crop_size=cfg.crop_size,
        augment=cfg.augment,
        seed=cfg.seed,
    )
    if params.finetune.epochs is not None:  # an epoch: every image of the fraction once as a query
        cfg = cfg.model_copy(
            update={"steps": params.finetune.epochs * math.ceil(len(image_ids) / cfg.batch_size)}
        )

    # The manifest hashes every image; the backbone's weights are what a scratch model starts from.
    inputs = [paths.MANIFEST, paths.fraction_list(args.fraction), *weights_inputs(params.model.backbone)]
    if args.init == "pretrained":
        model, _ = load_model(paths.PRETRAINED, expected=params.model)
        inputs.append(paths.PRETRAINED)
    else:
        seed_everything(cfg.seed)  # the model's random init
        model = FewShotSegmenter(params.model)
    identity = {
        "model": params.model.model_dump(mode="json"),
        "fold": args.fold,
        "fraction": args.fraction,
        "init": args.init,
        "inputs": content_hash(inputs),
    }
    state_dir = paths.FINETUNE_CHECKPOINTS / name
    train(model, episodes, cfg, state_dir=state_dir, identity=identity)
    if not is_main_process():
        return

    checkpoint = paths.finetuned_model(args.fold, args.fraction, args.init)
    meta = {
        "stage": "finetune",
        "step": cfg.steps,
        "fold": args.fold,
        "fraction": args.fraction,
        "init": args.init,
        "params": {
            "model": params.model.model_dump(mode="json"),
            "finetune": params.finetune.model_dump(mode="json"),
        },
    }
    save_model(checkpoint, model, params.model, meta)
    score = params.evaluate.model_copy(update=params.finetune.score.model_dump(exclude_none=True))
    evaluate_checkpoint(
        checkpoint,
        params.model,
        score,
        folds=[args.fold],
        out=paths.finetune_metrics(args.fold, args.fraction, args.init),
        manifest_path=paths.MANIFEST,
    )
    clear_states(state_dir)  # model and scores are written: the states served their purpose


if __name__ == "__main__":
    run_stage(main)
