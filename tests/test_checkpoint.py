"""Model checkpoints: a faithful round trip, and a clear CheckpointError for anything else."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from umtfss.vision import models as vision_models

from umtfss.errors import CheckpointError
from umtfss.model import FewShotSegmenter
from umtfss.training.checkpoint import FORMAT_VERSION, load_model, save_model

from training_toys import TINY_MODEL as TINY


def _episode(size: int = 64) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    query = torch.randn(1, 3, size, size, generator=generator)
    supports = torch.randn(1, 1, 3, size, size, generator=generator)
    masks = torch.zeros(1, 1, size, size, dtype=torch.int64)
    masks[..., 16:40, 20:48] = 1
    return query, supports, masks


@pytest.fixture(scope="module")
def trained() -> FewShotSegmenter:
    """A tiny model whose trainable weights differ from any fresh init."""
    torch.manual_seed(0)
    model = FewShotSegmenter(TINY)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.requires_grad:
                parameter.add_(torch.randn_like(parameter) * 0.01)
    return model.eval()


def test_round_trip_restores_weights_config_and_meta(tmp_path: Path, trained: FewShotSegmenter) -> None:
    path = tmp_path / "model.pt"
    save_model(path, trained, TINY, {"stage": "pretrain", "step": 7, "shape": (1, 2)})
    loaded, meta = load_model(path, expected=TINY)

    assert meta == {"stage": "pretrain", "step": 7, "shape": [1, 2]}
    assert not loaded.training
    for (name, a), (_, b) in zip(trained.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    with torch.no_grad():
        assert torch.equal(trained(*_episode()), loaded(*_episode()))
    assert not list(tmp_path.glob(".*.partial"))  # written through a temporary sibling


def test_loads_without_the_backbone_weights_file_it_was_built_from(tmp_path: Path) -> None:
    weights = tmp_path / "resnet18.pth"
    torch.manual_seed(3)
    torch.save(vision_models.resnet18().state_dict(), weights)
    cfg = TINY.model_copy(update={"backbone": TINY.backbone.model_copy(update={"weights": str(weights)})})
    model = FewShotSegmenter(cfg)
    save_model(tmp_path / "model.pt", model, cfg, {})
    weights.unlink()  # e.g. a checkpoint shared with a machine that never had the file

    loaded, _ = load_model(tmp_path / "model.pt", expected=cfg)
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_another_model_config_is_refused_naming_the_keys(tmp_path: Path, trained: FewShotSegmenter) -> None:
    save_model(tmp_path / "model.pt", trained, TINY, {})
    other = TINY.model_copy(update={"dim": 64, "k_fg": 9})
    with pytest.raises(
        CheckpointError, match=r"model\.pt.*dim: checkpoint 32, expected 64; k_fg: checkpoint 8"
    ):
        load_model(tmp_path / "model.pt", expected=other)


def test_another_format_version_is_refused(tmp_path: Path, trained: FewShotSegmenter) -> None:
    save_model(tmp_path / "model.pt", trained, TINY, {})
    checkpoint = torch.load(tmp_path / "model.pt", weights_only=True)
    checkpoint["format_version"] = FORMAT_VERSION + 1
    torch.save(checkpoint, tmp_path / "future.pt")
    with pytest.raises(
        CheckpointError, match=rf"future\.pt has checkpoint format_version {FORMAT_VERSION + 1}"
    ):
        load_model(tmp_path / "future.pt")


def test_weights_of_another_architecture_are_refused_naming_the_keys(tmp_path: Path) -> None:
    other = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1))
    save_model(tmp_path / "model.pt", other, TINY, {})
    with pytest.raises(
        CheckpointError, match=r"weights do not fit the model: missing .*unexpected 0\.bias, 0\.weight"
    ):
        load_model(tmp_path / "model.pt")


def test_weights_of_other_shapes_are_refused_naming_them(tmp_path: Path, trained: FewShotSegmenter) -> None:
    save_model(tmp_path / "model.pt", trained, TINY.model_copy(update={"dim": 64}), {})  # a config that lies
    with pytest.raises(
        CheckpointError,
        match=r"weights do not fit the model: shape \(checkpoint vs model\) "
        r".*\(32, .*\) vs \(64, ",
    ):
        load_model(tmp_path / "model.pt")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"weight": torch.zeros(2)}, "is not a umtfss checkpoint"),  # e.g. a bare state_dict
        (b"definitely not a checkpoint", "is not a readable torch checkpoint"),
        (None, "checkpoint not found"),
    ],
)
def test_files_that_are_no_umtfss_checkpoint_are_refused(
    tmp_path: Path, content: object, message: str
) -> None:
    path = tmp_path / "random.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        torch.save(content, path)
    with pytest.raises(CheckpointError, match=rf"random\.pt.*{message}"):
        load_model(path)
