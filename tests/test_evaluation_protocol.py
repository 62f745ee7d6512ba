"""`evaluate` over a hand-made labeled dataset: exact episode counts, result shape, both resize families."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

pytest.importorskip("umtfss.data.episodes")  # the evaluation episode sampler (data engineer)

from umtfss.data.manifest import DatasetInfo, read_manifest, write_manifest  # noqa: E402
from umtfss.evaluation.baseline import PrototypeBaseline  # noqa: E402
from umtfss.evaluation.config import EvaluateConfig  # noqa: E402
from umtfss.evaluation.protocol import evaluate, load_episode, episode_specs  # noqa: E402
from umtfss.model.config import ModelConfig  # noqa: E402

INFO = DatasetInfo(name="toy", class_names=["background", "a", "b", "c", "d"], folds=[[1, 2], [3], [4], [4]])
TINY = ModelConfig.model_validate({"backbone": {"arch": "resnet18"}, "mid_layers": ["layer2", "layer3"],
                                   "dim": 32, "heads": 4, "k_fg": 8, "k_bg": 16})


def _dataset(root: Path) -> tuple[pd.DataFrame, DatasetInfo]:
    """12 val + 4 train images of odd sizes, each with one object of class 1 or 2 (and a 255 border)."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(16):
        h, w = int(rng.integers(40, 70)), int(rng.integers(40, 70))
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        mask = np.zeros((h, w), dtype=np.uint8)
        class_id = 1 + i % 2
        mask[h // 4 : 3 * h // 4, w // 4 : w // 2] = class_id
        mask[-1] = 255
        Image.fromarray(image).save(root / f"{i}.png")
        Image.fromarray(mask, mode="L").save(root / f"{i}_mask.png")
        pixels = [int((mask == c).sum()) for c in range(5)]
        rows.append({"image_id": f"im{i}", "image_path": str(root / f"{i}.png"),
                     "mask_path": str(root / f"{i}_mask.png"), "width": w, "height": h,
                     "split": "val" if i < 12 else "train", "class_pixels": pixels})
    write_manifest(pd.DataFrame(rows), INFO, root / "manifest.parquet")
    return read_manifest(root / "manifest.parquet")


def _everything(query: torch.Tensor, supports: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    return torch.tensor([0.0, 1.0]).view(1, 2, 1, 1).expand(1, 2, *query.shape[-2:])


@pytest.mark.parametrize("resize", ["custom", "hsnet"])
def test_evaluate_scores_exactly_the_configured_episodes(tmp_path: Path, resize: str) -> None:
    manifest, info = _dataset(tmp_path)
    # HSNet's 400 x 400 is slow on a CPU: fewer episodes there.
    cfg = EvaluateConfig(folds=[0], shots=[1, 2], episodes=5 if resize == "custom" else 2, seeds=[0, 1], size=64,
                         resize=resize)
    predictors = {"baseline": PrototypeBaseline(TINY, 0.5), "everything": _everything}
    results = evaluate(predictors, manifest, info, cfg, device=torch.device("cpu"))
    assert set(results) == {"fold0"} and set(results["fold0"]) == {"1shot", "2shot"}
    for shot in results["fold0"].values():
        assert set(shot) == {"baseline", "everything"}
        for result in shot.values():
            assert [s["seed"] for s in result["per_seed"]] == [0, 1]
            assert all(s["episodes"] == cfg.episodes for s in result["per_seed"])
            assert 0 <= result["miou_mean"] <= 100 and 0 <= result["fbiou_mean"] <= 100
        # Predicting everything as foreground: the object's IoU is its share of the image, far below 100.
        assert shot["everything"]["miou_mean"] < 50

    spec = episode_specs(manifest, info, 0, 2, cfg, 0)[0]
    episode = load_episode(spec, manifest, cfg)
    side = 400 if resize == "hsnet" else 64
    assert episode["query_image"].shape == (3, side, side)
    assert episode["support_masks"].shape == (2, side, side)
    row = manifest.set_index("image_id").loc[spec.query_id]
    assert tuple(episode["query_label"].shape) == (row["height"], row["width"])
