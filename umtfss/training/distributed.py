"""Data-parallel training across processes with ``torch.distributed``, set up from ``torchrun``'s environment.

Launch any training stage on N processes (GPUs, or CPU processes with gloo) of one machine with::

    torchrun --nproc_per_node N -m stages.pretrain

``torchrun`` sets ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK`` and the rendezvous address; a plain ``python -m``
run has none of them and trains in one process. Every process builds the same model and dataset, trains on
its own share of the episodes (``batch_size`` is the global batch, split evenly), and only rank 0 writes
checkpoints, logs and models.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Process:
    """This process's place in the job; ``world_size == 1`` when not launched by ``torchrun``."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def current() -> Process:
    """The process as ``torchrun`` describes it in the environment (rank 0 of 1 without it)."""
    return Process(
        rank=int(os.environ.get("RANK", 0)),
        world_size=int(os.environ.get("WORLD_SIZE", 1)),
        local_rank=int(os.environ.get("LOCAL_RANK", 0)),
    )


def is_main_process() -> bool:
    """Whether this process writes the job's outputs (always true without ``torchrun``)."""
    return current().is_main


@contextlib.contextmanager
def session(device: torch.device) -> Iterator[Process]:
    """Within: joined to the process group when launched with several processes (NCCL on CUDA, gloo on the
    CPU). The group is left on exit unless it was already joined by the caller."""
    process = current()
    joins = process.distributed and not dist.is_initialized()
    if joins:
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    try:
        yield process
    finally:
        if joins:
            # Gloo's worker thread frees each finished collective, which can need the GIL; tearing the group
            # down right after the last one raced it (joining that thread while holding the GIL: a deadlock
            # seen once in a few runs). Waiting on one more barrier releases the GIL until the earlier
            # collectives are freed, and the barrier itself holds no Python tensors.
            dist.barrier()
            dist.destroy_process_group()


def all_sum(values: torch.Tensor) -> torch.Tensor:
    """The element-wise sum of ``values`` over all processes (``values`` itself in one process)."""
    if not dist.is_initialized():
        return values
    # NCCL reduces only tensors on the GPU
    on_backend = values.cuda() if dist.get_backend() == "nccl" else values
    dist.all_reduce(on_backend, op=dist.ReduceOp.SUM)
    return on_backend.to(values.device)


def gather(obj: Any) -> list[Any]:
    """Every process's ``obj``, indexed by rank (``[obj]`` in one process)."""
    if not dist.is_initialized():
        return [obj]
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()
