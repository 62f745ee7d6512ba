"""A resumable training run: the one mechanism every training loop here (episodic training, selfsup) uses to
resume after a kill, checkpoint and log its curves.

A loop names the stateful parts of its run (model, optimisers, schedulers), calls :meth:`TrainingRun.resume`
before its first step, :meth:`TrainingRun.save` and :meth:`TrainingRun.log` when :func:`due`. A state holds
those parts, every process's random generators and log window, and the step (see
:mod:`umtfss.training.state`); the curves are rewound to the resumed step, so a killed and resumed run logs
exactly what an uninterrupted one does.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from dvclive import Live

from umtfss.training import distributed
from umtfss.training.live import log_metrics, rewind
from umtfss.training.state import capture_rng, clear_states, load_state, restore_rng, save_state


class Stateful(Protocol):
    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state_dict: dict[str, Any]) -> Any: ...


def due(step: int, every: int, steps: int) -> bool:
    """Whether (1-based) ``step`` of ``steps`` is one to log or checkpoint at: each ``every``-th, and the
    last."""
    return step % every == 0 or step == steps


@dataclass
class TrainingRun:
    """The states of run ``fingerprint`` in ``state_dir`` and its curves in ``live`` (written by the main
    process only); ``parts`` are saved and restored under their names."""

    state_dir: str | os.PathLike[str]
    fingerprint: str
    parts: Mapping[str, Stateful]
    live: Live | None = None
    process: distributed.Process = field(default_factory=distributed.Process)

    def resume(self) -> tuple[int, Any] | None:
        """Load this run's newest state into the parts and this process's generators, and return the steps it
        had done and this process's log window; None when there is none to resume (states of another run are
        then removed). The curves are rewound to the step either way."""
        state = load_state(self.state_dir, self.fingerprint)
        distributed.barrier()  # every process has read the folder before it may be cleared
        if state is None:
            if self.process.is_main:
                clear_states(self.state_dir)
            self._rewind(0)
            return None
        for name, part in self.parts.items():
            part.load_state_dict(state[name])
        restore_rng(state["rng"][self.process.rank])
        self._rewind(state["step"])
        return state["step"], state["window"][self.process.rank]

    def save(self, step: int, window: Any) -> None:
        """Save the state after ``step``; every process must call it (it gathers their generators and
        ``window``, what they logged since the last log), the main one writes it."""
        rng, windows = distributed.gather(capture_rng()), distributed.gather(window)
        if self.process.is_main:
            parts = {name: part.state_dict() for name, part in self.parts.items()}
            save_state(self.state_dir, {"fingerprint": self.fingerprint, "step": step, **parts, "rng": rng,
                                        "window": windows})

    def log(self, step: int, metrics: dict[str, float]) -> None:
        """Log ``metrics`` as of ``step`` to the curves (from the main process)."""
        if self.live is not None and self.process.is_main:
            log_metrics(self.live, step, metrics)

    def _rewind(self, step: int) -> None:
        if self.live is not None and self.process.is_main:
            rewind(self.live, step)
