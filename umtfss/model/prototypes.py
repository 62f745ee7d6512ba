"""Support prototypes for prototype-aware cross-attention (paper eq. 5-6).

The foreground and the background tokens of an episode (all its shots pooled) are each grouped into at most
``k_fg`` / ``k_bg`` clusters: tokens are hashed by sign random projection (cosine LSH, ``bits`` bits, a fixed
seeded projection) and the codes are clustered by k-means in Hamming space (assignment to the nearest centroid
code, centroid = per-bit majority of its members). A prototype is the mean of its members' float tokens, so
gradients reach the tokens; the grouping itself is discrete and carries none.

Everything is batched: each episode has two clustering problems (foreground, background), solved together
as ``2B`` padded sets with member masks; the only Python loop is over centroid slots while seeding. Prototypes
come back padded to ``k_fg + k_bg`` slots with a validity mask; a slot is invalid when its kind has fewer
tokens than prototypes or none, or when its cluster ended empty. Invalid slots hold zeros and must be masked
out of attention, never attended to.

Centroids start from farthest-point seeding in Hamming space, from the first token of each set: deterministic,
and it spreads the initial centroids over distinct codes, so tight groups of similar tokens are not split.
A kind with no more tokens than prototypes skips the clustering: each token is its own prototype.
Attention treats prototypes alike whatever their cluster size (no log-count bias), as the authors' code does:
a small foreground part then weighs as much as a large stretch of background.
"""

from __future__ import annotations

import torch
from torch import nn

from umtfss.model.masks import BACKGROUND, FOREGROUND


def sign_codes(tokens: torch.Tensor, projection: torch.Tensor) -> torch.Tensor:
    """±1 float codes (..., bits) of ``tokens`` (..., D) under the random hyperplanes ``projection``.

    With ±1 codes the Hamming distance is ``(bits - a @ b) / 2``, so code comparisons are matmuls; the values
    are small integers, exact in float32 for any supported ``bits``.
    """
    codes = torch.sign(tokens.float() @ projection.float())
    return torch.where(codes == 0, torch.ones_like(codes), codes)


def hamming_kmeans(
    codes: torch.Tensor, members: torch.Tensor, clusters: torch.Tensor, iterations: int
) -> torch.Tensor:
    """Cluster index of every token in each of ``G`` sets by k-means on ±1 codes in Hamming space.

    ``codes`` (G, N, bits); ``members`` (G, N) bool, the tokens of each set; ``clusters`` (G,) int64, the
    number of clusters per set (at most its member count). Returns (G, N) int64 in ``[0, clusters.max())``;
    values of non-members are meaningless. Clusters may end empty (duplicate codes); callers find them by
    counting.
    """
    g, n, bits = codes.shape
    width = int(clusters.max())
    rows = torch.arange(g, device=codes.device)
    slots = torch.arange(width, device=codes.device) < clusters[:, None]  # (G, width) usable centroids
    centroids = codes.new_zeros(g, width, bits)
    # Farthest-point seeding; the distance of a member to the chosen centroids, -1 for non-members and chosen.
    distance = torch.where(members, torch.inf, -1.0).to(codes.dtype)
    chosen = members.int().argmax(1)
    for slot in range(min(width, n)):
        centroid = codes[rows, chosen]
        centroids[:, slot] = centroid
        distance = torch.minimum(distance, (bits - codes @ centroid[..., None]).squeeze(-1) / 2)
        distance[rows, chosen] = -1.0
        chosen = distance.argmax(1)

    def assign() -> torch.Tensor:
        agreement = (codes @ centroids.transpose(1, 2)).masked_fill(~slots[:, None, :], -torch.inf)
        return agreement.argmax(-1)  # most agreeing bits = least Hamming distance

    for _ in range(iterations):
        onehot = torch.nn.functional.one_hot(assign(), width).to(codes.dtype) * members[..., None]
        votes = onehot.transpose(1, 2) @ codes  # (G, width, bits)
        # A tied bit and an empty cluster keep their previous centroid bits.
        centroids = torch.where(votes == 0, centroids, torch.sign(votes))
    return assign()


def group_prototypes(
    tokens: torch.Tensor,
    labels: torch.Tensor,
    projection: torch.Tensor,
    k_fg: int,
    k_bg: int,
    iterations: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Foreground and background prototypes of each episode.

    ``tokens`` (B, N, D) support tokens (all shots), ``labels`` (B, N) in {BACKGROUND, FOREGROUND, IGNORE}
    (ignored tokens join no prototype). Returns ``prototypes`` (B, k_fg + k_bg, D), foreground slots first,
    and ``valid`` (B, k_fg + k_bg) bool.
    """
    b, n, d = tokens.shape
    members = torch.stack([labels == FOREGROUND, labels == BACKGROUND], dim=1)  # (B, 2, N)
    capacity = torch.tensor([k_fg, k_bg], device=tokens.device).repeat(b)  # (2B,)
    counts = members.flatten(0, 1).sum(1)
    clusters = torch.minimum(capacity, counts)
    with torch.no_grad(), torch.autocast(tokens.device.type, enabled=False):
        codes = sign_codes(tokens.detach(), projection)
        codes = codes[:, None].expand(b, 2, n, codes.shape[-1]).flatten(0, 1)
        index = hamming_kmeans(codes, members.flatten(0, 1), clusters.clamp(min=1), iterations)
        # Small sets skip the clustering: their rank among the members is their own prototype slot.
        rank = members.flatten(0, 1).cumsum(1) - 1
        index = torch.where((counts <= capacity)[:, None], rank, index).view(b, 2, n)
    offset = torch.tensor([0, k_fg], device=tokens.device)[None, :, None]
    dropped = k_fg + k_bg  # an extra slot that collects ignored tokens and is cut off afterwards
    slot = torch.where(members, index + offset, dropped).amin(1)  # each token is in at most one kind
    # Sums in float32: half-precision tokens (autocast) would lose the small ones of a large cluster.
    zeros = torch.zeros(b, dropped + 1, d, device=tokens.device)
    sums = zeros.scatter_add(1, slot[..., None].expand(b, n, d), tokens.float())
    ones = torch.ones(b, n, device=tokens.device)
    sizes = torch.zeros(b, dropped + 1, device=tokens.device).scatter_add(1, slot, ones)
    prototypes = sums[:, :dropped] / sizes[:, :dropped, None].clamp(min=1)
    return prototypes.to(tokens.dtype), sizes[:, :dropped] > 0


class PrototypeGrouper(nn.Module):
    """:func:`group_prototypes` with the seeded LSH projection kept as a (non-persistent) buffer.

    The projection is rebuilt from ``seed`` on construction, so checkpoints do not carry it and it moves with
    the module between devices.
    """

    def __init__(self, dim: int, k_fg: int, k_bg: int, bits: int, iterations: int, seed: int) -> None:
        super().__init__()
        self.k_fg, self.k_bg, self.iterations = k_fg, k_bg, iterations
        generator = torch.Generator().manual_seed(seed)
        self.register_buffer("projection", torch.randn(dim, bits, generator=generator), persistent=False)

    def forward(self, tokens: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """See :func:`group_prototypes`."""
        return group_prototypes(tokens, labels, self.projection, self.k_fg, self.k_bg, self.iterations)
