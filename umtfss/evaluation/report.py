"""Markdown tables of an `evaluate` result (``metrics/evaluate.json``), so reported figures are copied from
what was measured, never typed.

    umtfss report <evaluate result>.json

One row per fold and one for the mean over folds; per shot, each predictor's mIoU and FB-IoU as mean ± std
over evaluation seeds, the value alone for one seed (the mean row: the mean over folds of the per-fold means).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

PREDICTORS = ("pretrained", "untrained", "baseline")


def _folds(result: dict[str, Any]) -> list[str]:
    return sorted((key for key in result if key.startswith("fold")), key=lambda k: int(k.removeprefix("fold")))


def _shots(result: dict[str, Any]) -> list[str]:
    found = {shot for fold in _folds(result) for shot in result[fold]}
    return sorted(found, key=lambda s: int(s.removesuffix("shot")))


def evaluation_table(result: dict[str, Any], metric: str = "miou") -> str:
    """Rows: folds and their mean; columns: shot x predictor; cells: ``metric`` mean ± std (percent)."""
    folds, shots = _folds(result), _shots(result)
    predictors = [p for p in PREDICTORS if any(p in result[f][s] for f in folds for s in result[f])]
    columns = [(shot, name) for shot in shots for name in predictors]
    episodes = {run["episodes"] for f in folds for s in result[f].values() for r in s.values()
                for run in r["per_seed"]}
    seeds = {len(r["per_seed"]) for f in folds for s in result[f].values() for r in s.values()}
    label = {"miou": "mIoU", "fbiou": "FB-IoU"}[metric]
    draws = "/".join(map(str, sorted(episodes)))
    single = seeds == {1}  # a std over one seed is no interval: print the value alone
    heading = (f"{label} (%), one evaluation seed of {draws} episodes" if single else
               f"{label} (%), mean ± std over {'/'.join(map(str, sorted(seeds)))} evaluation seeds of {draws} "
               "episodes each")
    lines = [heading, "",
             "| fold | " + " | ".join(f"{shot[:-4]}-shot {name}" for shot, name in columns) + " |",
             "|---:|" + "---:|" * len(columns)]
    means: dict[tuple[str, str], list[float]] = {column: [] for column in columns}
    for fold in folds:
        cells = []
        for shot, name in columns:
            scores = result[fold].get(shot, {}).get(name)
            if scores is None:
                cells.append("–")
                continue
            means[shot, name].append(scores[f"{metric}_mean"])
            spread = "" if single else f" ± {scores[f'{metric}_std']:.2f}"
            cells.append(f"{scores[f'{metric}_mean']:.2f}{spread}")
        lines.append(f"| {fold.removeprefix('fold')} | " + " | ".join(cells) + " |")
    if len(folds) > 1:
        lines.append("| mean | " + " | ".join(
            f"**{np.mean(values):.2f}**" if values else "–" for values in means.values()) + " |")
    return "\n".join(lines) + "\n"


def evaluation_tables(evaluate_json: Path) -> str:
    """The mIoU and FB-IoU tables of the evaluate result in ``evaluate_json``."""
    result = json.loads(evaluate_json.read_text())
    return evaluation_table(result, "miou") + "\n" + evaluation_table(result, "fbiou")
