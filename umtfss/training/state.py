"""Resumable training state: everything a killed run needs to continue exactly where it was saved.

A state file ``<state_dir>/state-<step>.pt`` holds the model's weights, both optimisers and schedulers, the
random generators of every process (python, numpy, torch, CUDA), the step and the run's fingerprint. States
are written atomically; the newest and one previous are kept. A state of another run (a different
fingerprint: other params or inputs) is never resumed: the folder is cleared and training starts over.

A run may also keep weight snapshots ``<state_dir>/weights-<step>.pt`` (the model's ``state_dict`` alone), all
of them, for choosing a step after training (:mod:`umtfss.evaluation.selection`); they are cleared with the
states.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from umtfss.io import atomic_output, remove_stale_partials

log = logging.getLogger(__name__)

_STATE_NAME = re.compile(r"state-(\d+)\.pt")
_SNAPSHOT_NAME = re.compile(r"weights-(\d+)\.pt")
KEEP = 2  # the newest state, and one previous in case the newest cannot be read


def fingerprint(parts: dict[str, Any]) -> str:
    """A stable hash of JSON-able ``parts`` (configs, input hashes, world size): the identity of a run."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def content_hash(paths: Iterable[str | os.PathLike[str]]) -> str:
    """SHA-256 over the contents of files and of every file under folders, with their relative names."""
    digest = hashlib.sha256()
    for root in map(Path, paths):
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for file in files:
            digest.update(f"{root.name}/{file.relative_to(root) if root.is_dir() else ''}\0".encode())
            with open(file, "rb") as fobj:
                while chunk := fobj.read(1 << 20):
                    digest.update(chunk)
    return digest.hexdigest()


def capture_rng() -> dict[str, Any]:
    """This process's random generator states, in types ``torch.load(weights_only=True)`` accepts."""
    numpy_state = np.random.get_state(legacy=False)
    numpy_state["state"]["key"] = numpy_state["state"]["key"].tolist()
    return {
        "python": random.getstate(),
        "numpy": numpy_state,
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_rng(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    numpy_state = dict(state["numpy"])
    numpy_state["state"] = {**numpy_state["state"], "key": np.asarray(numpy_state["state"]["key"], np.uint32)}
    np.random.set_state(numpy_state)
    torch.set_rng_state(state["torch"])
    if state["cuda"]:
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    """Seed python's, numpy's and torch's global generators (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def save_state(state_dir: str | os.PathLike[str], state: dict[str, Any]) -> Path:
    """Write ``state`` (which has a ``step``) atomically, then drop all but the newest :data:`KEEP` states."""
    state_dir = Path(state_dir)
    path = state_dir / f"state-{state['step']:09d}.pt"
    with atomic_output(path) as tmp:
        torch.save(state, tmp)
    for old in _state_files(state_dir)[KEEP:]:
        old.unlink(missing_ok=True)
    return path


def load_state(state_dir: str | os.PathLike[str], run: str) -> dict[str, Any] | None:
    """The newest readable state of run fingerprint ``run`` in ``state_dir``, or None to start over.

    States of another run are reported and left for :func:`clear_states`.
    """
    for path in _state_files(Path(state_dir)):
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # a state is only a shortcut: an unreadable one is skipped, not fatal
            log.warning("skipping unreadable training state %s: %s", path, exc)
            continue
        if state.get("fingerprint") != run:
            log.info("training state %s is of another run (params or inputs changed): starting over", path)
            return None
        log.info("resuming from %s (step %d)", path, state["step"])
        return state
    return None


def save_snapshot(state_dir: str | os.PathLike[str], step: int, model: torch.nn.Module) -> Path:
    """Write the weights of ``model`` after ``step`` atomically (step 0: before training)."""
    path = Path(state_dir) / f"weights-{step:09d}.pt"
    with atomic_output(path) as tmp:
        torch.save({name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}, tmp)
    return path


def snapshots(state_dir: str | os.PathLike[str]) -> dict[int, Path]:
    """The weight snapshots in ``state_dir`` by step, ascending."""
    return dict(sorted(_numbered(Path(state_dir), _SNAPSHOT_NAME)))


def clear_states(state_dir: str | os.PathLike[str]) -> None:
    """Remove every state and snapshot (and leftovers of killed writes) from ``state_dir``."""
    state_dir = Path(state_dir)
    if state_dir.is_dir():
        remove_stale_partials(state_dir)
        for path in [*_state_files(state_dir), *snapshots(state_dir).values()]:
            path.unlink(missing_ok=True)


def _state_files(state_dir: Path) -> list[Path]:
    """State files, newest (highest step) first."""
    return [p for _, p in sorted(_numbered(state_dir, _STATE_NAME), reverse=True)]


def _numbered(folder: Path, pattern: re.Pattern[str]) -> list[tuple[int, Path]]:
    """(step, path) of the files of ``folder`` whose name matches ``pattern`` (its group 1: the step)."""
    if not folder.is_dir():
        return []
    return [(int(m.group(1)), p) for p in folder.iterdir() if (m := pattern.fullmatch(p.name))]
