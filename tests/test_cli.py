"""The `umtfss` command: a subcommand per DVC stage, running the same stage module DVC runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml
from typer.testing import CliRunner

from umtfss.cli import app

ROOT = Path(__file__).resolve().parents[1]


def test_every_dvc_stage_has_a_subcommand_and_a_module() -> None:
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    help_text = CliRunner().invoke(app, ["--help"]).output
    for name, stage in stages.items():
        assert name in help_text, name
        assert (ROOT / "stages" / f"{name}.py").is_file(), name
        assert f"python -m stages.{name}" in stage["cmd"], name


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
    assert "extract.layer" in result.stderr and "layer4" in result.stderr and "Traceback" not in result.stderr


def test_missing_project_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["prepare", "--project", str(tmp_path)])
    assert result.exit_code != 0 and "stages" in result.output
