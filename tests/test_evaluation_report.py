"""Result tables are rendered from the evaluate metrics file, folds and their mean included."""

from __future__ import annotations

from umtfss.evaluation.report import evaluation_table


def _scores(miou: float, std: float) -> dict:
    return {"miou_mean": miou, "miou_std": std, "fbiou_mean": miou + 10, "fbiou_std": std,
            "per_seed": [{"seed": 0, "episodes": 250}, {"seed": 1, "episodes": 250}]}


def test_table_has_a_row_per_fold_and_the_mean_over_folds() -> None:
    result = {"baseline_threshold": {"fold0": 0.5, "fold1": 0.6},
              "fold0": {"1shot": {"pretrained": _scores(40.0, 1.0), "baseline": _scores(30.0, 2.0)}},
              "fold1": {"1shot": {"pretrained": _scores(50.0, 3.0), "baseline": _scores(20.0, 0.5)}}}
    lines = evaluation_table(result).splitlines()
    assert lines[0] == "mIoU (%), mean ± std over 2 evaluation seeds of 250 episodes each"
    assert lines[2] == "| fold | 1-shot pretrained | 1-shot baseline |"
    assert lines[4:] == ["| 0 | 40.00 ± 1.00 | 30.00 ± 2.00 |", "| 1 | 50.00 ± 3.00 | 20.00 ± 0.50 |",
                         "| mean | **45.00** | **25.00** |"]
    assert "| 0 | 50.00 ± 1.00 | 40.00 ± 2.00 |" in evaluation_table(result, "fbiou")


def test_one_seed_prints_values_without_a_std() -> None:
    one = {"miou_mean": 40.0, "miou_std": 0.0, "fbiou_mean": 50.0, "fbiou_std": 0.0,
           "per_seed": [{"seed": 0, "episodes": 1000}]}
    lines = evaluation_table({"fold0": {"1shot": {"pretrained": one}}}).splitlines()
    assert lines[0] == "mIoU (%), one evaluation seed of 1000 episodes"
    assert lines[4:] == ["| 0 | 40.00 |"]
