"""finetune: train on a labeled fraction of one fold's base classes, then score on the fold's novel classes.

``python -m stages.finetune --fold F --fraction P --init pretrained|scratch --seed S`` (one item of dvc.yaml's
matrix; S seeds the episode order, dropout and a scratch init):
starts from ``models/pretrain.pt`` or from a fresh model, trains on labeled episodes of the base classes drawn
from the images of ``data/fractions/train_<P>.txt``, keeps the step (the start included) with the best mIoU on
base-class val episodes (``finetune.select``), writes it to ``models/finetune/<name>.pt`` and its episodic
scores on the novel classes (``params.evaluate``, or ``finetune.score`` where set) with the chosen step to
``metrics/finetune/<name>.json``.

Resumes from ``checkpoints/finetune/<name>/`` after a kill; data-parallel under ``torchrun``.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import typer

from pipeline import paths
from pipeline.entry import DEFAULT_PARAMS, ParamsOption, run, run_stage
from pipeline.params import Params
from pipeline.training import run_identity, save_trained
from umtfss.data.fractions import read_fraction
from umtfss.data.manifest import base_classes, read_manifest
from umtfss.episodes.labeled import LabeledEpisodes
from umtfss.device import resolve_device
from umtfss.evaluation.protocol import evaluate_checkpoint
from umtfss.evaluation.selection import select_snapshot
from umtfss.model import FewShotSegmenter
from umtfss.training.checkpoint import load_model
from umtfss.training.distributed import is_main_process
from umtfss.training.loop import train
from umtfss.training.state import clear_states, seed_everything, snapshots

Init = Literal["pretrained", "scratch"]


def main(params: Params, fold: int, fraction: int, init: Init, seed: int) -> None:
    name = paths.finetune_name(fold, fraction, init, seed)
    cfg = params.finetune.train.model_copy(update={"seed": seed})
    manifest, info = read_manifest(paths.MANIFEST)
    image_ids = read_fraction(paths.FRACTIONS, fraction)
    episodes = LabeledEpisodes(
        manifest,
        image_ids=image_ids,
        classes=base_classes(info, fold),
        shots=cfg.shots,
        crop_size=cfg.crop_size,
        augment=cfg.augment,
        seed=cfg.seed,
    )
    if params.finetune.epochs is not None:  # an epoch: every image of the fraction once as a query
        cfg = cfg.model_copy(
            update={"steps": params.finetune.epochs * math.ceil(len(image_ids) / cfg.batch_size)}
        )

    # The manifest hashes every image; a pretrained start also depends on the pretrained model.
    inputs = [paths.MANIFEST, paths.fraction_list(fraction)]
    if init == "pretrained":
        model, _ = load_model(paths.PRETRAINED, expected=params.model)
        inputs.append(paths.PRETRAINED)
    else:
        seed_everything(cfg.seed)  # the model's random init
        model = FewShotSegmenter(params.model)
    run_keys = {"fold": fold, "fraction": fraction, "init": init, "seed": seed}
    state_dir = paths.FINETUNE_CHECKPOINTS / name
    select = params.finetune.select
    train(model, episodes, cfg, state_dir=state_dir, identity=run_identity(params, inputs, **run_keys),
          snapshot_every=select.every)
    if not is_main_process():
        return

    score = params.evaluate.model_copy(update=params.finetune.score.model_dump(exclude_none=True))
    chosen, base_val_miou = select_snapshot(model, snapshots(state_dir), manifest, info, fold, select, score,
                                            device=resolve_device(score.device))
    selection = {"chosen_step": chosen, "steps": cfg.steps, "base_val_miou": base_val_miou}
    checkpoint = paths.finetuned_model(fold, fraction, init, seed)
    save_trained(checkpoint, model, params, stage="finetune", steps=chosen, selection=selection, **run_keys)
    evaluate_checkpoint(
        checkpoint,
        params.model,
        score,
        folds=[fold],
        out=paths.finetune_metrics(fold, fraction, init, seed),
        manifest_path=paths.MANIFEST,
    )
    clear_states(state_dir)  # model and scores are written: the states served their purpose


def cli(
    fold: Annotated[int, typer.Option(min=0, max=3, help="held-out fold")],
    fraction: Annotated[int, typer.Option(help="labeled fraction, percent (a prepare.fractions.percents)")],
    init: Annotated[Init, typer.Option(help="start from the pretrained model or from a fresh one")],
    seed: Annotated[int, typer.Option(min=0, help="training seed (a finetune.seeds entry)")],
    params: ParamsOption = DEFAULT_PARAMS,
) -> None:
    run_stage(lambda loaded: main(loaded, fold, fraction, init, seed), params)


cli.__doc__ = __doc__

if __name__ == "__main__":
    run(cli)
