"""The `umtfss` command: a subcommand per DVC stage, running the same stage module DVC runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from umtfss.cli import app

ROOT = Path(__file__).resolve().parents[1]
STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def _options(*command: str) -> set[str]:
    """The options that ``umtfss <command> --help`` lists (it must exit 0)."""
    result = CliRunner().invoke(app, [*command, "--help"], terminal_width=200)
    assert result.exit_code == 0, f"umtfss {' '.join(command)} --help: {result.output}"
    return set(re.findall(r"--[a-z][\w-]*", result.output))


@pytest.mark.parametrize("name", sorted(STAGES))
def test_every_dvc_stage_has_a_module_and_a_subcommand(name: str) -> None:
    assert f"python -m stages.{name}" in STAGES[name]["cmd"]
    assert (ROOT / "stages" / f"{name}.py").is_file()
    options = _options(name)
    # The matrix keys of a stage (finetune: fold, fraction, init) are its subcommand's options.
    expected = {"--params", "--project", *(f"--{key}" for key in STAGES[name].get("matrix", {}))}
    assert expected <= options, options


def test_predict_help_and_an_unknown_subcommand() -> None:
    assert {"--checkpoint", "--query", "--out", "--support"} <= _options("predict")
    assert CliRunner().invoke(app, ["nosuchstage", "--help"]).exit_code != 0  # the check above can fail


def test_stage_subcommand_runs_the_project_stage(make_project) -> None:
    project = make_project()
    umtfss = Path(sys.executable).parent / "umtfss"
    result = subprocess.run([str(umtfss), "prepare", "--project", str(project.root)], capture_output=True,
                            text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert (project.root / "data" / "manifest.parquet").is_file()


def test_bad_params_exit_cleanly_naming_the_key(make_project) -> None:
    project = make_project({"extract": {"layer": "layer9"}})
    result = subprocess.run([str(Path(sys.executable).parent / "umtfss"), "extract", "--project",
                             str(project.root)], capture_output=True, text=True)
    assert result.returncode == 2
    assert "extract.layer: 'layer9' is not a level" in result.stderr and "layer4" in result.stderr and "Traceback" not in result.stderr


def test_missing_project_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["prepare", "--project", str(tmp_path)])
    assert result.exit_code != 0 and "stages" in result.output
