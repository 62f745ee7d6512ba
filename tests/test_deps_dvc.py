"""The derived deps through the real `dvc` CLI: an edit to a module reruns exactly the stages whose import
closure holds it."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import yaml

from tests.conftest import Project

pytestmark = pytest.mark.slow

CHAIN = ("prepare", "selfsup", "extract", "cluster")  # cheap with tiny params and an untrained backbone


def test_dvc_status_names_the_stages_whose_closure_holds_an_edited_module(
    make_project: Callable[..., Project],
) -> None:
    project = make_project({"selfsup": {"steps": 0}})
    project.dvc("repro", "cluster")
    deps = {name: stage["deps"] for name, stage in yaml.safe_load((project.root / "dvc.yaml").read_text())
            ["stages"].items()}

    def changed_after_editing(module: str) -> set[str]:
        """The stages of CHAIN that `dvc status` names while ``module`` has one more comment line."""
        path = project.root / module
        original = path.read_text()
        path.write_text(original + "# an edit\n")
        try:
            return set(json.loads(project.dvc("status", "--json", *CHAIN).stdout))
        finally:
            path.write_text(original)

    assert json.loads(project.dvc("status", "--json", *CHAIN).stdout) == {}
    for module, expected in [
        ("umtfss/clustering/kmeans.py", {"cluster"}),  # inside cluster's closure only
        ("umtfss/data/coco.py", {"prepare"}),  # a dataset adapter: outside every later closure
        ("umtfss/features/extract.py", {"extract"}),
        ("umtfss/features/config.py", set(CHAIN)),  # the stride table: every stage validates params with it
        ("pipeline/paths.py", set(CHAIN)),
    ]:
        assert {name for name in CHAIN if module in deps[name]} == expected, module
        assert changed_after_editing(module) == expected, module
    assert json.loads(project.dvc("status", "--json", *CHAIN).stdout) == {}  # the edits are undone
