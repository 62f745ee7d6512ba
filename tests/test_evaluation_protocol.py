"""`evaluate` over a hand-made labeled dataset: exact episode counts, result shape, both resize families."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from umtfss.data.manifest import DatasetInfo, content_md5, read_manifest, write_manifest
from umtfss.episodes.load import load_episode
from umtfss.episodes.sampling import calibration_episodes
from umtfss.errors import InputError
from umtfss.evaluation import protocol
from umtfss.evaluation.baseline import PrototypeBaseline
from umtfss.evaluation.calibration import THRESHOLDS, choose_threshold
from umtfss.evaluation.config import EvaluateConfig
from umtfss.evaluation.protocol import episode_specs, evaluate, input_resize
from umtfss.model.config import ModelConfig

INFO = DatasetInfo(name="toy", class_names=["background", "a", "b", "c", "d"], folds=[[1, 2], [3], [4], [4]])
TINY = ModelConfig.model_validate({"backbone": {"arch": "resnet18"}, "mid_layers": ["layer2", "layer3"],
                                   "dim": 32, "heads": 4, "k_fg": 8, "k_bg": 16})


def _dataset(root: Path) -> tuple[pd.DataFrame, DatasetInfo]:
    """12 val images with one object of class 1 or 2 (fold 0's novel classes) and 4 train images with one of
    class 3 or 4 (its base classes), of odd sizes, with a 255 border."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(16):
        h, w = int(rng.integers(40, 70)), int(rng.integers(40, 70))
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        mask = np.zeros((h, w), dtype=np.uint8)
        class_id = 1 + i % 2 if i < 12 else 3 + i % 2
        mask[h // 4 : 3 * h // 4, w // 4 : w // 2] = class_id
        mask[-1] = 255
        Image.fromarray(image).save(root / f"{i}.png")
        Image.fromarray(mask, mode="L").save(root / f"{i}_mask.png")
        pixels = [int((mask == c).sum()) for c in range(5)]
        rows.append({"image_id": f"im{i}", "image_path": str(root / f"{i}.png"),
                     "mask_path": str(root / f"{i}_mask.png"), "width": w, "height": h,
                     "split": "val" if i < 12 else "train", "class_pixels": pixels,
                     "content_md5": content_md5(root / f"{i}.png", root / f"{i}_mask.png")})
    write_manifest(pd.DataFrame(rows), INFO, root / "manifest.parquet")
    return read_manifest(root / "manifest.parquet")


class _Everything:
    """Predicts every pixel foreground, and counts the episodes it is shown by their number of shots."""

    def __init__(self) -> None:
        self.seen: Counter[int] = Counter()

    def __call__(self, query: torch.Tensor, supports: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        self.seen[supports.shape[1]] += len(query)  # a batch of episodes
        return torch.tensor([0.0, 1.0]).view(1, 2, 1, 1).expand(len(query), 2, *query.shape[-2:])


@pytest.mark.parametrize("resize", ["custom", "hsnet"])
def test_evaluate_scores_exactly_the_configured_episodes(tmp_path: Path, resize: str) -> None:
    manifest, info = _dataset(tmp_path)
    # HSNet's 400 x 400 is slow on a CPU: fewer episodes there.
    cfg = EvaluateConfig(folds=[0], shots=[1, 2], episodes=5 if resize == "custom" else 2, seeds=[0, 1],
                         size=64, resize=resize)
    everything = _Everything()
    predictors = {"baseline": PrototypeBaseline(TINY, 0.5), "everything": everything}
    results = evaluate(predictors, manifest, info, cfg, device=torch.device("cpu"))
    # Counted where the predictions are made, not read back from the results: per shot, episodes x seeds.
    assert everything.seen == {1: 2 * cfg.episodes, 2: 2 * cfg.episodes}
    assert set(results) == {"fold0"} and set(results["fold0"]) == {"1shot", "2shot"}
    for shot in results["fold0"].values():
        assert set(shot) == {"baseline", "everything"}
        for result in shot.values():
            assert [(s["seed"], s["episodes"]) for s in result["per_seed"]] == [(0, cfg.episodes),
                                                                                (1, cfg.episodes)]
            assert 0 <= result["miou_mean"] <= 100 and 0 <= result["fbiou_mean"] <= 100
        # Predicting everything as foreground: the object's IoU is its share of the image, far below 100.
        assert shot["everything"]["miou_mean"] < 50

    spec = episode_specs(manifest, info, 0, 2, cfg, 0)[0]
    episode = load_episode(spec, manifest, input_resize(cfg))
    side = 400 if resize == "hsnet" else 64
    assert episode["query_image"].shape == (3, side, side)
    assert episode["support_masks"].shape == (2, side, side)
    row = manifest.set_index("image_id").loc[spec.query_id]
    assert tuple(episode["query_label"].shape) == (row["height"], row["width"])


def test_fewer_episodes_than_configured_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest, info = _dataset(tmp_path)
    cfg = EvaluateConfig(folds=[0], shots=[1], episodes=3, seeds=[0], size=64, resize="custom")
    drawn = protocol.evaluation_episodes(manifest, info, 0, 1, cfg.episodes, 0)
    monkeypatch.setattr(protocol, "evaluation_episodes", lambda *args: drawn[:-1])  # a pool too small
    with pytest.raises(InputError, match="got 2 episodes, not 3"):
        evaluate({"everything": _Everything()}, manifest, info, cfg, device=torch.device("cpu"))
    # Enough specs, but an episode lost between drawing and scoring: the scored count is checked too.
    monkeypatch.setattr(protocol, "evaluation_episodes", lambda *args: drawn)
    score = protocol.score_episodes
    monkeypatch.setattr(protocol, "score_episodes",
                        lambda predictors, episodes, *args: score(predictors, list(episodes)[:-1], *args))
    with pytest.raises(RuntimeError, match="scored 2 episodes, not 3"):
        evaluate({"everything": _Everything()}, manifest, info, cfg, device=torch.device("cpu"))


def test_evaluate_stage_scores_three_predictors_and_untrained_is_pretrains_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline import paths
    from pipeline.params import parse_params
    from stages.evaluate import main
    from umtfss.model import FewShotSegmenter
    from umtfss.training.checkpoint import save_model
    from umtfss.training.state import seed_everything

    monkeypatch.chdir(tmp_path)
    paths.MANIFEST.parent.mkdir()
    _dataset(tmp_path)
    (tmp_path / "manifest.parquet").rename(paths.MANIFEST)
    params = parse_params({
        "model": TINY.model_dump(mode="json"),
        "pretrain": {"seed": 3},
        "evaluate": {"folds": [0], "shots": [1], "episodes": 3, "seeds": [0, 1], "resize": "custom",
                     "size": 64,                     "overlay_episodes": 2, "device": "cpu"},
    })
    # A "pretrained" checkpoint that never trained, from pretrain's own start: it must score as the untrained.
    seed_everything(3)
    save_model(paths.PRETRAINED, FewShotSegmenter(TINY), TINY, {"stage": "pretrain"})
    main(params)

    results = json.loads(paths.EVALUATE_METRICS.read_text())
    scores = results["fold0"]["1shot"]
    assert set(results) == {"fold0", "baseline_threshold"} and set(results["fold0"]) == {"1shot"}
    assert set(scores) == {"pretrained", "untrained", "baseline"}
    assert results["baseline_threshold"]["fold0"] in THRESHOLDS  # auto: chosen on base-class train episodes
    for result in scores.values():
        assert [(s["seed"], s["episodes"]) for s in result["per_seed"]] == [(0, 3), (1, 3)]
    assert scores["pretrained"] == scores["untrained"]
    grid = Image.open(paths.EVALUATE_PLOT)
    assert grid.size[1] > 2 * grid.size[0] // 3  # header + two rows of three square cells


def test_the_baseline_threshold_is_chosen_on_base_classes_of_the_train_split(tmp_path: Path) -> None:
    manifest, info = _dataset(tmp_path)
    specs = calibration_episodes(manifest, info, fold=0, shots=1, n_episodes=7, seed=0)
    split = manifest.set_index("image_id")["split"]
    assert len(specs) == 7 and {s.class_id for s in specs} <= {3, 4}  # never the held-out 1 and 2
    assert all(split[i] == "train" for s in specs for i in (s.query_id, *s.support_ids))

    cfg = EvaluateConfig(folds=[0], shots=[1], episodes=2, seeds=[0], size=64, resize="custom",
                         calibration_episodes=6)
    threshold, miou = choose_threshold(PrototypeBaseline(TINY, 0.0), manifest, info, 0, cfg,
                                       device=torch.device("cpu"))
    assert set(miou) == set(THRESHOLDS) and miou[threshold] == max(miou.values())
    assert len(set(miou.values())) > 1  # the grid is really scored: thresholds differ in what they keep
