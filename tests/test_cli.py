"""Command lines: every stage is a typer command (`python -m stages.<name>`, also `python -m stages <name>`),
from the one stage list; `umtfss` is the library's own (predict, report) and knows no stage."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from pipeline.paths import STAGES
from stages.__main__ import app as stages_app
from umtfss.cli import app

ROOT = Path(__file__).resolve().parents[1]
DVC_STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def _options(typer_app, *command: str) -> set[str]:
    """The options that ``<command> --help`` lists (it must exit 0)."""
    result = CliRunner().invoke(typer_app, [*command, "--help"], terminal_width=200)
    assert result.exit_code == 0, f"{' '.join(command)} --help: {result.output}"
    return set(re.findall(r"--[a-z][\w-]*", result.output))


def test_the_stage_list_is_dvc_yamls() -> None:
    assert list(STAGES) == list(DVC_STAGES)


@pytest.mark.parametrize("name", STAGES)
def test_every_stage_is_a_command_with_its_matrix_keys(name: str) -> None:
    assert DVC_STAGES[name]["cmd"].startswith(f"python -m stages.{name}")
    # The matrix keys of a stage (finetune: fold, fraction, init) are its command's options.
    expected = {"--params", *(f"--{key}" for key in DVC_STAGES[name].get("matrix", {}))}
    assert expected <= _options(stages_app, name)


def test_umtfss_offers_library_commands_only() -> None:
    assert {"--checkpoint", "--query", "--out", "--support"} <= _options(app, "predict")
    assert _options(app, "report") == {"--help"}
    for name in ("prepare", "nosuchcommand"):  # a stage is not a library command; the check can fail
        assert CliRunner().invoke(app, [name, "--help"]).exit_code != 0


def test_a_stage_runs_by_hand_with_a_params_file(make_project) -> None:
    project = make_project()
    (project.root / "params.yaml").rename(project.root / "other.yaml")
    result = project.run(sys.executable, "-m", "stages", "prepare", "--params", "other.yaml", check=False)
    assert result.returncode == 0, result.stderr
    assert (project.root / "data" / "manifest.parquet").is_file()


def test_bad_params_exit_cleanly_naming_the_key(make_project) -> None:
    project = make_project({"extract": {"layer": "layer9"}})
    result = project.run(sys.executable, "-m", "stages.extract", check=False)
    assert result.returncode == 2
    assert "extract.layer: 'layer9' is not a level" in result.stderr and "layer4" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_report_command_prints_the_tables(tmp_path: Path) -> None:
    scores = {"miou_mean": 1.0, "miou_std": 0.0, "fbiou_mean": 2.0, "fbiou_std": 0.0,
              "per_seed": [{"seed": 0, "episodes": 4}]}
    path = tmp_path / "evaluate.json"
    path.write_text(json.dumps({"fold0": {"1shot": {"pretrained": scores, "baseline": scores}}}))
    shown = CliRunner().invoke(app, ["report", str(path)])
    assert shown.exit_code == 0, shown.output
    assert "| 0 | 1.00 | 1.00 |" in shown.output and "| 0 | 2.00 | 2.00 |" in shown.output
