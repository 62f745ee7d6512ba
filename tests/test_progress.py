"""umtfss.progress: compact lines off a terminal, one bar over several loops, Dask computations counted."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from umtfss.progress import bar_over, compute_with_progress, progress


def _lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    err = capsys.readouterr().err
    assert "\r" not in err  # pytest's capture is no terminal: lines, never redraws
    return err.splitlines()


def test_off_a_terminal_a_bar_prints_its_first_and_last_states(capsys: pytest.CaptureFixture[str]) -> None:
    with progress(desc="train", total=50, unit="step") as bar:
        for step in range(50):
            bar.set_postfix(loss=f"{1 / (step + 1):.4f}", refresh=False)
            bar.update()
    lines = _lines(capsys)
    assert len(lines) == 2, lines  # the 30 s interval never passed: no line in between, no repeat on close
    assert lines[0].startswith("train: 0/50 step (0%)")
    assert lines[1].startswith("train: 50/50 step (100%)") and "loss=0.0200" in lines[1]


def test_an_iterable_without_length_and_a_disabled_bar(capsys: pytest.CaptureFixture[str]) -> None:
    assert list(progress((i for i in range(3)), desc="scan", unit="img")) == [0, 1, 2]
    assert _lines(capsys)[-1].startswith("scan: 3 img [")
    assert list(progress(range(3), desc="hidden", disable=True)) == [0, 1, 2]
    assert _lines(capsys) == []


def test_one_bar_over_several_loops(capsys: pytest.CaptureFixture[str]) -> None:
    with progress(desc="evaluate", total=6, unit="episode") as bar:
        for seed in range(2):
            assert list(bar_over(range(3), bar)) == [0, 1, 2]
        assert bar.n == 6
    assert _lines(capsys)[-1].startswith("evaluate: 6/6 episode (100%)")


@pytest.mark.parametrize("scheduler", ["threads", "local-cluster"])
def test_a_dask_computation_counts_its_tasks(scheduler: str, capsys: pytest.CaptureFixture[str]) -> None:
    from umtfss.clustering.assign import dask_scheduler

    array = da.arange(12, chunks=3) * 2
    with dask_scheduler(scheduler, 1):
        result = compute_with_progress(array.sum(), desc="assign")
    assert result == int(np.arange(12).sum() * 2)
    last = [line for line in _lines(capsys) if line.startswith("assign:")][-1]
    done, total = last.removeprefix("assign: ").split(" ")[0].split("/")
    assert done == total and int(total) > 4, last  # every task of the graph, finished
