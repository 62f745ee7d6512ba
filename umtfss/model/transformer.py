"""Transformer blocks (paper eq. 2) and the query/support Transformer with its cross-attention variants.

A block is post-norm: ``x = LN(x + Drop(MHA(x, context)))``, ``x = LN(x + Drop(MLP(x)))``. Supports and query
each get ``blocks`` self-attention blocks; the query interleaves them with cross-attention blocks
(self, cross, self, cross, ...) whose keys and values are the support prototypes (``prototype``) or all valid
support tokens (``vanilla``), computed once from the supports' final tokens, as in the authors' code.
Self-attention adds a fixed 2-D sine position encoding to queries and keys (not values); cross-attention uses
none, prototypes having no position.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from umtfss.model.config import ModelConfig
from umtfss.model.masks import IGNORE
from umtfss.model.prototypes import PrototypeGrouper

# Hidden width of the MLP relative to ``dim``; the authors' code uses 3.
MLP_RATIO = 3


class Attention(nn.Module):
    """Multi-head attention through :func:`F.scaled_dot_product_attention`, with a per-key validity mask.

    A query row with no valid key (e.g. a support that is all ignore) gets a zero output instead of NaN, so
    the residual passes its input through unchanged. No dropout on the attention weights: the blocks drop the
    attention output instead, which regularises alike without drawing a random mask per attention weight
    (a sixth of a CPU training step) and keeps SDPA's fused kernels available.
    """

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)

    def forward(
        self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, valid: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``query`` (B, Lq, D), ``key``/``value`` (B, Lk, D), ``valid`` (B, Lk) bool keys or None. Returns
        (B, Lq, D)."""
        q, k, v = (proj(x).unflatten(-1, (self.heads, -1)).transpose(1, 2)
                   for proj, x in ((self.q, query), (self.k, key), (self.v, value)))
        mask = None
        if valid is not None:
            empty = ~valid.any(1)
            mask = (valid | empty[:, None])[:, None, None, :]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        out = self.out(out.transpose(1, 2).flatten(2))
        if valid is not None:
            out = out.masked_fill(empty[:, None, None], 0.0)
        return out


class TransformerBlock(nn.Module):
    """Attention (self when ``context`` is None) and MLP, each with residual, dropout and LayerNorm."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.attention = Attention(dim, heads)
        hidden = MLP_RATIO * dim
        self.mlp = nn.Sequential(
            nn.Linear(dim, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(hidden, dim)
        )
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)

    def forward(
        self,
        x: torch.Tensor,
        context: torch.Tensor | None = None,
        *,
        position: torch.Tensor | None = None,
        valid: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``x`` (B, L, D); ``context`` (B, S, D) keys/values or None for self-attention; ``position`` (L, D)
        added to self-attention queries and keys; ``valid`` (B, S or L) bool key mask."""
        if context is None:
            keyed = x if position is None else x + position
            attended = self.attention(keyed, keyed, x, valid)
        else:
            attended = self.attention(x, context, context, valid)
        x = self.norm1(x + self.drop(attended))
        return self.norm2(x + self.drop(self.mlp(x)))


def sine_positions(height: int, width: int, dim: int, device: torch.device) -> torch.Tensor:
    """Fixed 2-D sine/cosine position encoding (DETR style) of a ``height`` x ``width`` grid: (h*w, dim).

    Coordinates are normalised to the grid, so a model trained at one resolution sees the same encodings
    spread over a larger grid at another.
    """
    bands = math.ceil(dim / 4)
    frequencies = 10000.0 ** (-torch.arange(bands, device=device) / bands)
    ys = (torch.arange(height, device=device) + 0.5) / height * 2 * math.pi
    xs = (torch.arange(width, device=device) + 0.5) / width * 2 * math.pi
    y = ys[:, None, None] * frequencies  # (h, 1, bands)
    x = xs[None, :, None] * frequencies  # (1, w, bands)
    y, x = y.expand(height, width, bands), x.expand(height, width, bands)
    encoding = torch.cat([y.sin(), y.cos(), x.sin(), x.cos()], dim=-1)
    return encoding[..., :dim].reshape(height * width, dim)


def all_support_tokens(tokens: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Keys of vanilla cross-attention: every support token that is not ignored (paper Table 3 baseline)."""
    return tokens, labels != IGNORE


class QuerySupportTransformer(nn.Module):
    """Support self-attention blocks, then query blocks alternating self- and cross-attention."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()

        def blocks() -> nn.ModuleList:
            return nn.ModuleList(TransformerBlock(cfg.dim, cfg.heads, cfg.dropout) for _ in range(cfg.blocks))

        self.support_self, self.query_self, self.query_cross = blocks(), blocks(), blocks()
        self.support_keys: nn.Module | None = None
        if cfg.cross_attention == "prototype":
            self.support_keys = PrototypeGrouper(
                cfg.dim, cfg.k_fg, cfg.k_bg, cfg.lsh_bits, cfg.hamming_iters, cfg.lsh_seed
            )

    def forward(self, query: torch.Tensor, supports: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """``query`` (B, D, h, w), ``supports`` (B, K, D, h, w), ``labels`` (B, K, h, w) support cell labels.
        Returns the query features (B, D, h, w) after attending to the supports."""
        b, k, d, h, w = supports.shape
        position = sine_positions(h, w, d, query.device).to(query.dtype)

        # Support self-attention stays within each shot: (B*K, h*w, D).
        s = supports.flatten(3).transpose(2, 3).flatten(0, 1)
        s_labels = labels.flatten(2).flatten(0, 1)
        for block in self.support_self:
            s = block(s, position=position, valid=s_labels != IGNORE)
        # Cross-attention sees all shots pooled: (B, K*h*w, D).
        s, s_labels = s.unflatten(0, (b, k)).flatten(1, 2), labels.flatten(1)
        if self.support_keys is None:
            keys, valid = all_support_tokens(s, s_labels)
        else:
            keys, valid = self.support_keys(s, s_labels)

        q = query.flatten(2).transpose(1, 2)
        for self_block, cross_block in zip(self.query_self, self.query_cross, strict=True):
            q = self_block(q, position=position)
            q = cross_block(q, keys, valid=valid)
        return q.transpose(1, 2).unflatten(2, (h, w))
