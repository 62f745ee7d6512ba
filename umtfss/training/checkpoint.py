"""Model checkpoints (``models/*.pt``): one self-describing file per trained few-shot segmenter.

A checkpoint is a plain dict readable with ``torch.load(weights_only=True)``::

    format          "umtfss-fss"
    format_version  1
    model_config    ModelConfig as a JSON-able dict: enough to rebuild the architecture
    state_dict      every weight and buffer of the model, the frozen backbone included, so loading never needs
                    the backbone's original weights file (which may not exist where the checkpoint is used)
    meta            JSON-able dict: stage, step, params, ...

Loading checks each of these and raises :class:`CheckpointError` naming the file and what differs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError
from torch import nn

from umtfss.errors import CheckpointError
from umtfss.io import atomic_output
from umtfss.model import FewShotSegmenter
from umtfss.model.config import ModelConfig

FORMAT = "umtfss-fss"
FORMAT_VERSION = 1


def save_model(
    path: str | os.PathLike[str], model: nn.Module, cfg: ModelConfig, meta: dict[str, Any]
) -> None:
    """Write ``model`` (built from ``cfg``) and ``meta`` to ``path`` atomically."""
    try:
        meta = json.loads(json.dumps(meta))  # what weights_only loading accepts; tuples become lists
    except TypeError as exc:
        raise ValueError(f"checkpoint meta must be JSON-serialisable: {exc}") from None
    checkpoint = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_config": cfg.model_dump(mode="json"),
        "state_dict": {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()},
        "meta": meta,
    }
    with atomic_output(path) as tmp:
        torch.save(checkpoint, tmp)


def read_checkpoint(
    path: str | os.PathLike[str], expected: ModelConfig | None = None
) -> tuple[ModelConfig, dict[str, torch.Tensor], dict[str, Any]]:
    """The checked ``(model_config, state_dict, meta)`` of a checkpoint file, without building a model.

    ``expected``: the config the caller will use the model as; any difference is an error naming the keys.
    """
    path = Path(path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: checkpoint not found") from None
    except Exception as exc:  # torch raises several unrelated types for files that are not its own
        raise CheckpointError(
            f"{path} is not a readable torch checkpoint: {type(exc).__name__}: {exc}"
        ) from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        found = checkpoint.get("format") if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise CheckpointError(f"{path} is not a umtfss checkpoint (format {found!r}, expected {FORMAT!r})")
    version = checkpoint.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format_version {version!r}; this umtfss reads version {FORMAT_VERSION}"
        )
    missing = sorted({"model_config", "state_dict", "meta"} - checkpoint.keys())
    if missing:
        raise CheckpointError(f"{path} lacks checkpoint entries {missing}")
    try:
        cfg = ModelConfig.model_validate(checkpoint["model_config"])
    except ValidationError as exc:
        raise CheckpointError(f"{path} holds an invalid model_config: {exc}") from None
    if expected is not None and cfg != expected:
        raise CheckpointError(f"{path} is of another model config: {config_differences(cfg, expected)}")
    return cfg, checkpoint["state_dict"], checkpoint["meta"]


def load_model(
    path: str | os.PathLike[str], expected: ModelConfig | None = None
) -> tuple[FewShotSegmenter, dict[str, Any]]:
    """The checkpoint's model with its weights (in eval mode, on the CPU) and its meta."""
    cfg, state_dict, meta = read_checkpoint(path, expected)
    # The checkpoint holds the backbone's weights too: build it from a random init, not from its weights file.
    model = FewShotSegmenter(
        cfg.model_copy(update={"backbone": cfg.backbone.model_copy(update={"weights": None})})
    )
    load_weights(path, model, state_dict)
    return model.eval(), meta


def load_weights(path: str | os.PathLike[str], model: nn.Module, state_dict: dict[str, torch.Tensor]) -> None:
    """``model.load_state_dict(state_dict)``, strictly, with a mismatch reported as a CheckpointError."""
    own = model.state_dict()
    missing = sorted(own.keys() - state_dict.keys())
    unexpected = sorted(state_dict.keys() - own.keys())
    shapes = sorted(
        f"{name} {tuple(state_dict[name].shape)} vs {tuple(own[name].shape)}"
        for name in own.keys() & state_dict.keys()
        if state_dict[name].shape != own[name].shape
    )
    if missing or unexpected or shapes:
        parts = [
            f"missing {_preview(missing)}" if missing else "",
            f"unexpected {_preview(unexpected)}" if unexpected else "",
            f"shape (checkpoint vs model) {_preview(shapes)}" if shapes else "",
        ]
        raise CheckpointError(f"{path}: weights do not fit the model: " + "; ".join(p for p in parts if p))
    model.load_state_dict(state_dict)


def config_differences(found: ModelConfig, expected: ModelConfig) -> str:
    """``key: found vs expected`` for every differing (dotted) key of two model configs."""
    a, b = _flatten(found.model_dump(mode="json")), _flatten(expected.model_dump(mode="json"))
    return "; ".join(
        f"{key}: checkpoint {a.get(key)!r}, expected {b.get(key)!r}"
        for key in sorted(a.keys() | b.keys())
        if a.get(key) != b.get(key)
    )


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _preview(names: list[str], limit: int = 5) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more
