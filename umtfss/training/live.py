"""Training curves in dvclive, kept consistent with the training state across a kill and resume."""

from __future__ import annotations

import csv
from pathlib import Path

from dvclive import Live


def rewind(live: Live, step: int) -> None:
    """Forget logged rows after ``step`` (all of them for 0): those steps are about to be trained again.

    A run killed after logging step s but before saving a state at or after s would otherwise log s twice.
    """
    for table in (Path(live.plots_dir) / "metrics").rglob("*.tsv"):
        with open(table, newline="", encoding="utf-8") as fobj:
            reader = csv.DictReader(fobj, delimiter="\t")
            fields, rows = reader.fieldnames, [row for row in reader if int(row["step"]) <= step]
        if not rows or fields is None:
            table.unlink()
            continue
        with open(table, "w", newline="", encoding="utf-8") as fobj:
            writer = csv.DictWriter(fobj, fields, delimiter="\t", lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
    if step == 0:
        live.summary = {}
    live.step = step


def log_metrics(live: Live, step: int, metrics: dict[str, float]) -> None:
    """Log ``metrics`` as of training step ``step`` and write the summary (``metrics.json``)."""
    live.step = step
    for name, value in metrics.items():
        live.log_metric(name, value)
    live.next_step()
