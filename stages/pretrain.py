"""pretrain: meta-train the few-shot segmenter on pseudo episodes mined from unlabeled images.

Writes ``models/pretrain.pt``, and dvclive curves (loss, foreground IoU, learning rates) in
``dvclive/pretrain``.
No labels and no held-out classes are looked at: the model is the one at the last step.

Resumes from ``checkpoints/pretrain/`` after a kill (same params and inputs); data-parallel with
``torchrun --nproc_per_node N -m stages.pretrain``.
"""

from __future__ import annotations

from dvclive import Live

from pipeline import paths
from pipeline.entry import run, stage_command
from pipeline.params import Params
from pipeline.training import run_identity, save_trained
from umtfss.episodes.pseudo import PseudoEpisodes
from umtfss.model import FewShotSegmenter
from umtfss.training.distributed import is_main_process
from umtfss.training.loop import train
from umtfss.training.state import clear_states, seed_everything

# What the pseudo episodes are read from (the manifest hashes every image), as dvc.yaml lists them; the
# backbone's weights are hashed as the params name them: a state trained on other inputs is never resumed.
INPUTS = tuple(path for path in paths.STAGE_INPUTS["pretrain"] if path != paths.BACKBONE)


def main(params: Params) -> None:
    cfg = params.pretrain
    seed_everything(cfg.seed)  # the model's random init
    model = FewShotSegmenter(params.model)
    episodes = PseudoEpisodes(
        manifest=paths.MANIFEST,
        labels=paths.LABELS,
        regions=paths.REGIONS,
        candidates=paths.CANDIDATES,
        shots=cfg.shots,
        crop_size=cfg.crop_size,
        augment=cfg.augment,
        seed=cfg.seed,
    )
    main_process = is_main_process()
    live = (
        Live(str(paths.PRETRAIN_LIVE), resume=True, save_dvc_exp=False, dvcyaml=None)
        if main_process
        else None
    )
    identity = run_identity(params, INPUTS)
    train(model, episodes, cfg, state_dir=paths.PRETRAIN_CHECKPOINTS, live=live, identity=identity)
    if main_process:
        save_trained(paths.PRETRAINED, model, params, stage="pretrain", steps=cfg.steps)
        live.end()  # type: ignore[union-attr]
        clear_states(paths.PRETRAIN_CHECKPOINTS)  # the model is written: the states served their purpose


cli = stage_command(main, __doc__)

if __name__ == "__main__":
    run(cli)
