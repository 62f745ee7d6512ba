"""Reading a backbone checkpoint file into a state dict, with one clear error for every way it can fail."""

from __future__ import annotations

from pathlib import Path

import torch

from umtfss.errors import CheckpointError


def read_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """The state dict in ``path`` (a bare state dict, or one under a ``state_dict`` key)."""
    if not path.is_file():
        raise CheckpointError(f"backbone weights {path} not found")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a file that is not a checkpoint
        raise CheckpointError(f"backbone weights {path} cannot be read as a torch checkpoint: {exc}") from None
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or not state:
        raise CheckpointError(f"backbone weights {path} hold no state dict")
    return state


def check_fits(state: dict[str, torch.Tensor], expected: dict[str, torch.Size], weights: str, arch: str) -> None:
    """``CheckpointError`` unless ``state`` has every key of ``expected`` with its shape."""
    mismatched = sorted(k for k in expected if k in state and state[k].shape != expected[k])
    missing = sorted(set(expected) - set(state))
    if mismatched or missing:
        detail = f"shape mismatch at {mismatched[:3]}" if mismatched else f"missing keys {missing[:3]}"
        raise CheckpointError(f"backbone weights {weights} are not a {arch} checkpoint ({detail})")
