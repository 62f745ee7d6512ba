"""The protocol's scoring path, the training-free baseline and the overlay grid, on real tensors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from umtfss.data.images import letterbox, to_tensor
from umtfss.evaluation.baseline import PrototypeBaseline
from umtfss.evaluation.overlays import HEADER, OverlayRow, overlay, overlay_grid, save_grid
from umtfss.evaluation.protocol import predict_mask, score_episodes
from umtfss.evaluation.shared_features import SharedBackbones, shared_backbone_groups
from umtfss.model.feature_cache import FeatureCache
from umtfss.evaluation.summary import summarize_seeds
from umtfss.model.config import ModelConfig
from umtfss.model.fss import FewShotSegmenter

CPU = torch.device("cpu")
TINY = ModelConfig.model_validate({"backbone": {"arch": "resnet18"}, "mid_layers": ["layer2", "layer3"],
                                   "dim": 32, "heads": 4, "k_fg": 8, "k_bg": 16})


def _fg_left_half_and_padding(
    query: torch.Tensor, supports: torch.Tensor, masks: torch.Tensor
) -> torch.Tensor:
    """Foreground in the left half of the canvas and in every row from 4 down (the padding of the tests)."""
    logits = torch.zeros(len(query), 2, *query.shape[-2:])
    logits[:, 1, :, : query.shape[-1] // 2] = 1
    logits[:, 1, 4:, :] = 1
    return logits


def test_batched_scoring_equals_one_episode_at_a_time() -> None:
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1)
    episodes = []
    for index in range(5):
        masks = (torch.rand(2, 1, 8, 8, generator=generator) < 0.4).long()
        episodes.append({
            "query_image": torch.randn(3, 64, 64, generator=generator),
            "support_images": torch.randn(2, 3, 64, 64, generator=generator),
            "support_masks": torch.nn.functional.interpolate(masks.float(), size=(64, 64)).long()[:, 0],
            "query_label": torch.from_numpy((np.random.default_rng(index).random((40, 50)) < 0.3).astype(np.int64)),
            "query_extent": (51, 64),
            "class_id": 1 + index % 2,
            "image_ids": (f"query{index}", f"support{index}a", f"support{index}b"),
        })
    predictors = {"model": FewShotSegmenter(TINY), "baseline": PrototypeBaseline(TINY, 0.0)}
    one = score_episodes(predictors, episodes, [1, 2], CPU, batch_size=1)
    batched = score_episodes(predictors, episodes, [1, 2], CPU, batch_size=3)  # batches of 3 and 2
    for name in predictors:
        assert batched[name].n_episodes == one[name].n_episodes == 5
        assert batched[name].miou() == pytest.approx(one[name].miou(), abs=1e-3)
        assert batched[name].fbiou() == pytest.approx(one[name].fbiou(), abs=1e-3)
    assert 0 < one["baseline"].miou() < 1  # a real prediction, neither empty nor everything
    # The untrained model's masks may be trivial: compare its logits, batched against one at a time.
    model = predictors["model"].eval()
    stacked = [torch.stack([e[key] for e in episodes[:3]]) for key in ("query_image", "support_images",
                                                                       "support_masks")]
    with torch.inference_mode():
        together = model(*stacked)
        for index in range(3):
            alone = model(*(tensor[index:index + 1] for tensor in stacked))
            torch.testing.assert_close(together[index:index + 1], alone, atol=1e-4, rtol=1e-4)


def test_predict_mask_crops_padding_then_resizes_to_the_label() -> None:
    query, supports = torch.zeros(3, 8, 8), torch.zeros(1, 3, 8, 8)
    masks = torch.zeros(1, 8, 8, dtype=torch.long)
    pred = predict_mask(_fg_left_half_and_padding, query, supports, masks, (4, 8), (2, 4), CPU)
    # Without the crop, the padding's foreground would bleed into the bottom row.
    np.testing.assert_array_equal(pred, [[1, 1, 0, 0], [1, 1, 0, 0]])
    assert pred.dtype == np.uint8


def _episode(label: np.ndarray, class_id: int) -> dict:
    return {
        "query_image": torch.zeros(3, 8, 8),
        "support_images": torch.zeros(2, 3, 8, 8),
        "support_masks": torch.ones(2, 8, 8, dtype=torch.long),
        "query_label": torch.from_numpy(label),
        "query_extent": (4, 8),
        "class_id": class_id,
        "image_ids": ("query", "support-a", "support-b"),
    }


def test_score_episodes_scores_every_predictor_on_the_same_episodes() -> None:
    def everything(query: torch.Tensor, supports: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        return torch.tensor([0.0, 1.0]).view(1, 2, 1, 1).expand(len(query), 2, *query.shape[-2:])

    episodes = [
        _episode(np.array([[1, 1, 0, 0], [1, 1, 0, 255]]), 3),  # left half: fg I 4, U 4; everything: I 4, U 7
        _episode(np.array([[0, 0, 0, 0], [1, 0, 0, 0]]), 5),    # left half: fg I 1, U 4; everything: I 1, U 8
    ]
    scores = score_episodes({"half": _fg_left_half_and_padding, "all": everything}, episodes, [3, 5], CPU)
    assert scores["half"].class_iou() == pytest.approx({3: 1.0, 5: 1 / 4})
    assert scores["all"].class_iou() == pytest.approx({3: 4 / 7, 5: 1 / 8})
    # "all" never predicts background: background IoU 0, FB-IoU = half the foreground's (5 / 15).
    assert scores["all"].fbiou() == pytest.approx((0 + 5 / 15) / 2)
    assert scores["half"].n_episodes == scores["all"].n_episodes == 2


def test_summarize_seeds_mean_and_population_std() -> None:
    runs = [{"seed": 0, "miou": 40.0, "fbiou": 60.0, "episodes": 5},
            {"seed": 1, "miou": 50.0, "fbiou": 70.0, "episodes": 5}]
    summary = summarize_seeds(runs)
    assert (summary["miou_mean"], summary["miou_std"], summary["fbiou_mean"], summary["fbiou_std"]) == (
        45.0, 5.0, 65.0, 5.0)
    assert summary["per_seed"] == runs


def _two_texture_image(size: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = np.zeros((size, size, 3), dtype=np.uint8)
    image[:, : size // 2] = rng.integers(0, 60, (size, size // 2, 3))               # dark noise
    image[:, size // 2 :, 0] = 230                                                  # flat red
    image[:, size // 2 :, 1:] = rng.integers(100, 140, (size, size - size // 2, 2))
    return image


def test_baseline_prototype_matches_the_support_object_and_threshold_decides() -> None:
    size = 64
    support_mask = np.zeros((size, size), dtype=np.int64)
    support_mask[:, size // 2 :] = 1  # the red half is the object
    support_mask[0] = 255
    supports = torch.stack([to_tensor(_two_texture_image(size, s)) for s in (1, 2)])[None]
    masks = torch.from_numpy(np.stack([support_mask, support_mask]))[None]
    query = to_tensor(_two_texture_image(size, 3))[None]

    baseline = PrototypeBaseline(TINY, threshold=0.5).eval()
    with torch.inference_mode():
        similarity = baseline.similarity(query, supports, masks)[0, 0]
        logits = baseline(query, supports, masks)
    assert similarity.shape == (size, size)
    assert similarity.min() >= -1 - 1e-5 and similarity.max() <= 1 + 1e-5
    # Away from the border, the object's half is more like the prototype than the other half.
    inner = slice(16, 48)
    assert similarity[inner, 40:56].mean() > similarity[inner, 8:24].mean() + 0.05
    assert logits.shape == (1, 2, size, size)
    assert torch.equal(logits[0, 1] > logits[0, 0], similarity > 0.5)
    for threshold, expected in ((-1.01, 1), (1.01, 0)):
        with torch.inference_mode():
            pred = predict_mask(PrototypeBaseline(TINY, threshold), query[0], supports[0], masks[0],
                                (size, size), (size, size), CPU)
        assert (pred == expected).all()


def test_overlay_tints_foreground_and_ignore_and_grid_has_one_row_per_episode(tmp_path: Path) -> None:
    image = np.full((4, 6, 3), 100, dtype=np.uint8)
    mask = np.zeros((4, 6), dtype=np.uint8)
    mask[0, 0], mask[1, 1] = 1, 255
    tinted = overlay(image, mask)
    np.testing.assert_array_equal(tinted[0, 0], [178, 70, 70])   # half way to red
    np.testing.assert_array_equal(tinted[1, 1], [178, 178, 178])  # half way to white
    np.testing.assert_array_equal(tinted[2, 2], [100, 100, 100])
    with pytest.raises(ValueError, match="differ"):
        overlay(image, mask[:, :5])

    query = _two_texture_image(20, 0)
    row = OverlayRow(image, mask, query, np.ones((20, 20), np.uint8), np.zeros((20, 20), np.uint8))
    assert overlay_grid([row, row, row], cell=32).size == (96, HEADER + 96)
    assert overlay_grid([], cell=32).size == (96, HEADER)
    save_grid([row], tmp_path / "grid.png", cell=32)
    saved = np.asarray(Image.open(tmp_path / "grid.png"))
    assert saved.shape == (HEADER + 32, 96, 3)
    # The truth column shows the query tinted red, the prediction column the query untouched.
    truth, prediction = saved[HEADER + 16, 32 + 8], saved[HEADER + 16, 64 + 8]
    assert truth[0] > prediction[0] or truth[1] < prediction[1]


def test_letterboxed_episode_tensors_fit_the_baseline() -> None:
    """Images of the evaluation's own letterbox go through the baseline without shape surprises."""
    canvas, extent = letterbox(_two_texture_image(50, 0)[:30], 64, is_mask=False)
    assert extent == (38, 64)
    query = to_tensor(canvas)
    masks = torch.zeros(1, 64, 64, dtype=torch.long)
    masks[0, :38, 32:] = 1
    pred = predict_mask(PrototypeBaseline(TINY, 0.5).eval(), query, query[None], masks, extent, (30, 50), CPU)
    assert pred.shape == (30, 50)


def _repeating_episodes(n: int, pool: int = 4, size: int = 48) -> list[dict]:
    """``n`` 2-shot episodes whose three images each come from a pool of ``pool`` images (as test episodes
    reuse the val split's images)."""
    generator = torch.Generator().manual_seed(3)
    images = torch.randn(pool, 3, size, size, generator=generator)
    rng = np.random.default_rng(0)
    episodes = []
    for index in range(n):
        picks = rng.choice(pool, size=3, replace=False)
        masks = (torch.rand(2, 1, 6, 6, generator=generator) < 0.4).float()
        episodes.append({
            "query_image": images[picks[0]], "support_images": images[picks[1:]],
            "support_masks": torch.nn.functional.interpolate(masks, size=(size, size)).long()[:, 0],
            "query_label": torch.from_numpy((rng.random((30, 40)) < 0.3).astype(np.int64)),
            "query_extent": (36, size), "class_id": 1 + index % 2,
            "image_ids": tuple(f"image{p}" for p in picks),
        })
    return episodes


def test_predictors_over_one_backbone_share_one_pass_per_distinct_image() -> None:
    torch.manual_seed(0)
    first, second = FewShotSegmenter(TINY), FewShotSegmenter(TINY)  # other heads, the same seeded backbone
    other = FewShotSegmenter(TINY.model_copy(update={"backbone": TINY.backbone.model_copy(update={"seed": 1})}))
    predictors = {"first": first, "second": second, "baseline": PrototypeBaseline(TINY, 0.0),
                  "other": other, "plain": _fg_left_half_and_padding}
    groups = shared_backbone_groups(predictors)
    assert [names for _, names in groups] == [["first", "second", "baseline"], ["other"], ["plain"]]
    assert groups[0][0] is first.backbone and groups[2][0] is None

    episodes = _repeating_episodes(6)
    shared = score_episodes(predictors, episodes, [1, 2], CPU, batch_size=4,
                            shared=SharedBackbones.of(predictors, 64))
    alone = score_episodes({name: (lambda *x, p=p.eval(): p(*x)) if name != "plain" else p
                            for name, p in predictors.items()}, episodes, [1, 2], CPU, batch_size=1)
    for name in predictors:
        assert shared[name].miou() == pytest.approx(alone[name].miou(), abs=1e-3)
    assert 0 < shared["baseline"].miou() < 1

    batch = episodes[:4]
    queries = torch.stack([e["query_image"] for e in batch])
    supports = torch.stack([e["support_images"] for e in batch])
    ids = [e["image_ids"] for e in batch]
    kept, uncached = FeatureCache(first.backbone.eval(), 2**30), FeatureCache(first.backbone, 0)
    with torch.inference_mode():
        direct = first.backbone.episode(queries, supports)
        for cache in (kept, uncached):
            for got, want in zip(cache.episode(ids, queries, supports), direct, strict=True):
                torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
        kept.episode(ids, queries, supports)
        uncached.episode(ids, queries, supports)
    distinct = len({i for row in ids for i in row})
    assert kept.images_computed == distinct  # the second pass was served from the cache
    assert uncached.images_computed == 2 * distinct  # nothing kept, each batch still deduplicated
    with pytest.raises(ValueError, match="image ids"):
        kept.episode([ids[0][:2]], queries[:1], supports[:1])


def test_shared_backbones_keep_features_across_scoring_calls() -> None:
    torch.manual_seed(0)
    predictors = {"first": FewShotSegmenter(TINY), "baseline": PrototypeBaseline(TINY, 0.0)}
    episodes = _repeating_episodes(6)
    distinct = len({i for episode in episodes for i in episode["image_ids"]})
    shared = SharedBackbones.of(predictors, 64)
    first = score_episodes(predictors, episodes, [1, 2], CPU, batch_size=4, shared=shared)
    assert shared.images_computed == distinct
    again = score_episodes(predictors, episodes, [1, 2], CPU, batch_size=4, shared=shared)
    assert shared.images_computed == distinct  # the second call was served from the cache
    for name in predictors:
        assert again[name].miou() == first[name].miou()
    with pytest.raises(ValueError, match="built for"):
        score_episodes({"first": predictors["first"]}, episodes, [1, 2], CPU, shared=shared)


def test_the_feature_cache_drops_least_recently_used_images_beyond_its_bound() -> None:
    torch.manual_seed(0)
    backbone = FewShotSegmenter(TINY).backbone
    images = torch.randn(3, 1, 3, 32, 32)
    with torch.inference_mode():
        mid, high = backbone(images[0, :1])
    per_image = (mid.numel() + high.numel()) * mid.element_size()
    cache = FeatureCache(backbone, 2 * per_image)  # room for two images
    with torch.inference_mode():
        for ids, pick in ((("a", "b"), (0, 1)), (("a", "c"), (0, 2)), (("b", "a"), (1, 0)),
                          (("a", "b"), (0, 1))):
            cache.episode([ids], images[pick[0]], images[pick[1]][None])
    # a, b computed; c (b, least recently used, dropped); b again (c dropped); a and b both kept
    assert cache.images_computed == 4
