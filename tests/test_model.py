"""The whole few-shot segmenter on CPU: shapes, gradients, frozen backbone, both cross-attention variants."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from umtfss.model import FewShotSegmenter
from umtfss.model.config import ModelConfig

TINY = ModelConfig.model_validate({
    "backbone": {"arch": "resnet18"}, "mid_layers": ["layer2", "layer3"], "dim": 32, "heads": 4,
    "k_fg": 8, "k_bg": 16, "hamming_iters": 3,
})


def _episode(batch: int, shots: int, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    query = torch.randn(batch, 3, size, size, generator=generator)
    supports = torch.randn(batch, shots, 3, size, size, generator=generator)
    masks = torch.zeros(batch, shots, size, size, dtype=torch.int64)
    masks[..., size // 4 : size // 2, size // 8 : size // 2] = 1
    masks[..., -size // 8 :] = 255  # letterbox padding
    return query, supports, masks


@pytest.mark.parametrize(("shots", "cross_attention"), [(1, "prototype"), (5, "prototype"), (1, "vanilla")])
def test_training_step_trains_all_but_the_frozen_backbone(shots: int, cross_attention: str) -> None:
    torch.manual_seed(0)
    model = FewShotSegmenter(TINY.model_copy(update={"cross_attention": cross_attention})).train()
    backbone_state = {name: t.clone() for name, t in model.backbone.state_dict().items()}
    query, supports, masks = _episode(batch=2, shots=shots, size=64)

    logits = model(query, supports, masks)
    assert logits.shape == (2, 2, 64, 64) and torch.isfinite(logits).all()
    F.cross_entropy(logits, masks[:, 0], ignore_index=255).backward()

    assert not model.backbone.training  # BatchNorm stays in eval mode under model.train()
    for name, tensor in model.backbone.state_dict().items():
        assert torch.equal(tensor, backbone_state[name]), name  # running statistics included
    assert all(p.grad is None and not p.requires_grad for p in model.backbone.parameters())
    other, transformer = model.parameter_groups()
    for group in (other, transformer):
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in group)
        assert sum(p.grad.abs().sum() for p in group) > 0


def test_parameter_groups_split_all_trainable_parameters() -> None:
    model = FewShotSegmenter(TINY)
    other, transformer = model.parameter_groups()
    assert {id(p) for p in transformer} == {id(p) for p in model.transformer.parameters()}
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert {id(p) for p in other} | {id(p) for p in transformer} == trainable
    assert not {id(p) for p in other} & {id(p) for p in transformer}
    assert not trainable & {id(p) for p in model.backbone.parameters()}


def test_eval_is_deterministic_at_sizes_off_the_stride_and_with_degenerate_supports() -> None:
    model = FewShotSegmenter(TINY).eval()
    query, supports, masks = _episode(batch=3, shots=2, size=70)
    masks[1] = 0  # no foreground in any shot
    masks[2, 0] = 255  # one shot entirely ignored
    masks[2, 1] = 255
    with torch.no_grad():
        logits = model(query, supports, masks)
        again = model(query, supports, masks)
    assert logits.shape == (3, 2, 70, 70) and torch.isfinite(logits).all()
    assert torch.equal(logits, again)


def test_mismatched_shapes_are_rejected() -> None:
    model = FewShotSegmenter(TINY)
    query, supports, masks = _episode(batch=1, shots=1, size=64)
    with pytest.raises(ValueError, match="support_masks"):
        model(query, supports, masks[..., :32])
