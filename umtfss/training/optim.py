"""The paper's two optimisers: SGD for the convolutional parts, AdamW for the Transformer blocks.

Both decay with the poly schedule ``lr = base_lr * (1 - step / steps) ** poly_power`` and share nothing else:
no per-group learning-rate multipliers beyond what the config says.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.optim.lr_scheduler import PolynomialLR

from umtfss.training.config import TrainConfig


def split_parameters(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """``model.parameter_groups()``, checked to cover every trainable parameter exactly once.

    A trainable parameter missing from both groups would silently never be updated; one in both would be
    updated twice per step.
    """
    other, transformer = model.parameter_groups()  # type: ignore[operator]
    ids = [id(p) for p in [*other, *transformer]]
    if len(ids) != len(set(ids)):
        raise ValueError("parameter_groups() lists a parameter twice (in one group or in both)")
    grouped = set(ids)
    names = {id(p): name for name, p in model.named_parameters()}
    missing = sorted(names[id(p)] for p in model.parameters() if p.requires_grad and id(p) not in grouped)
    if missing:
        raise ValueError(f"trainable parameters in neither group of parameter_groups(): {missing}")
    frozen = sorted(names.get(id(p), "?") for p in [*other, *transformer] if not p.requires_grad)
    if frozen:
        raise ValueError(f"parameter_groups() lists frozen parameters: {frozen}")
    return other, transformer


@dataclass
class Optimizers:
    """SGD + AdamW and their poly schedulers, stepped together once per training step."""

    sgd: torch.optim.SGD
    adamw: torch.optim.AdamW
    sgd_schedule: PolynomialLR
    adamw_schedule: PolynomialLR

    def zero_grad(self) -> None:
        self.sgd.zero_grad(set_to_none=True)
        self.adamw.zero_grad(set_to_none=True)

    def step(self) -> None:
        """One optimiser step of both, then one scheduler step of both."""
        self.sgd.step()
        self.adamw.step()
        self.sgd_schedule.step()
        self.adamw_schedule.step()

    def learning_rates(self) -> dict[str, float]:
        return {"lr_sgd": self.sgd.param_groups[0]["lr"], "lr_adamw": self.adamw.param_groups[0]["lr"]}

    def state_dict(self) -> dict[str, Any]:
        return {
            "sgd": self.sgd.state_dict(),
            "adamw": self.adamw.state_dict(),
            "sgd_schedule": self.sgd_schedule.state_dict(),
            "adamw_schedule": self.adamw_schedule.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sgd.load_state_dict(state["sgd"])
        self.adamw.load_state_dict(state["adamw"])
        self.sgd_schedule.load_state_dict(state["sgd_schedule"])
        self.adamw_schedule.load_state_dict(state["adamw_schedule"])


def build_optimizers(model: nn.Module, cfg: TrainConfig) -> Optimizers:
    """SGD over the non-Transformer parameters and AdamW over the Transformer ones, poly-decayed to 0 at
    ``cfg.steps``."""
    other, transformer = split_parameters(model)
    sgd = torch.optim.SGD(other, lr=cfg.sgd.lr, momentum=cfg.sgd.momentum, weight_decay=cfg.sgd.weight_decay)
    adamw = torch.optim.AdamW(transformer, lr=cfg.adamw.lr, weight_decay=cfg.adamw.weight_decay)
    return Optimizers(
        sgd=sgd,
        adamw=adamw,
        sgd_schedule=PolynomialLR(sgd, total_iters=cfg.steps, power=cfg.poly_power),
        adamw_schedule=PolynomialLR(adamw, total_iters=cfg.steps, power=cfg.poly_power),
    )
