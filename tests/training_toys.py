"""A tiny real few-shot segmenter and a fixed synthetic episode set for the training tests.

Run as a script it trains the toy model (the kill/resume and ``torchrun`` tests start it in a subprocess).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from dvclive import Live
from torch import nn
from torch.utils.data import Dataset

from umtfss.model import FewShotSegmenter
from umtfss.model.config import ModelConfig
from umtfss.training.config import TrainConfig
from umtfss.training.loop import train


class ToySegmenter(nn.Module):
    """FewShotSegmenter's interface in miniature: a frozen stem, a conv encoder and head (SGD), a
    prototype mixer standing in for the Transformer (AdamW), and dropout drawing from the global generator."""

    def __init__(self, dim: int = 8, dropout: float = 0.1) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 3, 1)
        self.stem.requires_grad_(False)
        self.encoder = nn.Sequential(
            nn.Conv2d(3, dim, 3, padding=1), nn.ReLU(), nn.Conv2d(dim, dim, 3, padding=1)
        )
        self.mixer = nn.Linear(dim, dim)
        self.dropout = nn.Dropout2d(dropout)
        self.head = nn.Conv2d(dim + 1, 2, 1)

    def forward(
        self, query: torch.Tensor, supports: torch.Tensor, support_masks: torch.Tensor
    ) -> torch.Tensor:
        batch, shots = supports.shape[:2]
        features = self.encoder(self.stem(query))
        support_features = self.encoder(self.stem(supports.flatten(0, 1)))
        fg = (support_masks.flatten(0, 1) == 1).unsqueeze(1).float()
        prototypes = (support_features * fg).sum((2, 3)) / fg.sum((2, 3)).clamp(min=1)
        prototype = self.mixer(prototypes.view(batch, shots, -1).mean(1))
        features = self.dropout(features)
        similarity = F.cosine_similarity(features, prototype[:, :, None, None], dim=1).unsqueeze(1)
        return self.head(torch.cat([features, similarity], 1))

    def parameter_groups(self) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        return [*self.encoder.parameters(), *self.head.parameters()], list(self.mixer.parameters())


class SquareEpisodes(Dataset):
    """Fixed episodes: a coloured square (the class) on noise; the support shows the same colour elsewhere.
    ``view_ids``: each episode also names its images (its own, distinct from every other episode's)."""

    COLOURS = torch.tensor([[1.0, -1.0, -1.0], [-1.0, 1.0, -1.0], [-1.0, -1.0, 1.0], [1.0, 1.0, -1.0]])

    def __init__(self, n: int = 16, size: int = 24, shots: int = 1, seed: int = 0, view_ids: bool = False) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.items: list[dict[str, Any]] = []
        for index in range(n):
            class_id = index % len(self.COLOURS)
            drawn = [self._draw(class_id, size, generator) for _ in range(shots + 1)]
            images, masks = zip(*drawn, strict=True)
            self.items.append(
                {
                    "query_image": images[0],
                    "query_mask": masks[0],
                    "support_images": torch.stack(images[1:]),
                    "support_masks": torch.stack(masks[1:]),
                    "class_id": class_id,
                    "query_index": index,
                }
            )
            if view_ids:
                self.items[-1]["view_ids"] = torch.arange(index * (shots + 1), (index + 1) * (shots + 1))

    def _draw(
        self, class_id: int, size: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        image = torch.randn(3, size, size, generator=generator) * 0.5
        side = int(torch.randint(size // 4, size // 2, (1,), generator=generator))
        y, x = (int(v) for v in torch.randint(0, size - side, (2,), generator=generator))
        image[:, y : y + side, x : x + side] = self.COLOURS[class_id][:, None, None]
        mask = torch.zeros(size, size, dtype=torch.int64)
        mask[y : y + side, x : x + side] = 1
        return image, mask

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.items[index]


class KilledAfter(Dataset):
    """``dataset`` whose process SIGKILLs itself on fetch number ``fetches``: a hard kill mid-training."""

    def __init__(self, dataset: Dataset, fetches: int) -> None:
        self.dataset, self.fetches, self.fetched = dataset, fetches, 0

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> dict[str, Any]:
        self.fetched += 1
        if self.fetched == self.fetches:
            os.kill(os.getpid(), signal.SIGKILL)
        return self.dataset[index]


# The smallest FewShotSegmenter the tests train for real.
TINY_MODEL = ModelConfig.model_validate(
    {
        "backbone": {"arch": "resnet18"},
        "mid_layers": ["layer2", "layer3"],
        "dim": 32,
        "heads": 4,
        "k_fg": 8,
        "k_bg": 16,
    }
)


def toy_config(**update: Any) -> TrainConfig:
    """A small, CPU-only TrainConfig (larger learning rates: the toy has few steps to learn in)."""
    base: dict[str, Any] = {
        "seed": 0,
        "steps": 12,
        "batch_size": 4,
        "crop_size": 32,
        "checkpoint_every": 5,
        "log_every": 2,
        "device": "cpu",
        "sgd": {"lr": 0.2},
        "adamw": {"lr": 1e-2},
    }
    return TrainConfig.model_validate({**base, **update})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--out", required=True, help="where to save the final state_dict; {rank} is replaced")
    parser.add_argument("--config", default="{}", help="TrainConfig overrides as JSON")
    parser.add_argument("--kill-after-fetches", type=int, default=0)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument(
        "--model", choices=("toy", "real"), default="toy", help="real: a tiny FewShotSegmenter"
    )
    parser.add_argument("--live", help="dvclive folder (rank 0 logs there)")
    parser.add_argument("--snapshot-every", type=int, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = ToySegmenter(dropout=args.dropout) if args.model == "toy" else FewShotSegmenter(TINY_MODEL)
    episodes: Dataset = SquareEpisodes(size=24 if args.model == "toy" else 64)
    if args.kill_after_fetches:
        episodes = KilledAfter(episodes, args.kill_after_fetches)
    live = Live(args.live, resume=True, save_dvc_exp=False, dvcyaml=None) if args.live else None
    train(model, episodes, toy_config(**json.loads(args.config)), state_dir=args.state_dir, live=live,
          snapshot_every=args.snapshot_every)
    torch.save(model.state_dict(), Path(args.out.format(rank=os.environ.get("RANK", 0))))


if __name__ == "__main__":
    main()
