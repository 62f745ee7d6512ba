"""Which torch device a stage runs on: one rule for extraction, training, evaluation and prediction."""

from __future__ import annotations

import torch

from umtfss.errors import UmtfssError


def resolve_device(kind: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> CUDA when a GPU is usable, else CPU. Under ``torchrun`` each process takes GPU ``local_rank``."""
    if kind == "auto":
        kind = "cuda" if torch.cuda.is_available() else "cpu"
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise UmtfssError("device 'cuda' was asked for, but torch sees no CUDA GPU (use 'auto' or 'cpu')")
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device(kind)
