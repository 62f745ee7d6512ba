"""What the training stages (pretrain, finetune) share around :func:`umtfss.training.loop.train`: the identity
of a run, which its resumable states carry, and the model file with its meta."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from torch import nn

from pipeline.params import Params
from umtfss.backbones.files import weights_inputs
from umtfss.training.checkpoint import save_model
from umtfss.training.state import content_hash


def run_identity(params: Params, inputs: Iterable[str | os.PathLike[str]], **run: Any) -> dict[str, Any]:
    """What defines a training run besides its train config: the model config, ``run`` (JSON-able: fold,
    fraction, init) and the contents of ``inputs`` and of the backbone's initial weights, so that a state of
    another run is never resumed."""
    inputs = [*inputs, *weights_inputs(params.model.backbone)]
    return {"model": params.model.model_dump(mode="json"), **run, "inputs": content_hash(inputs)}


def save_trained(path: str | os.PathLike[str], model: nn.Module, params: Params, *, stage: str, steps: int,
                 **run: Any) -> None:
    """Write the trained ``model`` with a meta naming ``stage``, ``steps``, ``run`` and the params sections
    that made it (``model`` and the stage's own)."""
    meta = {
        "stage": stage,
        "step": steps,
        **run,
        "params": {
            "model": params.model.model_dump(mode="json"),
            stage: getattr(params, stage).model_dump(mode="json"),
        },
    }
    save_model(path, model, params.model, meta)
