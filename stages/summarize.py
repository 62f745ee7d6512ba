"""summarize: mIoU per labeled fraction x init x shot (mean over folds, then mean ± std over training seeds),
from the finetune runs' scores.

Reads ``metrics/finetune/<name>.json`` of every run of ``params.finetune`` (a missing one is an error, not a
silently thinner table) and ``metrics/evaluate.json`` for the 0 % row (the pretrained and the untrained model),
and writes ``metrics/summary.json``, ``metrics/summary.md`` (the table, then each run's chosen step) and the
1-shot curve ``plots/fraction_miou.csv`` (columns ``fraction`` and one per init). The 0 % row is left out
when ``finetune.score`` draws other episodes than `evaluate` (another ``episodes``, or a seed `evaluate` did not
score): it would not be scored on those of the other rows; with a subset of `evaluate`'s seeds it takes their
per-seed scores. Its scratch cell is left out too when ``pretrain.seed`` (the untrained model's) is not
one of ``finetune.seeds``.
"""

from __future__ import annotations

import json

from pipeline import paths
from pipeline.entry import run, stage_command
from pipeline.params import Params
from umtfss.evaluation.summary import (
    fraction_csv,
    markdown_table,
    read_json,
    read_result,
    selection_table,
    starting_results,
    summarize,
    summary_json,
)
from umtfss.io import atomic_output


def main(params: Params) -> None:
    cfg = params.finetune
    results = [
        read_result(paths.finetune_metrics(fold, fraction, init, seed))
        for fold in cfg.folds
        for fraction in cfg.fractions
        for init in cfg.inits
        for seed in cfg.seeds
    ]
    scored = params.evaluate.model_copy(update=cfg.score.model_dump(exclude_none=True))
    # The 0 % row needs the start models scored on the finetuned models' episodes: the same count per seed,
    # from `evaluate`'s seeds (all of them, or a subset taken from its per-seed scores).
    if scored.episodes == params.evaluate.episodes and set(scored.seeds) <= set(params.evaluate.seeds):
        evaluation = read_json(paths.EVALUATE_METRICS, "evaluation scores")
        # `evaluate`'s untrained model (drawn from pretrain.seed) is the start of the scratch run of that seed.
        inits = [init for init in cfg.inits if init == "pretrained" or params.pretrain.seed in cfg.seeds]
        subset = None if list(scored.seeds) == list(params.evaluate.seeds) else list(scored.seeds)
        results += starting_results(evaluation, cfg.folds, [f"{k}shot" for k in scored.shots], inits, subset)
    chosen_steps = selection_table(results)
    summary = summarize(results)
    outputs = {
        paths.SUMMARY_METRICS: json.dumps(summary_json(summary, cfg.folds, cfg.seeds), indent=2) + "\n",
        paths.SUMMARY_TABLE: markdown_table(summary) + "\n" + chosen_steps,
        paths.FRACTION_PLOT: fraction_csv(summary),
    }
    for path, text in outputs.items():
        with atomic_output(path) as tmp:
            tmp.write_text(text)


cli = stage_command(main, __doc__)

if __name__ == "__main__":
    run(cli)
