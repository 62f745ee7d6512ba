"""mIoU against the labeled fraction, with and without unsupervised pretraining, averaged over folds.

Reads the finetune runs' scores (``evaluate_checkpoint``'s files: ``{"fold", "fraction", "init",
"fold<f>": {"<k>shot": {"model": {"miou_mean", ...}}}}``) and writes the summary as JSON, a Markdown table
and a wide CSV (one column per init) that a line plot draws as one line per init. The 0 % row holds the models
the runs start from, as the `evaluate` stage scored them (:func:`starting_results`).
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from umtfss.errors import InputError

# {fraction: {init: {shot: mIoU}}}, mIoU averaged over folds, in percent.
Summary = dict[int, dict[str, dict[str, float]]]

# Which model of the `evaluate` stage each init starts from: the 0 % row of the summary.
STARTING_MODELS = {"pretrained": "pretrained", "scratch": "untrained"}


def read_json(path: str | os.PathLike[str], what: str) -> Any:
    """The JSON of ``path``; a missing or unreadable file is an error naming it as ``what``."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{what} {path} not found (run the stage that writes it)") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{what} {path} are not readable JSON: {exc}") from None


def read_result(path: str | os.PathLike[str]) -> dict[str, Any]:
    """One finetune run's scores, checked for the keys the summary needs."""
    path = Path(path)
    result = read_json(path, "finetune scores")
    if not isinstance(result, dict) or not {"fold", "fraction", "init"} <= result.keys():
        raise InputError(f"finetune scores {path} lack 'fold', 'fraction' or 'init'")
    fold_key = f"fold{result['fold']}"
    shots = result.get(fold_key)
    if not isinstance(shots, dict) or not shots or any(
        not isinstance(s, dict) or "miou_mean" not in s.get("model", {}) for s in shots.values()
    ):
        raise InputError(f"finetune scores {path} lack {fold_key}.<k>shot.model.miou_mean")
    return result


def starting_results(evaluation: dict[str, Any], folds: Sequence[int], shots: Sequence[str],
                     inits: Sequence[str]) -> list[dict[str, Any]]:
    """The `evaluate` stage's scores (``{"fold<f>": {"<k>shot": {name: result}}}``) of the models the
    ``inits`` start from, shaped as 0 % finetune results of each of ``folds`` for each of ``shots``."""
    results = []
    for fold in folds:
        by_shot = evaluation.get(f"fold{fold}")
        if not isinstance(by_shot, dict) or any(
            not isinstance(by_shot.get(shot), dict) or not set(STARTING_MODELS.values()) <= by_shot[shot].keys()
            for shot in shots
        ):
            raise InputError(f"the evaluation scores lack fold{fold}.<{', '.join(shots)}>.{{pretrained, "
                             "untrained}: evaluate every finetuned fold and shot (evaluate.folds, shots)")
        for init in inits:
            name = STARTING_MODELS[init]
            results.append({"fold": fold, "fraction": 0, "init": init,
                            f"fold{fold}": {shot: {"model": by_shot[shot][name]} for shot in shots}})
    return results


def summarize(results: Iterable[dict[str, Any]]) -> Summary:
    """Mean over folds of each (fraction, init, shot)'s mIoU."""
    collected: dict[tuple[int, str, str], list[float]] = defaultdict(list)
    for result in results:
        for shot, scores in result[f"fold{result['fold']}"].items():
            collected[int(result["fraction"]), str(result["init"]), shot].append(scores["model"]["miou_mean"])
    summary: Summary = {}
    for (fraction, init, shot), mious in sorted(collected.items()):
        summary.setdefault(fraction, {}).setdefault(init, {})[shot] = round(float(np.mean(mious)), 2)
    return summary


def _shots(summary: Summary) -> list[str]:
    found = {shot for inits in summary.values() for shots in inits.values() for shot in shots}
    return sorted(found, key=lambda s: int(s.removesuffix("shot")))


def _inits(summary: Summary) -> list[str]:
    return sorted({init for inits in summary.values() for init in inits})


def summary_json(summary: Summary, folds: Sequence[int]) -> dict[str, Any]:
    """JSON-able form: ``{"folds": [...], "miou": {"<p>pct": {init: {"<k>shot": mIoU}}}}``."""
    return {"folds": list(folds), "miou": {f"{fraction}pct": inits for fraction, inits in summary.items()}}


def markdown_table(summary: Summary) -> str:
    """Rows: fractions; columns: init x shot; cells: mIoU (%) or a dash where a run is missing."""
    columns = [(init, shot) for init in _inits(summary) for shot in _shots(summary)]
    lines = [
        "| labeled fraction | " + " | ".join(f"{init} {shot}" for init, shot in columns) + " |",
        "|---:|" + "---:|" * len(columns),
    ]
    for fraction, inits in sorted(summary.items()):
        cells = [inits.get(init, {}).get(shot) for init, shot in columns]
        label = f"{fraction}%" if fraction else "0% (start)"
        lines.append(f"| {label} | " + " | ".join("–" if c is None else f"{c:.2f}" for c in cells) + " |")
    return "\n".join(lines) + "\n"


def selection_table(results: Iterable[dict[str, Any]]) -> str:
    """One row per finetune run that chose a step: fold, fraction, init, the chosen step of its steps, its
    base-class val mIoU there and at step 0 (the start model)."""
    lines = ["| fold | fraction | init | chosen step | base-class val mIoU at step 0 | at the chosen step |",
             "|---:|---:|---|---:|---:|---:|"]
    for result in sorted(results, key=lambda r: (r["fold"], r["fraction"], r["init"])):
        selection = result.get("selection")
        if not selection:
            continue
        by_step = {int(step): miou for step, miou in selection["base_val_miou"].items()}
        chosen = selection["chosen_step"]
        lines.append(f"| {result['fold']} | {result['fraction']}% | {result['init']} | "
                     f"{chosen} of {selection['steps']} | {by_step[0]:.2f} | {by_step[chosen]:.2f} |")
    return "\n".join(lines) + "\n"


def fraction_csv(summary: Summary, shot: str = "1shot") -> str:
    """Wide CSV ``fraction,<init>,...`` of ``shot`` mIoU: one plotted line per init column."""
    inits = _inits(summary)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["fraction", *inits])
    for fraction, by_init in sorted(summary.items()):
        writer.writerow([fraction, *(by_init.get(init, {}).get(shot, "") for init in inits)])
    return out.getvalue()
