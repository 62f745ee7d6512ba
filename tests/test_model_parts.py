"""Support masks at feature resolution, the prior mask and the masked-average prototype."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from umtfss.model.encoder import masked_average
from umtfss.model.head import foreground_wins
from umtfss.model.masks import BACKGROUND, FOREGROUND, IGNORE, cell_fractions, cell_labels
from umtfss.model.prior import prior_mask


def test_cell_labels_follow_the_majority_and_keep_objects_smaller_than_a_cell() -> None:
    mask = torch.zeros(2, 8, 8, dtype=torch.int64)
    mask[0, :4, :4] = FOREGROUND  # exactly cell (0, 0) at 2x2 cells
    mask[0, 4:, 4:] = IGNORE  # exactly cell (1, 1)
    mask[1, 5, 1] = FOREGROUND  # one pixel: no majority-foreground cell anywhere
    mask[1, 0:3, 4:8] = IGNORE  # 12 of 16 pixels of cell (0, 1)
    foreground, ignore = cell_fractions(mask, (2, 2))
    assert foreground[0, 0, 0] == 1 and ignore[0, 1, 1] == 1 and foreground[1, 1, 0] == 1 / 16
    labels = cell_labels(foreground, ignore)
    assert labels[0].tolist() == [[FOREGROUND, BACKGROUND], [BACKGROUND, IGNORE]]
    assert labels[1].tolist() == [[BACKGROUND, IGNORE], [FOREGROUND, BACKGROUND]]


def test_cell_fractions_handle_sizes_that_are_not_multiples() -> None:
    mask = torch.ones(1, 3, 30, 30, dtype=torch.int64)
    foreground, ignore = cell_fractions(mask, (4, 4))
    assert foreground.shape == (1, 3, 4, 4) and torch.allclose(foreground, torch.ones(1, 3, 4, 4))
    assert not ignore.any()


def test_prior_is_the_normalised_best_match_to_support_foreground() -> None:
    generator = torch.Generator().manual_seed(0)
    support = F.relu(torch.randn(1, 2, 8, 3, 3, generator=generator))
    query = F.relu(torch.randn(1, 8, 3, 3, generator=generator))
    query[0, :, 1, 1] = 2 * support[0, 0, :, 2, 2]  # the same direction as the foreground cell of shot 0
    foreground = torch.zeros(1, 2, 3, 3, dtype=torch.bool)
    foreground[0, 0, 2, 2] = True  # shot 1 has no foreground: it contributes zeros
    prior = prior_mask(query, support, foreground)
    assert prior.shape == (1, 1, 3, 3) and prior.min() >= 0
    torch.testing.assert_close(prior.amax(), torch.tensor(0.5))  # (1 + 0) / 2 shots
    assert prior[0, 0, 1, 1] == prior.amax()


def test_masked_average_pools_foreground_over_all_shots() -> None:
    features = torch.zeros(1, 2, 3, 2, 2)
    features[0, 0, :, 0, 0] = torch.tensor([1.0, 2.0, 3.0])
    features[0, 1, :, 1, 1] = torch.tensor([3.0, 2.0, 1.0])
    features[0, 1, :, 0, 1] = 100.0  # background: no weight
    weights = torch.zeros(1, 2, 2, 2)
    weights[0, 0, 0, 0] = weights[0, 1, 1, 1] = 1.0
    expected = torch.tensor([[2.0, 2.0, 2.0]])
    torch.testing.assert_close(masked_average(features, weights), expected, atol=1e-3, rtol=0)
    assert not masked_average(features, torch.zeros(1, 2, 2, 2)).any()


def test_foreground_wins_is_the_two_class_argmax_with_ties_to_background() -> None:
    logits = torch.randn(3, 2, 17, 23, generator=torch.Generator().manual_seed(0))
    logits[0, 1, :5] = logits[0, 0, :5]  # ties: argmax takes the first index, background
    got = foreground_wins(logits)
    assert torch.equal(got, logits.argmax(1) == 1)
    assert not got[0, :5].any() and got.any() and not got.all()
