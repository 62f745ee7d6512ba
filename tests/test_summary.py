"""Summary of finetune runs: fold means, the Markdown table, the wide CSV and the stage's refusal of gaps."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from umtfss.errors import InputError
from umtfss.evaluation.summary import Cell, fraction_csv, markdown_table, read_result, summarize, summary_json


def _result(fold: int, fraction: int, init: str, one: float, five: float, seed: int = 0) -> dict:
    def scores(miou: float) -> dict:
        return {"model": {"miou_mean": miou, "miou_std": 0.0, "fbiou_mean": 50.0, "fbiou_std": 0.0,
                          "per_seed": []}}

    return {"fold": fold, "fraction": fraction, "init": init, "seed": seed,
            f"fold{fold}": {"1shot": scores(one), "5shot": scores(five)}}


def _write(tmp_path: Path, result: dict) -> Path:
    path = tmp_path / f"fold{result['fold']}-{result['fraction']}pct-{result['init']}-seed{result['seed']}.json"
    path.write_text(json.dumps(result))
    return path


def test_summary_averages_folds_and_renders_table_and_wide_csv(tmp_path: Path) -> None:
    runs = [
        _result(0, 10, "pretrained", 30.0, 40.0), _result(1, 10, "pretrained", 20.0, 30.0),
        _result(0, 10, "scratch", 10.0, 12.0), _result(1, 10, "scratch", 14.0, 16.0),
        _result(0, 100, "pretrained", 50.0, 55.0), _result(1, 100, "pretrained", 52.0, 57.0),
        _result(0, 100, "scratch", 44.0, 48.0), _result(1, 100, "scratch", 46.0, 50.0),
    ]
    summary = summarize(read_result(_write(tmp_path, r)) for r in runs)

    def one(mean: float) -> Cell:
        return Cell(mean, 0.0, 1)

    assert summary == {
        10: {"pretrained": {"1shot": one(25.0), "5shot": one(35.0)}, "scratch": {"1shot": one(12.0),
                                                                              "5shot": one(14.0)}},
        100: {"pretrained": {"1shot": one(51.0), "5shot": one(56.0)}, "scratch": {"1shot": one(45.0),
                                                                               "5shot": one(49.0)}},
    }
    assert summary_json(summary, [0, 1], [0])["miou"]["10pct"]["scratch"]["5shot"] == {
        "mean": 14.0, "std": 0.0, "seeds": 1}

    table = markdown_table(summary).splitlines()
    assert table[0] == (
        "| labeled fraction | pretrained 1shot | pretrained 5shot | scratch 1shot | scratch 5shot |"
    )
    assert table[2] == "| 10% | 25.00 | 35.00 | 12.00 | 14.00 |"
    assert table[3] == "| 100% | 51.00 | 56.00 | 45.00 | 49.00 |"

    rows = list(csv.DictReader(io.StringIO(fraction_csv(summary))))
    assert rows == [{"fraction": "10", "pretrained": "25.0", "scratch": "12.0"},
                    {"fraction": "100", "pretrained": "51.0", "scratch": "45.0"}]


def test_read_result_names_the_bad_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="missing.json"):
        read_result(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"fold": 0, "fraction": 5, "init": "scratch", "seed": 0, "fold0": {"1shot": {}}}))
    with pytest.raises(InputError, match="bad.json.*miou_mean"):
        read_result(bad)
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(InputError, match="broken.json"):
        read_result(broken)


def _evaluation(pretrained: float, untrained: float) -> dict:
    def shot(offset: float) -> dict:
        return {name: {"miou_mean": miou + offset, "miou_std": 0.0, "fbiou_mean": 50.0, "fbiou_std": 0.0,
                       "per_seed": []}
                for name, miou in (("pretrained", pretrained), ("untrained", untrained), ("baseline", 1.0))}

    return {"fold0": {"1shot": shot(0.0), "5shot": shot(3.0)}}


def test_summarize_stage_writes_its_three_outputs_and_refuses_a_missing_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline import paths
    from pipeline.params import parse_params
    from stages.summarize import main

    monkeypatch.chdir(tmp_path)
    params = parse_params({"finetune": {"folds": [0], "fractions": [5, 100]}})
    paths.FINETUNE_METRICS.mkdir(parents=True)
    for fraction, base in ((5, 10.0), (100, 40.0)):
        for init, bonus in (("pretrained", 5.0), ("scratch", 0.0)):
            result = _result(0, fraction, init, base + bonus, base + bonus + 3)
            paths.finetune_metrics(0, fraction, init, 0).write_text(json.dumps(result))
    with pytest.raises(InputError, match="evaluate.json not found"):
        main(params)  # scored as `evaluate` scores: the 0 % row is due
    paths.EVALUATE_METRICS.write_text(json.dumps(_evaluation(12.0, 2.0)))
    main(params)
    assert json.loads(paths.SUMMARY_METRICS.read_text())["miou"]["5pct"]["pretrained"]["5shot"] == {
        "mean": 18.0, "std": 0.0, "seeds": 1}
    table = paths.SUMMARY_TABLE.read_text()
    assert "| 0% (start) | 12.00 | 15.00 | 2.00 | 5.00 |" in table
    assert "| 100% | 45.00 | 48.00 | 40.00 | 43.00 |" in table
    assert paths.FRACTION_PLOT.read_text() == (
        "fraction,pretrained,scratch\n0,12.0,2.0\n5,15.0,10.0\n100,45.0,40.0\n")

    # Scored on other episodes than `evaluate`: no 0 % row, and no need of its scores.
    paths.EVALUATE_METRICS.unlink()
    other = parse_params({"finetune": {"folds": [0], "fractions": [5, 100], "score": {"episodes": 7}}})
    main(other)
    assert "(start)" not in paths.SUMMARY_TABLE.read_text()

    # The untrained model of `evaluate` (pretrain.seed) is not the scratch start (finetune.train.seed): no
    # scratch cell in the 0 % row; only the finetuned inits get one.
    paths.EVALUATE_METRICS.write_text(json.dumps(_evaluation(12.0, 2.0)))
    reseeded = parse_params({"pretrain": {"seed": 3}, "finetune": {"folds": [0], "fractions": [5, 100]}})
    main(reseeded)
    assert "| 0% (start) | 12.00 | 15.00 | – | – |" in paths.SUMMARY_TABLE.read_text()

    paths.finetune_metrics(0, 100, "scratch", 0).unlink()
    with pytest.raises(InputError, match="fold0-100pct-scratch-seed0.json"):
        main(params)
    paths.finetune_metrics(0, 5, "scratch", 0).unlink()
    pretrained_only = parse_params({"finetune": {"folds": [0], "fractions": [5, 100], "inits": ["pretrained"]}})
    main(pretrained_only)
    assert paths.FRACTION_PLOT.read_text() == "fraction,pretrained\n0,12.0\n5,15.0\n100,45.0\n"
    paths.EVALUATE_METRICS.write_text(json.dumps({"fold1": _evaluation(12.0, 2.0)["fold0"]}))
    with pytest.raises(InputError, match="lack fold0"):
        main(pretrained_only)


def test_selection_table_lists_each_runs_chosen_step() -> None:
    from umtfss.evaluation.summary import selection_table

    chose = _result(1, 20, "pretrained", 30.0, 40.0, seed=2)
    chose["selection"] = {"chosen_step": 150, "steps": 300,
                          "base_val_miou": {"0": 48.7, "150": 52.25, "300": 51.0}}
    rows = selection_table([chose, _result(0, 5, "scratch", 1.0, 2.0)]).splitlines()
    assert rows[2:] == ["| 1 | 20% | pretrained | 2 | 150 of 300 | 48.70 | 52.25 |"]


def test_training_seeds_average_over_folds_first_then_give_mean_and_std() -> None:
    # Seed 0: folds 40 and 50 (mean 45); seed 1: folds 44 and 54 (mean 49) -> 47 ± 2.
    runs = [_result(0, 5, "pretrained", 40.0, 0.0, seed=0), _result(1, 5, "pretrained", 50.0, 0.0, seed=0),
            _result(0, 5, "pretrained", 44.0, 0.0, seed=1), _result(1, 5, "pretrained", 54.0, 0.0, seed=1)]
    cell = summarize(runs)[5]["pretrained"]["1shot"]
    assert cell == Cell(47.0, 2.0, 2)
    assert "| 5% | 47.00 ± 2.00 | 0.00 ± 0.00 |" in markdown_table(summarize(runs))
    assert fraction_csv(summarize(runs)).splitlines()[1] == "5,47.0"


def test_the_start_row_takes_the_evaluate_seeds_the_finetuned_models_were_scored_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline import paths
    from pipeline.params import parse_params
    from stages.summarize import main

    monkeypatch.chdir(tmp_path)
    paths.FINETUNE_METRICS.mkdir(parents=True)
    for init in ("pretrained", "scratch"):
        paths.finetune_metrics(0, 5, init, 0).write_text(json.dumps(_result(0, 5, init, 30.0, 33.0)))
    evaluation = _evaluation(12.0, 2.0)
    for name, (seed0, seed1) in (("pretrained", (11.0, 13.0)), ("untrained", (1.5, 2.5))):
        evaluation["fold0"]["1shot"][name]["per_seed"] = [
            {"seed": 0, "miou": seed0, "fbiou": 50.0, "episodes": 8}, {"seed": 1, "miou": seed1, "fbiou": 50.0,
                                                                       "episodes": 8}]
    paths.EVALUATE_METRICS.write_text(json.dumps(evaluation))
    subset = {"evaluate": {"seeds": [0, 1], "shots": [1]},
              "finetune": {"folds": [0], "fractions": [5], "score": {"seeds": [0]}}}
    main(parse_params(subset))
    assert "| 0% (start) | 11.00 | – | 1.50 | – |" in paths.SUMMARY_TABLE.read_text()  # seed 0's, not the mean (12, 2)

    subset["finetune"]["score"]["seeds"] = [1]
    main(parse_params(subset))
    assert "| 0% (start) | 13.00 | – | 2.50 | – |" in paths.SUMMARY_TABLE.read_text()

    subset["finetune"]["score"]["seeds"] = [2]  # not among `evaluate`'s seeds: no start row
    main(parse_params(subset))
    assert "(start)" not in paths.SUMMARY_TABLE.read_text()

    evaluation["fold0"]["1shot"]["pretrained"]["per_seed"] = []
    paths.EVALUATE_METRICS.write_text(json.dumps(evaluation))
    subset["finetune"]["score"]["seeds"] = [0]
    with pytest.raises(InputError, match=r"fold0\.1shot\.pretrained of evaluation seed\(s\) \[0\]"):
        main(parse_params(subset))
