"""`umtfss predict` end to end through the CLI, on images and a checkpoint written here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from umtfss.cli import app
from umtfss.model import FewShotSegmenter
from umtfss.model.config import ModelConfig
from umtfss.predict import read_support
from umtfss.training.checkpoint import save_model

TINY = ModelConfig.model_validate(
    {"backbone": {"arch": "resnet18"}, "dim": 32, "heads": 4, "k_fg": 8, "k_bg": 16}
)


def _image(path: Path, height: int, width: int, seed: int) -> Path:
    rgb = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(path)
    return path


def _mask(path: Path, height: int, width: int, value: int = 3) -> Path:
    mask = np.zeros((height, width), dtype=np.uint8)
    mask[height // 4 : height // 2, width // 4 : width // 2] = value
    mask[0, :] = 255
    Image.fromarray(mask, mode="L").save(path)
    return path


def _support_and_query(tmp_path: Path, mask_width: int = 56) -> tuple[Path, Path, Path]:
    """A 40x56 support image, its mask (``mask_width`` wide) and a 40x40 query."""
    image, mask = _image(tmp_path / "s.png", 40, 56, 0), _mask(tmp_path / "m.png", 40, mask_width)
    return image, mask, _image(tmp_path / "q.png", 40, 40, 1)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_model(path, FewShotSegmenter(TINY), TINY, {"stage": "test"})
    return path


def _run(*args: str | Path):
    return CliRunner().invoke(app, ["predict", *map(str, args)])


def test_predict_writes_masks_and_overlays_at_query_size(tmp_path: Path, checkpoint: Path) -> None:
    supports = [(_image(tmp_path / f"s{i}.png", 40, 56, i), _mask(tmp_path / f"s{i}_mask.png", 40, 56))
                for i in (0, 1)]
    folder = tmp_path / "queries"
    folder.mkdir()
    _image(folder / "a.png", 48, 30, 2)
    _image(folder / "b.jpg", 33, 70, 3)
    (folder / "notes.txt").write_text("not an image: skipped in a folder")
    single = _image(tmp_path / "c.png", 64, 64, 4)
    out = tmp_path / "out"
    result = _run("--checkpoint", checkpoint, "--support", *supports[0], "--support", *supports[1],
                  "--query", folder, "--query", single, "--out", out, "--size", 64, "--device", "cpu")
    assert result.exit_code == 0, result.output
    for name, (h, w) in {"a": (48, 30), "b": (33, 70), "c": (64, 64)}.items():
        mask = Image.open(out / f"{name}_mask.png")
        assert mask.mode == "P"  # class ids 0 / 1 under a black and white palette
        assert np.asarray(mask).shape == (h, w)
        assert set(np.unique(mask)) <= {0, 1}
        assert Image.open(out / f"{name}_overlay.png").size == (w, h)
    assert len(list(out.iterdir())) == 6


def _assert_refused(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.stderr.startswith("error: ")
    for fragment in fragments:
        assert fragment in result.stderr


def test_refuses_mask_of_another_size(tmp_path: Path, checkpoint: Path) -> None:
    image, mask, query = _support_and_query(tmp_path, mask_width=50)
    result = _run("--checkpoint", checkpoint, "--support", image, mask, "--query", query,
                  "--out", tmp_path / "o")
    _assert_refused(result, str(mask), "50x40")


def test_refuses_empty_support_mask_of_the_class(tmp_path: Path, checkpoint: Path) -> None:
    image, mask, query = _support_and_query(tmp_path)  # the mask marks class 3
    args = ("--checkpoint", checkpoint, "--support", image, mask, "--query", query, "--out", tmp_path / "o",
            "--size", 64)
    _assert_refused(_run(*args, "--class-id", 7), str(mask), "class 7")
    assert _run(*args, "--class-id", 3).exit_code == 0


def test_refuses_unreadable_query(tmp_path: Path, checkpoint: Path) -> None:
    image, mask = _image(tmp_path / "s.png", 40, 56, 0), _mask(tmp_path / "m.png", 40, 56)
    broken = tmp_path / "broken.png"
    broken.write_text("not a png")
    result = _run("--checkpoint", checkpoint, "--support", image, mask, "--query", broken,
                  "--out", tmp_path / "o", "--size", 64)
    _assert_refused(result, str(broken))


def test_refuses_checkpoint_of_another_format_version(tmp_path: Path, checkpoint: Path) -> None:
    stale = tmp_path / "old.pt"
    torch.save({**torch.load(checkpoint, weights_only=True), "format_version": 99}, stale)
    image, mask, query = _support_and_query(tmp_path)
    result = _run("--checkpoint", stale, "--support", image, mask, "--query", query, "--out", tmp_path / "o")
    _assert_refused(result, str(stale), "format_version")


def test_refuses_checkpoint_of_another_model(tmp_path: Path) -> None:
    foreign = tmp_path / "resnet.pt"
    torch.save({"state_dict": {"conv1.weight": torch.zeros(1)}}, foreign)
    image, mask, query = _support_and_query(tmp_path)
    result = _run("--checkpoint", foreign, "--support", image, mask, "--query", query,
                  "--out", tmp_path / "o")
    _assert_refused(result, str(foreign), "not a umtfss checkpoint")


def test_support_dir_pairs_images_with_their_masks(tmp_path: Path, checkpoint: Path) -> None:
    folder = tmp_path / "supports"
    folder.mkdir()
    for i, suffix in enumerate((".png", ".jpg")):
        _image(folder / f"s{i}{suffix}", 40, 56, i)
        _mask(folder / f"s{i}_mask.png", 40, 56)
    query = _image(tmp_path / "q.png", 40, 40, 2)
    args = ("--checkpoint", checkpoint, "--query", query, "--size", 64, "--device", "cpu")
    result = _run(*args, "--support-dir", folder, "--out", tmp_path / "o")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["q_mask.png", "q_overlay.png"]

    # The two supports as explicit pairs give the same mask: the folder's pairing is the same.
    explicit = _run(*args, "--support", folder / "s0.png", folder / "s0_mask.png",
                    "--support", folder / "s1.jpg", folder / "s1_mask.png", "--out", tmp_path / "e")
    assert explicit.exit_code == 0, explicit.output
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "o" / "q_mask.png")),
                                  np.asarray(Image.open(tmp_path / "e" / "q_mask.png")))

    # A written mask reads back as a support mask of the same object (class id 1 under a palette), so a
    # checked prediction can serve as a support; a 0/255 mask would read as all ignore.
    written = tmp_path / "o" / "q_mask.png"
    _, support_mask = read_support(query, written, class_id=None)
    np.testing.assert_array_equal(support_mask, np.asarray(Image.open(written)))

    (folder / "s1_mask.png").unlink()
    _assert_refused(_run(*args, "--support-dir", folder, "--out", tmp_path / "o2"), str(folder), "s1.jpg")


def test_support_needs_a_mask(tmp_path: Path, checkpoint: Path) -> None:
    image = _image(tmp_path / "s.png", 40, 56, 0)
    query = _image(tmp_path / "q.png", 40, 40, 1)
    result = _run("--checkpoint", checkpoint, "--support", image, "--query", query, "--out", tmp_path / "o")
    assert result.exit_code == 2
    assert "image and a mask" in result.output
    assert not (tmp_path / "o").exists()
