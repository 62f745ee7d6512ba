"""`extract`: features match a direct backbone forward, padding is never valid, few files, clean kills."""

from __future__ import annotations

import hashlib
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import zarr
from PIL import Image

from tests.conftest import Project
from umtfss.data.images import letterbox, load_image, to_tensor
from umtfss.errors import InputError
from umtfss.backbones.build import build_network, build_trunk
from umtfss.backbones.config import BackboneConfig
from umtfss.features.config import ExtractConfig
from umtfss.features.extract import extract_features, mirrored_canvas


def _write_images(folder: Path, sizes: list[tuple[int, int]]) -> list[str]:
    rng = np.random.default_rng(0)
    paths = []
    for i, (h, w) in enumerate(sizes):
        path = folder / f"img{i}.png"
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


CFG = ExtractConfig(backbone=BackboneConfig(arch="resnet18"), layer="layer3", input_size=64, margin=32,
                    batch_size=3, images_per_shard=2, device="cpu")


def test_features_match_backbone_and_padding_is_invalid(tmp_path: Path) -> None:
    sizes = [(64, 64), (40, 64), (64, 20), (33, 50), (64, 48)]
    paths = _write_images(tmp_path, sizes)
    out = tmp_path / "features.zarr"
    extract_features(paths, [f"id{i}" for i in range(5)], out, CFG)

    group = zarr.open_group(str(out), mode="r")
    features, valid = group["features"], group["valid"]
    assert features.shape == (5, 4, 4, 256) and features.dtype == np.float16
    assert group.attrs["image_ids"] == [f"id{i}" for i in range(5)] and group.attrs["stride"] == 16
    # One file per shard (3 shards of 2, 2, 1 images) per array, plus metadata.
    assert len([p for p in (out / "features" / "c").rglob("*") if p.is_file()]) == 3

    trunk = build_trunk(build_network(CFG.backbone), CFG.backbone.arch, ["layer3"]).eval()
    for i, (h, w) in enumerate(sizes):
        canvas, extent = mirrored_canvas(load_image(paths[i]), 64, margin=32)
        with torch.inference_mode():
            cells = trunk(to_tensor(canvas)[None])["layer3"][..., 2:6, 2:6]  # the 32 px margin is 2 cells
            expected = F.normalize(cells, dim=1)[0].permute(1, 2, 0).numpy()
        np.testing.assert_allclose(features[i].astype(np.float32), expected, atol=2e-3)
        rows, cols = math.ceil(extent[0] / 16), math.ceil(extent[1] / 16)
        assert valid[i][:rows, :cols].all() and valid[i].sum() == rows * cols
    norms = np.linalg.norm(features[:].astype(np.float32), axis=-1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-2)


def test_mirrored_canvas_fills_padding_and_margin_with_the_image() -> None:
    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    canvas, extent = mirrored_canvas(image, 6, margin=2)
    assert canvas.shape == (10, 10, 3) and extent == (4, 6)
    resized = letterbox(image, 6, is_mask=False)[0][:4]
    np.testing.assert_array_equal(canvas[2:6, 2:8], resized)  # the image where letterbox puts it
    np.testing.assert_array_equal(canvas[1, 2:8], resized[0])  # above it, its first row mirrored
    np.testing.assert_array_equal(canvas[6:8, 2:8], resized[::-1][:2])  # below: the letterbox padding
    np.testing.assert_array_equal(canvas[2:6, 1], resized[:, 0])


def test_margin_removes_the_border_signature_of_padding(tmp_path: Path) -> None:
    # A uniform image: every valid cell should see the same thing. Zero padding makes the border cells differ
    # from the centre; the mirrored margin keeps them alike.
    path = tmp_path / "flat.png"
    Image.fromarray(np.full((64, 64, 3), 120, np.uint8)).save(path)
    spread = {}
    for margin in (0, 32):
        cfg = CFG.model_copy(update={"layer": "layer1", "margin": margin})
        extract_features([str(path)], ["flat"], tmp_path / f"m{margin}.zarr", cfg)
        cells = zarr.open_group(str(tmp_path / f"m{margin}.zarr"), mode="r")["features"][0].astype(np.float32)
        spread[margin] = float((cells @ cells[8, 8]).min())  # least cosine of any cell to the centre cell
    assert spread[0] < 0.9 and spread[32] > 0.999, spread


def test_corrupt_or_missing_image_fails_naming_it_and_writes_nothing(tmp_path: Path) -> None:
    paths = _write_images(tmp_path, [(32, 32), (32, 32)])
    Path(paths[1]).write_bytes(b"not a png")
    out = tmp_path / "features.zarr"
    for bad in (paths, [paths[0], str(tmp_path / "gone.png")]):
        with pytest.raises(InputError, match=Path(bad[1]).name):
            extract_features(bad, ["a", "b"], out, CFG)
        assert not out.exists() and not list(tmp_path.glob(".*.partial"))


def _store_digest(store: Path) -> str:
    group = zarr.open_group(str(store), mode="r")
    digest = hashlib.sha256()
    for name in ("features", "valid"):
        digest.update(np.ascontiguousarray(group[name][:]).tobytes())
    return digest.hexdigest()


@pytest.mark.slow
def test_killed_extract_leaves_nothing_and_rerun_is_identical(make_project) -> None:
    project: Project = make_project({
        "prepare": {"embedded": {"n_train": 120, "n_val": 8, "min_size": 160, "max_size": 200}},
        "extract": {"input_size": 224, "batch_size": 1, "images_per_shard": 2},
    })
    project.dvc("repro", "selfsup")  # and prepare: extract's inputs
    env_python = str(Path(sys.executable))
    process = subprocess.Popen([env_python, "-m", "stages.extract"], cwd=project.root,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    artifacts = project.root / "artifacts"
    deadline = time.monotonic() + 120
    # Kill once the first shard has landed in the temporary store, i.e. truly midway.
    while time.monotonic() < deadline and process.poll() is None:
        if any(artifacts.glob(".features.zarr.*.partial/features.zarr/features/c/*")):
            break
        time.sleep(0.02)
    assert process.poll() is None, "extract finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()

    assert not (artifacts / "features.zarr").exists()
    assert "extract" in project.dvc("status").stdout
    project.dvc("repro", "extract")
    assert not list(artifacts.glob(".*.partial")), "a rerun cleans the killed run's leftovers"
    after_kill = _store_digest(artifacts / "features.zarr")
    project.dvc("repro", "--force", "--single-item", "extract")
    assert _store_digest(artifacts / "features.zarr") == after_kill
