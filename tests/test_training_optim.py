"""The two optimisers: which parameters each one steps, and the poly decay."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from training_toys import SquareEpisodes, ToySegmenter, toy_config
from umtfss.training.optim import build_optimizers


def test_transformer_parameters_only_in_adamw_and_the_rest_only_in_sgd() -> None:
    model = ToySegmenter()
    optimizers = build_optimizers(model, toy_config())
    in_sgd = {id(p) for group in optimizers.sgd.param_groups for p in group["params"]}
    in_adamw = {id(p) for group in optimizers.adamw.param_groups for p in group["params"]}

    assert in_adamw == {id(p) for p in model.mixer.parameters()}
    assert in_sgd == {id(p) for p in [*model.encoder.parameters(), *model.head.parameters()]}
    assert not in_sgd & {id(p) for p in model.stem.parameters()}  # the frozen stem is stepped by neither
    sgd, adamw = optimizers.sgd.param_groups[0], optimizers.adamw.param_groups[0]
    assert (sgd["lr"], sgd["momentum"], sgd["weight_decay"]) == (0.2, 0.9, 1e-4)
    assert (adamw["lr"], adamw["weight_decay"]) == (1e-2, 1e-2)


def test_a_trainable_parameter_in_neither_group_is_an_error() -> None:
    model = ToySegmenter()
    model.extra = torch.nn.Linear(2, 2)  # trainable, but parameter_groups() does not know it
    with pytest.raises(ValueError, match=r"neither group.*extra\.weight"):
        build_optimizers(model, toy_config())


def test_poly_decay_over_real_steps_reaches_zero_at_the_last_step() -> None:
    cfg = toy_config(steps=10, poly_power=0.9)
    model = ToySegmenter()
    optimizers = build_optimizers(model, cfg)
    episode = SquareEpisodes(n=1)[0]
    rates = []
    for _ in range(cfg.steps):
        rates.append(optimizers.learning_rates())
        logits = model(
            episode["query_image"][None], episode["support_images"][None], episode["support_masks"][None]
        )
        optimizers.zero_grad()
        F.cross_entropy(logits, episode["query_mask"][None]).backward()
        optimizers.step()

    for step, rate in enumerate(rates):
        factor = (1 - step / cfg.steps) ** cfg.poly_power
        assert rate["lr_sgd"] == pytest.approx(cfg.sgd.lr * factor)
        assert rate["lr_adamw"] == pytest.approx(cfg.adamw.lr * factor)
    assert rates[-1]["lr_sgd"] < 0.2 * cfg.sgd.lr
    assert optimizers.learning_rates() == {"lr_sgd": 0.0, "lr_adamw": 0.0}
