"""Data-parallel training under ``torchrun`` on the CPU (gloo): two processes train as one would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import torch

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
CONFIG = json.dumps({"steps": 6, "batch_size": 4, "checkpoint_every": 3, "log_every": 3})


def _train(tmp_path: Path, name: str, launcher: list[str]) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT)]), "OMP_NUM_THREADS": "1"}
    # A session of its own, so that a hung run's workers can be killed with their launcher.
    with subprocess.Popen(
        [
            *launcher,
            str(TESTS / "training_toys.py"),
            "--state-dir",
            str(tmp_path / f"{name}-state"),
            "--out",
            str(tmp_path / f"{name}-{{rank}}.pt"),
            "--config",
            CONFIG,
            "--dropout",
            "0",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            output, _ = process.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise
    assert process.returncode == 0, output


def test_two_processes_match_one_process_with_the_same_global_batch(tmp_path: Path) -> None:
    _train(
        tmp_path,
        "ddp",
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone"],
    )
    _train(tmp_path, "single", [sys.executable])

    rank0, rank1 = torch.load(tmp_path / "ddp-0.pt"), torch.load(tmp_path / "ddp-1.pt")
    single = torch.load(tmp_path / "single-0.pt")
    for name in single:
        assert torch.equal(rank0[name], rank1[name]), f"ranks diverged on {name}"
        # Each process averages the loss over its half of the batch (no ignored pixels), DDP averages the
        # halves' gradients: the full batch's gradient up to float rounding.
        torch.testing.assert_close(rank0[name], single[name], rtol=1e-4, atol=1e-5, msg=name)
    # Only rank 0 writes states: one file per checkpoint step, from a fingerprint that names the world size.
    assert sorted(p.name for p in (tmp_path / "ddp-state").iterdir()) == [
        "state-000000003.pt",
        "state-000000006.pt",
    ]
    state = torch.load(tmp_path / "ddp-state" / "state-000000006.pt", weights_only=True)
    assert len(state["rng"]) == 2 and not torch.equal(state["rng"][0]["torch"], state["rng"][1]["torch"])
