"""pipeline.deps: dvc.yaml's deps are each stage's import closure plus the files it reads, both directions."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from pipeline import deps, paths
from tests.conftest import PROJECT_ROOT

STAGES = yaml.safe_load((PROJECT_ROOT / "dvc.yaml").read_text())["stages"]


def check(dvc_yaml: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.deps", "--check", "--dvc-yaml", str(dvc_yaml),
                           "--root", str(PROJECT_ROOT)], cwd=PROJECT_ROOT, capture_output=True, text=True)


def test_the_repository_dvc_yaml_is_up_to_date() -> None:
    result = check(PROJECT_ROOT / "dvc.yaml")
    assert result.returncode == 0, result.stderr


def test_check_names_the_stage_and_file_of_a_missing_and_an_extra_dep(tmp_path: Path) -> None:
    text = (PROJECT_ROOT / "dvc.yaml").read_text()
    document = yaml.safe_load(text)
    document["stages"]["evaluate"]["deps"].remove("umtfss/features/config.py")  # the stride table
    document["stages"]["finetune"]["deps"].remove("umtfss/training/loop.py")  # the matrix stage
    document["stages"]["cluster"]["deps"].append("umtfss/data/coco.py")
    document["stages"]["summarize"]["deps"].remove("metrics/finetune")  # a data dep
    doctored = tmp_path / "dvc.yaml"
    doctored.write_text(yaml.safe_dump(document, sort_keys=False))

    result = check(doctored)
    assert result.returncode == 1
    problems = {line.strip() for line in result.stderr.splitlines()[1:]}
    assert problems == {"evaluate: missing umtfss/features/config.py",
                        "finetune: missing umtfss/training/loop.py",
                        "cluster: extra umtfss/data/coco.py",
                        "summarize: missing metrics/finetune"}


def test_write_restores_the_derived_deps_and_keeps_the_rest(tmp_path: Path) -> None:
    text = (PROJECT_ROOT / "dvc.yaml").read_text()
    doctored = tmp_path / "dvc.yaml"
    cluster = "      - stages/cluster.py\n"
    doctored.write_text(text.replace("      - umtfss/clustering/kmeans.py\n", "", 1)
                        .replace(cluster, cluster + "      - umtfss\n", 1))
    assert check(doctored).returncode == 1
    written = subprocess.run([sys.executable, "-m", "pipeline.deps", "--write", "--dvc-yaml", str(doctored),
                              "--root", str(PROJECT_ROOT)], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert written.returncode == 0, written.stderr
    assert doctored.read_text() == text  # byte for byte: comments, layout and the other keys stay


def test_each_stage_lists_its_inputs_and_package_data_files_not_folders() -> None:
    for name, stage in STAGES.items():
        listed = stage["deps"]
        assert [dep for dep in listed if not dep.endswith(".py")] == [
            *(["umtfss/data/lists"] if "umtfss/data/pascal.py" in listed else []),
            *(path.as_posix() for path in paths.STAGE_INPUTS[name])], name
    assert "umtfss/data/coco.py" not in STAGES["pretrain"]["deps"]  # it reads no dataset adapter


def _named_paths(module: Path) -> set[str]:
    """The ``paths.NAME`` constants a stage module refers to."""
    tree = ast.parse(module.read_text())
    return {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name) and node.value.id == "paths"}


def test_stage_inputs_hold_every_artifact_of_another_stage_that_its_module_names() -> None:
    outs = {}  # artifact path -> the stage writing it
    for name, stage in STAGES.items():
        for out in [*stage.get("outs", []), *stage.get("metrics", []), *stage.get("plots", [])]:
            path = next(iter(out)) if isinstance(out, dict) else out
            outs[path.split("/fold${item")[0]] = name  # finetune's matrix outs: under their folder
    for name in STAGES:
        for constant in _named_paths(PROJECT_ROOT / "stages" / f"{name}.py"):
            value = getattr(paths, constant)
            if isinstance(value, Path) and outs.get(value.as_posix(), name) != name:
                assert value in paths.STAGE_INPUTS[name], f"{name} reads paths.{constant} = {value}"


# Imports each stage module in a child forked from a process that has loaded the heavy third-party packages
# once (seconds each), and prints the files of the modules loaded then.
_IMPORTED_FILES = """
import importlib, json, os, sys
import dask.array, numpy, pandas, pyarrow.parquet, pydantic, torch, yaml, zarr
for module in sys.argv[1:]:
    if os.fork() == 0:
        importlib.import_module(module)
        files = [m.__file__ for m in list(sys.modules.values()) if getattr(m, "__file__", None)]
        print(json.dumps({"module": module, "files": files}), flush=True)
        os._exit(0)
    os.wait()
"""


def test_the_closure_holds_every_project_module_python_imports_for_the_stage() -> None:
    modules = {deps.stage_module(name, stage): name for name, stage in STAGES.items()}
    result = subprocess.run([sys.executable, "-c", _IMPORTED_FILES, *modules], cwd=PROJECT_ROOT, text=True,
                            capture_output=True, timeout=300, env={**os.environ, "PYTHONPATH": "."})
    reports = [json.loads(line) for line in result.stdout.splitlines()]
    assert [report["module"] for report in reports] == list(modules), result.stderr
    for report in reports:
        name = modules[report["module"]]
        files = {Path(file).resolve() for file in report["files"]}
        imported = {file.relative_to(PROJECT_ROOT).as_posix() for file in files
                    if file.is_relative_to(PROJECT_ROOT)
                    and file.relative_to(PROJECT_ROOT).parts[0] in deps.PROJECT_PACKAGES}
        assert f"stages/{name}.py" in imported, name
        assert imported <= set(STAGES[name]["deps"]), (name, sorted(imported - set(STAGES[name]["deps"])))


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text))


def test_closure_rules(tmp_path: Path) -> None:
    _write(tmp_path, {
        "stages/__init__.py": "",
        "stages/job.py": """
            from typing import TYPE_CHECKING
            import numpy
            from umtfss.data import config
            from umtfss.model import Segmenter
            from umtfss.tasks.config import TaskConfig
            if TYPE_CHECKING:
                from umtfss.hints import Hint
            def main():
                from pipeline.later import run
            """,
        "pipeline/__init__.py": "",
        "pipeline/later.py": "from . import sibling\n",
        "pipeline/sibling.py": "",
        "umtfss/__init__.py": "",
        "umtfss/hints.py": "",
        "umtfss/data/__init__.py": "",
        "umtfss/data/config.py": "",
        "umtfss/data/coco.py": "",
        "umtfss/model/__init__.py": """
            def __getattr__(name):
                from umtfss.model.net import Segmenter
                return Segmenter
            """,
        "umtfss/model/net.py": "from .layers import Layer\n",
        "umtfss/model/layers.py": "",
        "umtfss/tasks/__init__.py": "",
        "umtfss/tasks/config.py": "",
        "umtfss/tasks/sampler.py": "",
        "umtfss/tasks/lazy/__init__.py": "def __getattr__(name):\n    import umtfss.tasks.sampler\n",
        "umtfss/tasks/lazy/config.py": "",
    })
    found = {path.relative_to(tmp_path).as_posix() for path in deps.import_closure(tmp_path, "stages.job")}
    assert found == {
        "stages/__init__.py", "stages/job.py",
        "umtfss/__init__.py", "umtfss/data/__init__.py", "umtfss/data/config.py",  # a package on the way
        "umtfss/model/__init__.py", "umtfss/model/net.py", "umtfss/model/layers.py",  # asked for a lazy name
        "umtfss/tasks/__init__.py", "umtfss/tasks/config.py",
        "pipeline/__init__.py", "pipeline/later.py", "pipeline/sibling.py",  # inside a function; relative
    }
    # A lazy package executed on the way to one of its modules is not asked for a name: its __getattr__
    # imports nothing.
    _write(tmp_path, {"stages/other.py": "from umtfss.tasks.lazy.config import x\n"})
    found = {path.relative_to(tmp_path).as_posix() for path in deps.import_closure(tmp_path, "stages.other")}
    assert "umtfss/tasks/sampler.py" not in found and "umtfss/tasks/lazy/config.py" in found


def test_a_stage_without_inputs_entry_or_module_is_an_error() -> None:
    with pytest.raises(deps.DepsError, match="STAGE_INPUTS"):
        deps.derived_deps(PROJECT_ROOT, "novel", {"cmd": "python -m stages.novel"})
    with pytest.raises(deps.DepsError, match="runs no `python -m"):
        deps.derived_deps(PROJECT_ROOT, "prepare", {"cmd": "echo hi"})
