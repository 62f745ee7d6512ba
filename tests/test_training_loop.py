"""Episodic training: it learns, it logs to dvclive, and a hard-killed run resumes to the same weights."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from dvclive import Live

from training_toys import TINY_MODEL, SquareEpisodes, ToySegmenter, toy_config
from umtfss.model import FewShotSegmenter
from umtfss.training.loop import train
from umtfss.training.state import clear_states, snapshots

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def _history(live_dir: Path, name: str) -> list[tuple[int, float]]:
    with open(live_dir / "plots" / "metrics" / f"{name}.tsv", newline="") as fobj:
        return [(int(row["step"]), float(row[name])) for row in csv.DictReader(fobj, delimiter="\t")]


def _train_toy(state_dir: Path, seed: int = 0, **cfg: object) -> torch.nn.Module:
    torch.manual_seed(seed)
    return train(ToySegmenter(), SquareEpisodes(), toy_config(seed=seed, **cfg), state_dir=state_dir)


def test_short_run_lowers_the_loss_and_logs_curves_to_dvclive(tmp_path: Path) -> None:
    torch.manual_seed(0)
    live = Live(str(tmp_path / "live"), resume=True, save_dvc_exp=False, dvcyaml=None)
    train(
        ToySegmenter(),
        SquareEpisodes(),
        toy_config(steps=30, log_every=5, checkpoint_every=10),
        state_dir=tmp_path / "state",
        live=live,
    )

    loss, iou = _history(tmp_path / "live", "loss"), _history(tmp_path / "live", "fg_iou")
    assert [step for step, _ in loss] == [5, 10, 15, 20, 25, 30]
    assert loss[-1][1] < 0.5 * loss[0][1]
    assert iou[-1][1] > 0.4 > iou[0][1]
    summary = json.loads((tmp_path / "live" / "metrics.json").read_text())
    assert summary["step"] == 30 and summary["lr_sgd"] == 0.0
    assert not list(tmp_path.rglob("dvc.yaml"))  # the pipeline's dvc.yaml declares the curves, not dvclive
    # the newest state and one previous are kept
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == [
        "state-000000020.pt",
        "state-000000030.pt",
    ]


def _run(tmp_path: Path, name: str, model: str, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT)]), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [
            sys.executable,
            str(TESTS / "training_toys.py"),
            "--model",
            model,
            "--state-dir",
            str(tmp_path / f"{name}-state"),
            "--out",
            str(tmp_path / f"{name}.pt"),
            "--live",
            str(tmp_path / f"{name}-live"),
            "--config",
            json.dumps({"steps": 12, "checkpoint_every": 5, "log_every": 2}),
            *extra,
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("model", ["toy", "real"])
def test_a_run_killed_midway_resumes_to_the_same_weights_and_curves(tmp_path: Path, model: str) -> None:
    assert _run(tmp_path, "whole", model).returncode == 0
    # 4 episodes per step: fetch 29 is step 8's first, after the state of step 5 and the log of step 6.
    killed = _run(tmp_path, "resumed", model, "--kill-after-fetches", "29")
    assert killed.returncode == -9, killed.stderr
    assert not (tmp_path / "resumed.pt").exists()
    assert [p.name for p in (tmp_path / "resumed-state").glob("*.pt")] == ["state-000000005.pt"]
    assert [step for step, _ in _history(tmp_path / "resumed-live", "loss")] == [2, 4, 6]
    resumed = _run(tmp_path, "resumed", model)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from" in resumed.stderr

    whole, again = torch.load(tmp_path / "whole.pt"), torch.load(tmp_path / "resumed.pt")
    assert whole.keys() == again.keys()
    for name in whole:
        assert torch.equal(whole[name], again[name]), name
    for metric in ("loss", "fg_iou", "lr_adamw"):
        assert _history(tmp_path / "resumed-live", metric) == _history(tmp_path / "whole-live", metric)


def test_a_state_of_another_run_is_dropped_and_training_starts_over(tmp_path: Path) -> None:
    first = _train_toy(tmp_path / "state", steps=6, seed=0)
    # Same folder, other config (seed): the seed-0 states must not be resumed.
    other = _train_toy(tmp_path / "state", steps=6, seed=1)
    fresh = _train_toy(tmp_path / "fresh", steps=6, seed=1)
    assert _equal(other, fresh)
    assert not _equal(other, first)


def test_a_finished_state_is_taken_as_is_whatever_the_initial_weights(tmp_path: Path) -> None:
    trained = _train_toy(tmp_path / "state", steps=6)
    torch.manual_seed(123)  # another init: a resumed run must overwrite it with the state's weights
    again = train(ToySegmenter(), SquareEpisodes(), toy_config(steps=6), state_dir=tmp_path / "state")
    assert _equal(again, trained)


def _equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(
        torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )


def test_snapshots_keep_the_start_every_nth_step_and_the_last_and_survive_a_kill(tmp_path: Path) -> None:
    torch.manual_seed(0)
    start = ToySegmenter()
    initial = {name: tensor.clone() for name, tensor in start.state_dict().items()}
    trained = train(start, SquareEpisodes(), toy_config(steps=12), state_dir=tmp_path / "state",
                    snapshot_every=5)
    kept = snapshots(tmp_path / "state")
    assert list(kept) == [0, 5, 10, 12]
    for step, expected in ((0, initial), (12, trained.state_dict())):
        weights = torch.load(kept[step])
        assert all(torch.equal(weights[name], expected[name]) for name in expected), step
    assert not torch.equal(torch.load(kept[5])["head.weight"], torch.load(kept[10])["head.weight"])

    # Another cadence is another run: not resumed from the finished state, so no stale snapshot is kept.
    torch.manual_seed(0)
    train(ToySegmenter(), SquareEpisodes(), toy_config(steps=12), state_dir=tmp_path / "state", snapshot_every=4)
    assert list(snapshots(tmp_path / "state")) == [0, 4, 8, 12]

    # Killed in step 8 (after the state of step 5): the resumed run rewrites the snapshots it redoes.
    config = json.dumps({"steps": 12, "checkpoint_every": 5, "log_every": 2})
    for name, extra in (("whole", ()), ("resumed", ("--kill-after-fetches", "29")), ("resumed", ())):
        _run(tmp_path, name, "toy", "--snapshot-every", "3", "--config", config, *extra)
    whole, resumed = snapshots(tmp_path / "whole-state"), snapshots(tmp_path / "resumed-state")
    assert list(whole) == list(resumed) == [0, 3, 6, 9, 12]
    for step in whole:
        a, b = torch.load(whole[step]), torch.load(resumed[step])
        assert all(torch.equal(a[name], b[name]) for name in a), step

    clear_states(tmp_path / "whole-state")
    assert not snapshots(tmp_path / "whole-state") and not list((tmp_path / "whole-state").glob("state-*"))


def test_backbone_features_kept_across_steps_give_the_weights_of_a_run_without(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """48 episodes drawn from 16 that name their 32 views: the backbone sees each view once, and the weights
    are those of a run that recomputes every view (up to float rounding of batches of other composition)."""
    episodes = SquareEpisodes(size=64, view_ids=True)
    torch.manual_seed(0)
    initial = FewShotSegmenter(TINY_MODEL).state_dict()
    trained = {}
    for cache_mb in (0, 64):
        torch.manual_seed(0)
        with caplog.at_level("INFO", logger="umtfss.training.loop"):
            model = train(FewShotSegmenter(TINY_MODEL), episodes, toy_config(feature_cache_mb=cache_mb),
                          state_dir=tmp_path / f"cache{cache_mb}")
        trained[cache_mb] = model.state_dict()
    assert caplog.text.count("distinct views computed") == 1
    assert "backbone features of 32 distinct views computed" in caplog.text
    without, kept = trained[0], trained[64]
    assert any(not torch.equal(initial[name], without[name]) for name in without)  # it did train
    for name in without:
        torch.testing.assert_close(kept[name], without[name], rtol=1e-4, atol=1e-5, msg=name)
