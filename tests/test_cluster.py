"""k-means engines and the sampling of feature cells for the `cluster` stage."""

from __future__ import annotations

import logging
from pathlib import Path

import faiss
import numpy as np
import pytest
import zarr

from umtfss.clustering.kmeans import cuml_unusable, fit_kmeans, inertia, nearest_centroid, sample_points
from umtfss.errors import InputError, UmtfssError
from umtfss.features.store import create_image_array

NO_CUML = cuml_unusable() is not None


def blobs(k: int = 5, per: int = 400, dim: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = 10 * np.eye(k, dim, dtype=np.float32)
    points = np.repeat(centres, per, axis=0) + 0.3 * rng.standard_normal((k * per, dim), dtype=np.float32)
    return points, centres


def test_cpu_engine_recovers_blob_centres_and_agrees_with_faiss() -> None:
    points, centres = blobs()
    result = fit_kmeans(points, 5, max_iter=50, n_init=3, seed=0, engine="cpu")
    assert result.engine == "cpu" and result.centroids.dtype == np.float32 and result.centroids.shape == (5, 16)
    # every true centre has a centroid within noise / sqrt(per-cluster points)
    assert np.sort(np.linalg.norm(result.centroids[:, None] - centres[None], axis=-1).min(axis=0)).max() < 0.1
    km = faiss.Kmeans(16, 5, niter=50, nredo=3, seed=0, max_points_per_centroid=len(points))
    km.train(points)
    assert np.linalg.norm(km.centroids[:, None] - result.centroids[None], axis=-1).min(axis=1).max() < 1e-3
    assert result.inertia == pytest.approx(inertia(points, result.centroids), rel=1e-4)
    assert len(set(nearest_centroid(points[::400], result.centroids))) == 5


@pytest.mark.skipif(not NO_CUML, reason="cuML works here: no fallback to observe")
def test_auto_without_gpu_falls_back_to_cpu_and_says_why(caplog: pytest.LogCaptureFixture) -> None:
    points, _ = blobs(k=3, per=50)
    with caplog.at_level(logging.INFO, logger="umtfss.clustering.kmeans"):
        result = fit_kmeans(points, 3, max_iter=20, n_init=1, seed=0, engine="auto")
    assert result.engine == "cpu"
    assert "cuML unusable" in caplog.text and cuml_unusable() in caplog.text
    with pytest.raises(UmtfssError, match="cuML cannot fit here"):
        fit_kmeans(points, 3, max_iter=20, n_init=1, seed=0, engine="cuml")


def test_too_few_points_is_an_input_error() -> None:
    with pytest.raises(InputError, match="n_clusters=8"):
        fit_kmeans(np.zeros((5, 4), np.float32), 8, max_iter=5, n_init=1, seed=0)


def test_sample_points_gathers_valid_cells_of_a_seeded_subset(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    n, grid, channels = 10, 4, 3
    feats = rng.standard_normal((n, grid, grid, channels)).astype(np.float16)
    valid = rng.random((n, grid, grid)) < 0.6
    group = zarr.open_group(str(tmp_path / "features.zarr"), mode="w")
    create_image_array(group, "features", n_images=n, item_shape=(grid, grid, channels), dtype="float16",
                       images_per_shard=4)[:] = feats
    create_image_array(group, "valid", n_images=n, item_shape=(grid, grid), dtype="bool", images_per_shard=4,
                       fill_value=False)[:] = valid
    points = sample_points(tmp_path / "features.zarr", 4, seed=3)
    rows = np.sort(np.random.default_rng(3).choice(n, 4, replace=False))
    np.testing.assert_array_equal(points, feats[rows][valid[rows]].astype(np.float32))
    assert points.dtype == np.float32
    assert len(sample_points(tmp_path / "features.zarr", 99, seed=0)) == valid.sum()  # capped at the store
    with pytest.raises(InputError, match="missing.zarr"):
        sample_points(tmp_path / "missing.zarr", 2, seed=0)
