"""Reading images and masks, letterboxing and normalisation (umtfss.data.images)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from umtfss.data.images import IMAGENET_MEAN, IMAGENET_STD, letterbox, load_image, load_mask, to_tensor
from umtfss.data.palette import save_mask
from umtfss.errors import InputError


def test_load_image_converts_grey_and_palette_to_rgb(tmp_path: Path) -> None:
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    Image.fromarray(grey).save(tmp_path / "grey.png")
    rgb = load_image(tmp_path / "grey.png")
    assert rgb.shape == (3, 4, 3) and rgb.dtype == np.uint8
    assert (rgb[..., 0] == grey).all() and (rgb[..., 2] == grey).all()
    save_mask(np.full((2, 5), 1, np.uint8), tmp_path / "palette.png")
    assert load_image(tmp_path / "palette.png")[0, 0].tolist() == [128, 0, 0]  # VOC colour of class 1


@pytest.mark.parametrize("loader", [load_image, load_mask])
def test_missing_or_corrupt_files_name_the_path(tmp_path: Path, loader) -> None:
    with pytest.raises(InputError, match="absent.png"):
        loader(tmp_path / "absent.png")
    (tmp_path / "junk.png").write_bytes(b"not an image at all")
    with pytest.raises(InputError, match="junk.png"):
        loader(tmp_path / "junk.png")
    Image.fromarray(np.zeros((64, 64, 3), np.uint8) + 7).save(tmp_path / "whole.jpg")
    (tmp_path / "cut.jpg").write_bytes((tmp_path / "whole.jpg").read_bytes()[:200])
    with pytest.raises(InputError, match="cut.jpg"):
        loader(tmp_path / "cut.jpg")


def test_load_mask_keeps_palette_indices_and_rejects_colour_masks(tmp_path: Path) -> None:
    mask = np.array([[0, 1, 20], [255, 3, 0]], np.uint8)
    save_mask(mask, tmp_path / "mask.png")
    assert Image.open(tmp_path / "mask.png").mode == "P"
    np.testing.assert_array_equal(load_mask(tmp_path / "mask.png"), mask)
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(tmp_path / "rgb.png")
    with pytest.raises(InputError, match="rgb.png.*single-channel"):
        load_mask(tmp_path / "rgb.png")


@pytest.mark.parametrize(("shape", "extent"),
                         [((30, 60), (16, 32)), ((61, 20), (32, 10)), ((32, 32), (32, 32))])
def test_letterbox_places_resized_image_top_left_and_pads(shape: tuple[int, int],
                                                          extent: tuple[int, int]) -> None:
    image = np.full((*shape, 3), 200, np.uint8)
    canvas, got = letterbox(image, 32, is_mask=False)
    assert got == extent and canvas.shape == (32, 32, 3)
    assert (canvas[: extent[0], : extent[1]] == 200).all()
    assert canvas[extent[0]:].sum() == 0 and canvas[:, extent[1]:].sum() == 0


def test_letterbox_mask_uses_nearest_and_pads_ignore() -> None:
    mask = np.zeros((40, 80), np.uint8)
    mask[:, 40:] = 7
    canvas, (h, w) = letterbox(mask, 20, is_mask=True)
    assert (h, w) == (10, 20)
    assert set(np.unique(canvas[:h, :w])) == {0, 7}  # no blended ids at the edge
    assert (canvas[h:] == 255).all()
    with pytest.raises(ValueError, match="uint8"):
        letterbox(mask.astype(np.int64), 20, is_mask=True)


def test_to_tensor_normalises_with_imagenet_statistics() -> None:
    image = np.zeros((2, 3, 3), np.uint8)
    image[..., 1] = 255
    tensor = to_tensor(image)
    assert tensor.shape == (3, 2, 3) and tensor.dtype == torch.float32
    assert tensor[0, 0, 0].item() == pytest.approx(-IMAGENET_MEAN[0] / IMAGENET_STD[0], rel=1e-5)
    assert tensor[1, 1, 2].item() == pytest.approx((1 - IMAGENET_MEAN[1]) / IMAGENET_STD[1], rel=1e-5)
