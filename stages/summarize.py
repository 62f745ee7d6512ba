"""summarize: mIoU per labeled fraction x init x shot, averaged over folds, from the finetune runs' scores.

Reads ``metrics/finetune/<name>.json`` of every run of ``params.finetune`` (a missing one is an error, not a
silently thinner table) and writes ``metrics/summary.json``, ``metrics/summary.md`` and the 1-shot curve
``plots/fraction_miou.csv`` (columns ``fraction`` and one per init).
"""

from __future__ import annotations

import json

from pipeline import paths
from pipeline.entry import run, stage_command
from pipeline.params import Params
from umtfss.evaluation.summary import fraction_csv, markdown_table, read_result, summarize, summary_json
from umtfss.io import atomic_output


def main(params: Params) -> None:
    cfg = params.finetune
    results = [
        read_result(paths.finetune_metrics(fold, fraction, init))
        for fold in cfg.folds
        for fraction in cfg.fractions
        for init in cfg.inits
    ]
    summary = summarize(results)
    outputs = {
        paths.SUMMARY_METRICS: json.dumps(summary_json(summary, cfg.folds), indent=2) + "\n",
        paths.SUMMARY_TABLE: markdown_table(summary),
        paths.FRACTION_PLOT: fraction_csv(summary),
    }
    for path, text in outputs.items():
        with atomic_output(path) as tmp:
            tmp.write_text(text)


cli = stage_command(main, __doc__)

if __name__ == "__main__":
    run(cli)
