"""`python -m pipeline.results`: the README's result blocks rewritten from the metrics files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.results import replace_block
from umtfss.errors import InputError

ROOT = Path(__file__).resolve().parents[1]


def _scores(miou: float) -> dict:
    return {"miou_mean": miou, "miou_std": 0.5, "fbiou_mean": miou + 10, "fbiou_std": 0.25,
            "per_seed": [{"seed": 0, "miou": miou, "fbiou": miou + 10, "episodes": 1000}]}


def _rewrite(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.results"], cwd=root, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)


def test_the_generated_blocks_are_rewritten_from_the_metrics_and_nothing_else_changes(tmp_path: Path) -> None:
    (tmp_path / "metrics").mkdir()
    evaluation = {"fold0": {"1shot": {"pretrained": _scores(61.25), "untrained": _scores(8.0),
                                      "baseline": _scores(50.0)}}}
    (tmp_path / "metrics/evaluate.json").write_text(json.dumps(evaluation))
    (tmp_path / "metrics/summary.md").write_text("| labeled fraction | pretrained 1shot |\n|---:|---:|\n"
                                                 "| 5% | 63.10 |\n")
    readme = ("# title\nhand-written\n<!-- generated: evaluate -->\nstale 1\n<!-- /generated: evaluate -->\n"
              "between\n<!-- generated: summary -->\nstale 2\nstale 3\n<!-- /generated: summary -->\nend\n")
    (tmp_path / "README.md").write_text(readme)

    done = _rewrite(tmp_path)
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "README.md").read_text()
    assert "stale" not in text
    assert text.startswith("# title\nhand-written\n<!-- generated: evaluate -->\nmIoU (%)")
    assert "| 0 | 61.25 | 8.00 | 50.00 |" in text  # mIoU (one seed: no ±)
    assert "| 0 | 71.25 | 18.00 | 60.00 |" in text  # FB-IoU
    assert "between\n<!-- generated: summary -->\n| labeled fraction" in text
    assert text.endswith("| 5% | 63.10 |\n<!-- /generated: summary -->\nend\n")
    assert _rewrite(tmp_path).returncode == 0 and (tmp_path / "README.md").read_text() == text  # idempotent

    (tmp_path / "metrics/summary.md").unlink()
    missing = _rewrite(tmp_path)
    assert missing.returncode == 2 and "metrics/summary.md not found" in missing.stderr
    assert (tmp_path / "README.md").read_text() == text


def test_an_experiments_files_fill_the_blocks_of_its_suffix(tmp_path: Path) -> None:
    (tmp_path / "exp").mkdir()
    scores = {"pretrained": _scores(40.0), "untrained": _scores(5.0), "baseline": _scores(30.0)}
    (tmp_path / "exp/evaluate.json").write_text(json.dumps({"fold2": {"1shot": scores}}))
    (tmp_path / "exp/summary.md").write_text("| 5% | 41.00 |\n")
    kept = "<!-- generated: summary -->\nkept\n<!-- /generated: summary -->\n"
    empty = "".join(f"<!-- generated: {name}-folds -->\n<!-- /generated: {name}-folds -->\n"
                    for name in ("evaluate", "summary"))
    (tmp_path / "README.md").write_text(kept + empty)
    done = subprocess.run([sys.executable, "-m", "pipeline.results", "--evaluate", "exp/evaluate.json",
                           "--summary", "exp/summary.md", "--suffix", "-folds"], cwd=tmp_path, text=True,
                          capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "README.md").read_text()
    assert text.startswith(kept) and "| 2 | 40.00 | 5.00 | 30.00 |" in text
    assert "<!-- generated: summary-folds -->\n| 5% | 41.00 |\n<!-- /generated: summary-folds -->" in text

    (tmp_path / "exp/summary.md").write_text("| 5% | 42.00 |\n")
    (tmp_path / "exp/evaluate.json").unlink()  # not needed: only the summary block is asked for
    done = subprocess.run([sys.executable, "-m", "pipeline.results", "--summary", "exp/summary.md", "--suffix",
                           "-folds", "--blocks", "summary"], cwd=tmp_path, text=True, capture_output=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert done.returncode == 0, done.stderr
    again = (tmp_path / "README.md").read_text()
    assert again == text.replace("| 5% | 41.00 |", "| 5% | 42.00 |")


def test_a_missing_block_is_an_error() -> None:
    with pytest.raises(InputError, match="generated: summary"):
        replace_block("no markers here\n", "summary", "table")
