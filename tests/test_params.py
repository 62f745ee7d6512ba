"""params.yaml validation: every bad key is named with what it allows, before any work."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.params import ParamsError, load_params, parse_params
from tests.conftest import PROJECT_ROOT


def error_of(raw: dict) -> str:
    with pytest.raises(ParamsError) as caught:
        parse_params(raw)
    return str(caught.value)


def test_shipped_params_are_valid() -> None:
    params = load_params(PROJECT_ROOT / "params.yaml")
    assert params.prepare.dataset == "embedded"
    assert set(params.finetune.fractions) <= set(params.prepare.fractions.percents)


def test_unknown_key_is_named() -> None:
    message = error_of({"prepare": {"embeded": {"seed": 1}}})
    assert "prepare.embeded: unknown key" in message


def test_wrong_type_is_named_with_the_value() -> None:
    message = error_of({"prepare": {"embedded": {"n_train": "many"}}})
    assert "prepare.embedded.n_train" in message and "integer" in message and "'many'" in message


def test_literal_value_lists_the_allowed_ones() -> None:
    message = error_of({"prepare": {"dataset": "imagenet"}})
    assert "prepare.dataset" in message
    assert all(name in message for name in ("'embedded'", "'pascal5i'", "'coco20i'", "'folder'"))
    message = error_of({"prepare": {"coco20i": {"split": "random"}}})
    assert "prepare.coco20i.split" in message and "'interleaved'" in message and "'contiguous'" in message


def test_every_bad_key_is_reported_at_once() -> None:
    message = error_of({"prepare": {"embedded": {"n_classes": 10, "min_size": 8},
                                    "fractions": {"seed": "x"}}})
    for key in ("prepare.embedded.n_classes", "prepare.embedded.min_size", "prepare.fractions.seed"):
        assert key in message


def test_rules_within_and_across_sections() -> None:
    assert "multiple of 4" in error_of({"prepare": {"embedded": {"n_classes": 22}}})
    assert "min_size (120) must not exceed max_size (100)" in error_of(
        {"prepare": {"embedded": {"min_size": 120, "max_size": 100}}})
    assert "root is required" in error_of({"prepare": {"dataset": "pascal5i"}})
    assert "distinct integers in 1..100" in error_of({"prepare": {"fractions": {"percents": [0, 50]}}})
    message = error_of({"prepare": {"fractions": {"percents": [10, 100]}},
                        "finetune": {"fractions": [5, 100]}})
    assert "finetune.fractions [5] are not prepared" in message


def test_unreadable_params_files_are_explained(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match="not found"):
        load_params(tmp_path / "params.yaml")
    (tmp_path / "bad.yaml").write_text("prepare: [unclosed")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- prepare\n")
    with pytest.raises(ParamsError, match="must be a mapping"):
        load_params(tmp_path / "list.yaml")


def test_a_param_that_nothing_reads_is_not_accepted() -> None:
    # episodes.seed once was one: changing it reran the stage for nothing (region and candidate building is
    # deterministic).
    assert "episodes.seed: unknown key" in error_of({"episodes": {"seed": 1}})


def test_finetune_runs_take_their_seeds_from_finetune_seeds() -> None:
    message = error_of({"finetune": {"train": {"seed": 1}}})
    assert "finetune" in message and "train.seed is not read" in message and "finetune.seeds" in message
    assert "distinct" in error_of({"finetune": {"seeds": [0, 0]}})
