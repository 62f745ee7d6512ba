"""Support prototypes for prototype-aware cross-attention (paper eq. 5-6).

The foreground and the background tokens of an episode (all its shots pooled) are each grouped into at most
``k_fg`` / ``k_bg`` clusters: tokens are hashed by sign random projection (cosine LSH, ``bits`` bits, a fixed
seeded projection) and the codes are clustered by k-means in Hamming space (assignment to the nearest centroid
code, centroid = per-bit majority of its members). A prototype is the mean of its members' float tokens, so
gradients reach the tokens; the grouping itself is discrete and carries none.

Everything is batched: each episode has two clustering problems (foreground, background), solved together
as ``2B`` sets with member masks, each compacted to its own members; the only Python loops are over centroid
slots while seeding and over the k-means iterations. Prototypes
come back padded to ``k_fg + k_bg`` slots with a validity mask; a slot is invalid when its kind has fewer
tokens than prototypes or none, or when its cluster ended empty. Invalid slots hold zeros and must be masked
out of attention, never attended to.

Centroids start from farthest-point seeding in Hamming space, from the first token of each set, in a few rounds
of several picks each (deterministic): it spreads the initial centroids over distinct codes, so tight groups of
similar tokens are not split.
A kind with no more tokens than prototypes skips the clustering: each token is its own prototype.
Attention treats prototypes alike whatever their cluster size (no log-count bias), as the authors' code does:
a small foreground part then weighs as much as a large stretch of background.
"""

from __future__ import annotations

import torch
from torch import nn

from umtfss.model.masks import BACKGROUND, FOREGROUND


SEED_ROUNDS = 12  # rounds of farthest-point seeding (see hamming_kmeans)


def sign_codes(tokens: torch.Tensor, projection: torch.Tensor) -> torch.Tensor:
    """±1 float codes (..., bits) of ``tokens`` (..., D) under the random hyperplanes ``projection``.

    With ±1 codes the Hamming distance is ``(bits - a @ b) / 2``, so code comparisons are matmuls; the values
    are small integers, exact in float32 for any supported ``bits``.
    """
    codes = torch.sign(tokens.float() @ projection.float())
    return torch.where(codes == 0, torch.ones_like(codes), codes)


def hamming_kmeans(
    codes: torch.Tensor, members: torch.Tensor, clusters: torch.Tensor, iterations: int,
    seed_rounds: int = SEED_ROUNDS,
) -> torch.Tensor:
    """Cluster index of every token in each of ``G`` sets by k-means on ±1 codes in Hamming space.

    ``codes`` (G, N, bits); ``members`` (G, N) bool, the tokens of each set; ``clusters`` (G,) int64, the
    number of clusters per set (1 to its member count; 1 for an empty set). Returns (G, N) int64 in
    ``[0, clusters.max())``; values of non-members are meaningless. Clusters may end empty (duplicate codes);
    callers find them by counting. ``seed_rounds``: rounds of farthest-point seeding (at least the cluster
    count less one: one pick per round, the classic sequential seeding).

    Each set is clustered on its own members only: they are moved to the front of their row (in token order,
    so every first-index tie-break picks the same token as on the full row), and the rows are cut to the
    largest member count. A ``G * N`` problem where most tokens belong to the other kind shrinks accordingly.
    """
    g, n, bits = codes.shape
    device, dtype = codes.device, codes.dtype
    width = int(clusters.max())
    count = members.sum(1)
    m = max(int(count.max()), 1)
    order = torch.argsort((~members).to(torch.uint8), dim=1, stable=True)[:, :m]  # (G, m) token of each row
    present = torch.arange(m, device=device) < count[:, None]  # (G, m) real members, not padding
    # Padding rows get an all-zero code: it agrees with nothing and adds nothing to a vote.
    own = codes.gather(1, order[..., None].expand(g, m, bits)) * present[..., None]
    rows = torch.arange(g, device=device)

    # Farthest-point seeding in rounds: each round adds, to each set, the members least like all centroids
    # chosen so far, ceil((clusters - 1) / seed_rounds) of them (the set's own count, so that an episode
    # seeds alike alone or in a batch). ``closeness`` is a member's greatest agreement with a chosen centroid
    # (least Hamming distance, mirrored); chosen members and padding hold +inf so that they come last.
    # A few rounds instead of one pick per slot: the sequential picks were a third of the clustering's
    # time, and the within-cluster cost after the iterations measured no worse (benchmarks/bench_lsh_clustering).
    closeness = torch.where(present, -torch.inf, torch.inf).to(dtype)
    # (G, bits, m): centroid codes against all members are then one batched matmul.
    columns = own.transpose(1, 2).contiguous()
    per_round = torch.div(clusters - 2, seed_rounds, rounding_mode="floor") + 1  # 0 for a single cluster
    widest = int(per_round.max())
    seeds = torch.zeros(g, width, dtype=torch.long, device=device)  # slot 0: each set's first member
    chosen = torch.zeros(g, 1, dtype=torch.long, device=device)  # not a view of seeds, which is written below
    pick = torch.arange(widest, device=device)
    member = torch.arange(m, device=device, dtype=torch.float64)  # float64: keys stay exact at any m
    for round_ in range(seed_rounds if widest else 0):
        agreement = torch.bmm(own[rows[:, None], chosen], columns).amax(1)
        closeness = torch.maximum(closeness, agreement).scatter_(1, chosen, torch.inf)
        # Unique keys (agreement is an integer, the member index breaks ties), so topk picks alike everywhere.
        farthest = (closeness.double() * m + member).topk(widest, dim=1, largest=False).indices
        slot = 1 + round_ * per_round[:, None] + pick
        taken = (pick < per_round[:, None]) & (slot < clusters[:, None])
        seeds.scatter_(1, torch.where(taken, slot, 0), torch.where(taken, farthest, 0))
        chosen = torch.where(taken, farthest, farthest[:, :1])
    centroids = own[rows[:, None], seeds]  # (G, width, bits)

    # Assignment packs the slot into the score, so that one max (far cheaper than argmax on CPU) yields both:
    # score = scale * agreement + (scale - 1 - slot), scale a power of two >= width, so the best score has the
    # most agreeing bits and, among ties, the lowest slot (argmax's first-index rule). A slot past its set's
    # cluster count scores as slot 0's centroid with its own lower tie term, so it never wins. Scores are
    # integers; float32 keeps them, and every partial sum of the matmul, exact while below 2**24.
    scale = 1 << (width - 1).bit_length()
    if scale * (bits + 1) >= 1 << 24:
        raise ValueError(f"{bits} bits and {width} clusters exceed the exact float32 range of the scores")
    slot = torch.arange(width, device=device)
    usable = (slot < clusters[:, None])[..., None]  # (G, width, 1)
    tie = (scale - 1 - slot).to(dtype)[:, None].expand(g, width, 1)
    extended = torch.cat([columns, columns.new_ones(g, 1, m)], 1)  # the constant row picks up the tie term

    def scores(centroids: torch.Tensor, picked: torch.Tensor) -> torch.Tensor:
        """(G, len(picked), m) scores of the slots ``picked`` against every member."""
        effective = torch.where(usable, centroids, centroids[:, :1])[:, picked]
        return torch.bmm(torch.cat([effective * scale, tie[:, picked]], -1), extended)

    def assign(table: torch.Tensor) -> torch.Tensor:
        return scale - 1 - table.amax(1).long() % scale  # floor modulo: the tie term, whatever the agreement

    # The (G, width, m) score table is kept between iterations and only the slots whose centroid changed (in
    # any set) are rescored: the clustering settles quickly, and later iterations move a few centroids only.
    table = scores(centroids, slot)
    index = assign(table)
    flat = own.flatten(0, 1)
    for _ in range(iterations):
        # Votes by scatter-add into each member's (set, slot) row: no (G, m, width) one-hot.
        votes = own.new_zeros(g * width, bits).index_add_(0, (rows[:, None] * width + index).flatten(), flat)
        votes = votes.view(g, width, bits)
        # A tied bit and an empty cluster keep their previous centroid bits.
        updated = torch.where(votes == 0, centroids, torch.sign(votes))
        # Slot 0 stands in for the unusable slots, so its change rescores them too.
        moved = (updated != centroids).any(-1)
        moved = (moved | (moved[:, :1] & ~usable[..., 0])).any(0).nonzero().squeeze(1)
        if moved.numel() == 0:
            break  # a fixed point: every further iteration would repeat this one exactly
        centroids = updated
        table.index_copy_(1, moved, scores(centroids, moved))
        index = assign(table)
    return index.new_zeros(g, n).scatter_(1, order, index)


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
    # Sums in float32: half-precision tokens (autocast) would lose the small ones of a large cluster. One
    # index_add over (episode, slot) rows rather than a scatter_add with the index expanded over D: the same
    # sums in the same order, ~10x faster on a CPU (8 episodes of 2,000 tokens: 2.4 vs 23 ms).
    rows = (slot + torch.arange(b, device=tokens.device)[:, None] * (dropped + 1)).flatten()
    sums = tokens.new_zeros(b * (dropped + 1), d, dtype=torch.float32).index_add(
        0, rows, tokens.float().flatten(0, 1)).view(b, dropped + 1, d)
    sizes = torch.bincount(rows, minlength=b * (dropped + 1)).view(b, dropped + 1).to(sums.dtype)
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
