"""mIoU against the labeled fraction, with and without unsupervised pretraining, averaged over folds.

Reads the finetune runs' scores (``evaluate_checkpoint``'s files: ``{"fold", "fraction", "init",
"fold<f>": {"<k>shot": {"model": {"miou_mean", ...}}}}``) and writes the summary as JSON, a Markdown table
and a wide CSV (one column per init) that a line plot draws as one line per init.
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


def read_result(path: str | os.PathLike[str]) -> dict[str, Any]:
    """One finetune run's scores, checked for the keys the summary needs."""
    path = Path(path)
    try:
        result = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"finetune scores {path} not found (run the finetune stage)") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"finetune scores {path} are not readable JSON: {exc}") from None
    if not isinstance(result, dict) or not {"fold", "fraction", "init"} <= result.keys():
        raise InputError(f"finetune scores {path} lack 'fold', 'fraction' or 'init'")
    fold_key = f"fold{result['fold']}"
    shots = result.get(fold_key)
    if not isinstance(shots, dict) or not shots or any(
        not isinstance(s, dict) or "miou_mean" not in s.get("model", {}) for s in shots.values()
    ):
        raise InputError(f"finetune scores {path} lack {fold_key}.<k>shot.model.miou_mean")
    return result


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
        lines.append(f"| {fraction}% | " + " | ".join("–" if c is None else f"{c:.2f}" for c in cells) + " |")
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
