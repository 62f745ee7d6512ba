"""mIoU against the labeled fraction, with and without unsupervised pretraining: mean over folds, then mean ±
std over training seeds.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from umtfss.errors import InputError


@dataclass(frozen=True)
class Cell:
    """One (fraction, init, shot): each training seed's mIoU averaged over folds, then mean and (population)
    std over the seeds, in percent."""

    mean: float
    std: float
    seeds: int

    def __str__(self) -> str:
        return f"{self.mean:.2f} ± {self.std:.2f}" if self.seeds > 1 else f"{self.mean:.2f}"


# {fraction: {init: {shot: Cell}}}
Summary = dict[int, dict[str, dict[str, Cell]]]

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
    if not isinstance(result, dict) or not {"fold", "fraction", "init", "seed"} <= result.keys():
        raise InputError(f"finetune scores {path} lack 'fold', 'fraction', 'init' or 'seed'")
    fold_key = f"fold{result['fold']}"
    shots = result.get(fold_key)
    if not isinstance(shots, dict) or not shots or any(
        not isinstance(s, dict) or "miou_mean" not in s.get("model", {}) for s in shots.values()
    ):
        raise InputError(f"finetune scores {path} lack {fold_key}.<k>shot.model.miou_mean")
    return result


def summarize_seeds(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and (population) std over evaluation seeds of mIoU and FB-IoU, in percent: an `evaluate` result."""
    miou = np.array([s["miou"] for s in per_seed])
    fbiou = np.array([s["fbiou"] for s in per_seed])
    return {
        "miou_mean": round(float(miou.mean()), 2),
        "miou_std": round(float(miou.std()), 2),
        "fbiou_mean": round(float(fbiou.mean()), 2),
        "fbiou_std": round(float(fbiou.std()), 2),
        "per_seed": per_seed,
    }


def _on_seeds(scores: dict[str, Any], seeds: Sequence[int], where: str) -> dict[str, Any]:
    """``scores`` (an `evaluate` result with ``per_seed`` entries) restricted to the evaluation ``seeds``."""
    by_seed = {entry.get("seed"): entry for entry in scores.get("per_seed", [])}
    missing = [seed for seed in seeds if seed not in by_seed]
    if missing:
        raise InputError(f"the evaluation scores lack {where} of evaluation seed(s) {missing}")
    return summarize_seeds([by_seed[seed] for seed in seeds])


def starting_results(evaluation: dict[str, Any], folds: Sequence[int], shots: Sequence[str],
                     inits: Sequence[str], seeds: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """The `evaluate` stage's scores (``{"fold<f>": {"<k>shot": {name: result}}}``) of the models the
    ``inits`` start from, shaped as 0 % finetune results of each of ``folds`` for each of ``shots`` (one start
    model whatever the training seed: seed null). ``seeds``: only those evaluation seeds' episodes (the
    finetuned models were scored on a subset of `evaluate`'s seeds); None: all of them."""
    results = []
    for fold in folds:
        by_shot = evaluation.get(f"fold{fold}")
        if not isinstance(by_shot, dict) or any(
            not isinstance(by_shot.get(shot), dict)
            or not set(STARTING_MODELS.values()) <= by_shot[shot].keys()
            for shot in shots
        ):
            raise InputError(f"the evaluation scores lack fold{fold}.<{', '.join(shots)}>.{{pretrained, "
                             "untrained}: evaluate every finetuned fold and shot (evaluate.folds, shots)")
        for init in inits:
            name = STARTING_MODELS[init]
            results.append({"fold": fold, "fraction": 0, "init": init, "seed": None, f"fold{fold}": {
                shot: {"model": by_shot[shot][name] if seeds is None
                       else _on_seeds(by_shot[shot][name], seeds, f"fold{fold}.{shot}.{name}")}
                for shot in shots}})
    return results


def summarize(results: Iterable[dict[str, Any]]) -> Summary:
    """Each (fraction, init, shot)'s :class:`Cell`: per training seed the mean mIoU over folds, then the mean
    and std over seeds."""
    collected: dict[tuple[int, str, str], dict[Any, list[float]]] = defaultdict(lambda: defaultdict(list))
    for result in results:
        for shot, scores in result[f"fold{result['fold']}"].items():
            key = int(result["fraction"]), str(result["init"]), shot
            collected[key][result["seed"]].append(scores["model"]["miou_mean"])
    summary: Summary = {}
    for (fraction, init, shot), by_seed in sorted(collected.items()):
        fold_means = np.array([np.mean(mious) for mious in by_seed.values()])
        cell = Cell(round(float(fold_means.mean()), 2), round(float(fold_means.std()), 2), len(fold_means))
        summary.setdefault(fraction, {}).setdefault(init, {})[shot] = cell
    return summary


def _shots(summary: Summary) -> list[str]:
    found = {shot for inits in summary.values() for shots in inits.values() for shot in shots}
    return sorted(found, key=lambda s: int(s.removesuffix("shot")))


def _inits(summary: Summary) -> list[str]:
    return sorted({init for inits in summary.values() for init in inits})


def summary_json(summary: Summary, folds: Sequence[int], seeds: Sequence[int]) -> dict[str, Any]:
    """JSON-able form: ``{"folds": [...], "seeds": [...], "miou": {"<p>pct": {init: {"<k>shot": {"mean",
    "std", "seeds"}}}}}`` (``seeds``: how many training seeds the cell averages)."""
    return {
        "folds": list(folds),
        "seeds": list(seeds),
        "miou": {f"{fraction}pct": {init: {shot: vars(cell) for shot, cell in shots.items()}
                                    for init, shots in inits.items()}
                 for fraction, inits in summary.items()},
    }


def markdown_table(summary: Summary) -> str:
    """Rows: fractions; columns: init x shot; cells: mIoU (%), ± std over training seeds where there are
    several, or a dash where a run is missing."""
    columns = [(init, shot) for init in _inits(summary) for shot in _shots(summary)]
    lines = [
        "| labeled fraction | " + " | ".join(f"{init} {shot}" for init, shot in columns) + " |",
        "|---:|" + "---:|" * len(columns),
    ]
    for fraction, inits in sorted(summary.items()):
        cells = [inits.get(init, {}).get(shot) for init, shot in columns]
        label = f"{fraction}%" if fraction else "0% (start)"
        lines.append(f"| {label} | " + " | ".join("–" if c is None else str(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def selection_table(results: Iterable[dict[str, Any]]) -> str:
    """One row per finetune run that chose a step: fold, fraction, init, seed, the chosen step of its steps,
    its base-class val mIoU there and at step 0 (the start model)."""
    lines = ["| fold | fraction | init | seed | chosen step | base-class val mIoU at step 0 "
             "| at the chosen step |", "|---:|---:|---|---:|---:|---:|---:|"]
    chose = [result for result in results if result.get("selection")]
    for result in sorted(chose, key=lambda r: (r["fold"], r["fraction"], r["init"], r["seed"])):
        selection = result["selection"]
        by_step = {int(step): miou for step, miou in selection["base_val_miou"].items()}
        chosen = selection["chosen_step"]
        lines.append(f"| {result['fold']} | {result['fraction']}% | {result['init']} | {result['seed']} | "
                     f"{chosen} of {selection['steps']} | {by_step[0]:.2f} | {by_step[chosen]:.2f} |")
    return "\n".join(lines) + "\n"


def fraction_csv(summary: Summary, shot: str = "1shot") -> str:
    """Wide CSV ``fraction,<init>,...`` of ``shot`` mIoU (the mean over seeds): one plotted line per init."""
    inits = _inits(summary)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["fraction", *inits])
    for fraction, by_init in sorted(summary.items()):
        cells = [by_init.get(init, {}).get(shot) for init in inits]
        writer.writerow([fraction, *("" if cell is None else cell.mean for cell in cells)])
    return out.getvalue()
