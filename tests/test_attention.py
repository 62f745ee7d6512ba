"""Attention, Transformer blocks and the query/support Transformer in its two cross-attention variants."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from umtfss.model.config import ModelConfig
from umtfss.model.masks import BACKGROUND, FOREGROUND, IGNORE
from umtfss.model.prototypes import PrototypeGrouper
from umtfss.model.transformer import Attention, QuerySupportTransformer, TransformerBlock, sine_positions

DIM, HEADS = 32, 4


def _reference(attention: Attention, query: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Multi-head attention of ``query`` over ``tokens`` spelled out with the module's weights."""
    def heads(x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(-1, (HEADS, -1)).transpose(1, 2)

    q, k, v = heads(attention.q(query)), heads(attention.k(tokens)), heads(attention.v(tokens))
    out = F.scaled_dot_product_attention(q, k, v)
    return attention.out(out.transpose(1, 2).flatten(2))


def test_cross_attention_to_one_prototype_per_token_equals_attention_to_the_raw_tokens() -> None:
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randn(2, 12, DIM, generator=generator)
    labels = torch.tensor([[FOREGROUND] * 5 + [BACKGROUND] * 7, [FOREGROUND] * 9 + [BACKGROUND] * 3])
    prototypes, valid = PrototypeGrouper(DIM, k_fg=12, k_bg=12, bits=64, iterations=3, seed=0)(tokens, labels)
    attention = Attention(DIM, HEADS).eval()
    query = torch.randn(2, 20, DIM, generator=generator)
    expected = _reference(attention, query, tokens)
    torch.testing.assert_close(attention(query, prototypes, prototypes, valid), expected)


def test_a_query_with_no_valid_key_gets_zero_attention_and_finite_gradients() -> None:
    attention = Attention(DIM, HEADS)
    query = torch.randn(2, 5, DIM, requires_grad=True)
    keys = torch.randn(2, 6, DIM)
    valid = torch.tensor([[True] * 6, [False] * 6])
    out = attention(query, keys, keys, valid)
    assert torch.equal(out[1], torch.zeros(5, DIM)) and out[0].abs().sum() > 0
    out.sum().backward()
    assert torch.isfinite(query.grad).all()


def test_block_self_attention_uses_positions_and_keeps_shape() -> None:
    block = TransformerBlock(DIM, HEADS, dropout=0.1).eval()
    x = torch.randn(2, 16, DIM)
    position = sine_positions(4, 4, DIM, x.device)
    out = block(x, position=position)
    assert out.shape == x.shape and torch.isfinite(out).all()
    assert not torch.allclose(out, block(x))  # the encoding changes what attends to what
    assert torch.unique(position, dim=0).shape[0] == 16  # every cell has its own code


def test_prototype_and_vanilla_transformers_agree_when_every_token_is_a_prototype() -> None:
    cfg = ModelConfig(dim=DIM, heads=HEADS, blocks=2, k_fg=64, k_bg=64)
    prototype = QuerySupportTransformer(cfg).eval()
    vanilla = QuerySupportTransformer(cfg.model_copy(update={"cross_attention": "vanilla"})).eval()
    vanilla.load_state_dict(prototype.state_dict())  # same weights: the grouping has no parameters
    generator = torch.Generator().manual_seed(0)
    query = torch.randn(2, DIM, 4, 4, generator=generator)
    supports = torch.randn(2, 2, DIM, 4, 4, generator=generator)  # 2 shots x 16 cells = 32 tokens each
    labels = torch.randint(0, 2, (2, 2, 4, 4), generator=generator)
    labels[0, 0, 0] = IGNORE
    labels[1] = BACKGROUND  # an episode without foreground
    out = prototype(query, supports, labels)
    assert out.shape == query.shape and torch.isfinite(out).all()
    torch.testing.assert_close(out, vanilla(query, supports, labels))


def test_prototype_transformer_trains_with_clustering_and_gradients_reach_the_supports() -> None:
    cfg = ModelConfig(dim=DIM, heads=HEADS, blocks=1, k_fg=3, k_bg=4, hamming_iters=3)
    transformer = QuerySupportTransformer(cfg).train()
    query = torch.randn(2, DIM, 6, 6, requires_grad=True)
    supports = torch.randn(2, 1, DIM, 6, 6, requires_grad=True)
    labels = torch.randint(0, 2, (2, 1, 6, 6), generator=torch.Generator().manual_seed(0))
    transformer(query, supports, labels).square().mean().backward()
    assert supports.grad.abs().sum() > 0 and torch.isfinite(supports.grad).all()
    assert torch.isfinite(query.grad).all()
