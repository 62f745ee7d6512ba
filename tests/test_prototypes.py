"""LSH + Hamming k-means prototypes: determinism, grouping, padding and empty clusters."""

from __future__ import annotations

import math

import torch

from umtfss.model.masks import BACKGROUND, FOREGROUND, IGNORE
from umtfss.model.prototypes import SEED_ROUNDS, PrototypeGrouper, hamming_kmeans, sign_codes
from umtfss.model.transformer import Attention

DIM = 32


def _groups(n_groups: int, copies: int, noise: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Tokens (n_groups * copies, DIM), noisy copies of random centres, interleaved; and their group."""
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(n_groups, DIM, generator=generator)
    group = torch.arange(n_groups).repeat(copies)
    return centres[group] + noise * torch.randn(len(group), DIM, generator=generator), group


def test_codes_and_grouping_are_deterministic_under_the_seed() -> None:
    tokens = torch.randn(2, 60, DIM, generator=torch.Generator().manual_seed(1))
    labels = torch.randint(0, 2, (2, 60), generator=torch.Generator().manual_seed(2))
    first = PrototypeGrouper(DIM, k_fg=5, k_bg=7, bits=32, iterations=5, seed=3)(tokens, labels)
    again = PrototypeGrouper(DIM, k_fg=5, k_bg=7, bits=32, iterations=5, seed=3)(tokens, labels)
    other = PrototypeGrouper(DIM, k_fg=5, k_bg=7, bits=32, iterations=5, seed=4)
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    assert not torch.equal(other.projection, PrototypeGrouper(DIM, 5, 7, 32, 5, seed=3).projection)
    assert "projection" not in other.state_dict()  # rebuilt from the seed, never stored in checkpoints


def test_hamming_kmeans_puts_near_duplicates_together() -> None:
    tokens, group = _groups(n_groups=3, copies=10, noise=0.05)
    codes = sign_codes(tokens, torch.randn(DIM, 64, generator=torch.Generator().manual_seed(0)))[None]
    index = hamming_kmeans(codes, torch.ones(1, 30, dtype=torch.bool), torch.tensor([3]), iterations=10)[0]
    for g in range(3):
        assert index[group == g].unique().numel() == 1
    assert index.unique().numel() == 3  # and distinct groups do not share a cluster


def _dense_hamming_kmeans(
    codes: torch.Tensor, members: torch.Tensor, clusters: torch.Tensor, iterations: int
) -> torch.Tensor:
    """The clustering spelled out on the full padded rows: farthest-point seeding from each set's first
    member in SEED_ROUNDS rounds (each round the farthest members from all chosen ones, earlier token first on
    ties), then ``iterations`` rounds of nearest-centroid assignment (first slot on ties) and per-bit majority
    votes (a tied bit or an empty cluster keeps its bits), then a final assignment."""
    g, n, bits = codes.shape
    width = int(clusters.max())
    rows = torch.arange(g)
    usable = torch.arange(width) < clusters[:, None]
    centroids = codes.new_zeros(g, width, bits)
    for s in range(g):
        distance = torch.where(members[s], torch.inf, -1.0)
        seeds = [int(members[s].int().argmax())]
        chosen = seeds
        per_round = math.ceil((int(clusters[s]) - 1) / SEED_ROUNDS)
        while len(seeds) < clusters[s]:
            for token in chosen:
                distance = torch.minimum(distance, (bits - codes[s] @ codes[s, token]) / 2)
                distance[token] = -1.0
            order = distance.sort(descending=True, stable=True).indices.tolist()
            chosen = order[:min(per_round, int(clusters[s]) - len(seeds))]
            seeds += chosen
        centroids[s, :len(seeds)] = codes[s, seeds]

    def assign() -> torch.Tensor:
        return (codes @ centroids.transpose(1, 2)).masked_fill(~usable[:, None], -torch.inf).argmax(-1)

    for _ in range(iterations):
        onehot = torch.nn.functional.one_hot(assign(), width).float() * members[..., None]
        votes = onehot.transpose(1, 2) @ codes
        centroids = torch.where(votes == 0, centroids, torch.sign(votes))
    return assign()


def test_hamming_kmeans_matches_the_dense_reference_exactly() -> None:
    # Sets of every size, duplicate codes (empty clusters) and iteration counts past convergence.
    generator = torch.Generator().manual_seed(7)
    for trial in range(60):
        g, bits = 1 + trial % 4, (8, 16, 64)[trial % 3]
        n = int(torch.randint(1, 90, (1,), generator=generator))
        base = torch.randn(int(torch.randint(1, 30, (1,), generator=generator)), DIM, generator=generator)
        tokens = base[torch.randint(len(base), (g, n), generator=generator)]
        tokens = tokens + (trial % 2) * 0.3 * torch.randn(g, n, DIM, generator=generator)
        codes = sign_codes(tokens, torch.randn(DIM, bits, generator=generator))
        members = torch.rand(g, n, generator=generator) < torch.rand(g, 1, generator=generator)
        wanted = torch.randint(1, 25, (g,), generator=generator)
        clusters = torch.minimum(wanted, members.sum(1)).clamp(min=1)
        iterations = trial % 12
        expected = _dense_hamming_kmeans(codes, members, clusters, iterations)
        index = hamming_kmeans(codes, members, clusters, iterations)
        assert torch.equal(index[members], expected[members]), trial


def test_prototypes_are_the_means_of_tight_groups() -> None:
    fg_tokens, fg_group = _groups(n_groups=3, copies=10, noise=0.05, seed=1)
    bg_tokens, bg_group = _groups(n_groups=4, copies=8, noise=0.05, seed=2)
    tokens = torch.cat([fg_tokens, bg_tokens])[None]
    labels = torch.cat([torch.full((30,), FOREGROUND), torch.full((32,), BACKGROUND)])[None]
    prototypes, valid = PrototypeGrouper(DIM, k_fg=3, k_bg=4, bits=64, iterations=10, seed=0)(tokens, labels)
    assert valid.all()
    expected_fg = torch.stack([fg_tokens[fg_group == g].mean(0) for g in range(3)])
    expected_bg = torch.stack([bg_tokens[bg_group == g].mean(0) for g in range(4)])
    # Prototype order is the clustering's; match each expected mean to its nearest prototype.
    assert torch.cdist(expected_fg, prototypes[0, :3]).amin(1).max() < 1e-5
    assert torch.cdist(expected_bg, prototypes[0, 3:]).amin(1).max() < 1e-5


def test_every_token_outside_ignore_feeds_exactly_one_prototype_with_its_share() -> None:
    # d(sum of prototypes)/d(token) is 1 / (size of the token's cluster) per feature, 0 for an ignored token,
    # and the shares of each valid prototype's members add to one: the sums cover every member once.
    generator = torch.Generator().manual_seed(7)
    tokens = torch.randn(2, 150, DIM, generator=generator).requires_grad_(True)
    labels = torch.randint(0, 2, (2, 150), generator=generator)
    labels[:, :25] = IGNORE
    prototypes, valid = PrototypeGrouper(DIM, k_fg=6, k_bg=9, bits=32, iterations=5, seed=0)(tokens, labels)
    prototypes.sum().backward()
    share = tokens.grad[..., 0]
    assert torch.equal(tokens.grad, share[..., None].expand_as(tokens.grad))
    assert not share[:, :25].any() and (share[:, 25:] > 0).all()
    torch.testing.assert_close(share.sum(1), valid.sum(1).float())


def test_fewer_tokens_than_prototypes_makes_each_token_a_prototype_and_ignored_tokens_none() -> None:
    tokens = torch.randn(1, 9, DIM, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([[1, 0, 255, 1, 0, 0, 255, 1, 0]])
    prototypes, valid = PrototypeGrouper(DIM, k_fg=5, k_bg=6, bits=16, iterations=3, seed=0)(tokens, labels)
    assert valid.tolist() == [[True] * 3 + [False] * 2 + [True] * 4 + [False] * 2]
    assert torch.equal(prototypes[0, :3], tokens[0, labels[0] == FOREGROUND])
    assert torch.equal(prototypes[0, 5:9], tokens[0, labels[0] == BACKGROUND])
    assert not prototypes[~valid].any()


def test_batched_grouping_equals_grouping_each_episode_alone() -> None:
    generator = torch.Generator().manual_seed(5)
    tokens = torch.randn(3, 80, DIM, generator=generator)
    labels = torch.randint(0, 2, (3, 80), generator=generator)
    labels[0, :70] = FOREGROUND  # many foreground tokens
    labels[1] = BACKGROUND  # no foreground at all
    labels[2, :20] = IGNORE
    grouper = PrototypeGrouper(DIM, k_fg=6, k_bg=10, bits=32, iterations=4, seed=0)
    prototypes, valid = grouper(tokens, labels)
    assert not valid[1, :6].any() and valid[1, 6:].all()
    for i in range(3):
        alone, alone_valid = grouper(tokens[i : i + 1], labels[i : i + 1])
        assert torch.equal(alone_valid[0], valid[i])
        torch.testing.assert_close(alone[0], prototypes[i])


def test_empty_clusters_are_invalid_and_receive_no_attention() -> None:
    # Eight copies of one token and two of another: the clustering must seed duplicate centroids.
    base = torch.randn(2, DIM, generator=torch.Generator().manual_seed(0))
    tokens = base[torch.tensor([0] * 8 + [1] * 2)][None]
    labels = torch.full((1, 10), BACKGROUND)
    prototypes, valid = PrototypeGrouper(DIM, k_fg=2, k_bg=5, bits=32, iterations=5, seed=0)(tokens, labels)
    assert valid.sum() == 2 and not valid[0, :2].any()
    assert torch.cdist(base, prototypes[valid]).amin(1).max() < 1e-5  # one prototype per distinct token

    attention = Attention(DIM, heads=4).eval()
    query = torch.randn(1, 7, DIM, generator=torch.Generator().manual_seed(1))
    masked = attention(query, prototypes, prototypes, valid)
    only_valid = attention(query, prototypes[valid][None], prototypes[valid][None])
    torch.testing.assert_close(masked, only_valid)
