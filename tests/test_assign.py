"""Nearest-centroid assignment with Dask into the sharded label store, superpixel smoothing, and quality."""

from __future__ import annotations

from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import zarr
from dask.distributed import LocalCluster
from PIL import Image
from sklearn.metrics import normalized_mutual_info_score

from umtfss.clustering.assign import assign_labels, check_aligned, write_aligned
from umtfss.clustering.config import FelzenszwalbConfig
from umtfss.clustering.quality import cluster_quality, scores
from umtfss.errors import InputError
from umtfss.features.store import create_image_array, images_per_chunk


def write_features(path: Path, feats: np.ndarray, valid: np.ndarray, *, per_shard: int, stride: int = 8) -> None:
    """A features store in the documented format (docs/artifacts.md)."""
    n, grid, _, channels = feats.shape
    group = zarr.open_group(str(path), mode="w", attributes={
        "image_ids": [f"im{i}" for i in range(n)], "stride": stride, "input_size": grid * stride,
        "layer": "layer3", "backbone": {}, "channels": channels})
    create_image_array(group, "features", n_images=n, item_shape=(grid, grid, channels), dtype="float16",
                       images_per_shard=per_shard)[:] = feats
    create_image_array(group, "valid", n_images=n, item_shape=(grid, grid), dtype="bool",
                       images_per_shard=per_shard, fill_value=False)[:] = valid


def random_store(path: Path, n: int = 10, grid: int = 5, channels: int = 12, per_shard: int = 4,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    feats = rng.standard_normal((n, grid, grid, channels)).astype(np.float32)
    feats = (feats / np.linalg.norm(feats, axis=-1, keepdims=True)).astype(np.float16)
    valid = rng.random((n, grid, grid)) < 0.7
    write_features(path, feats, valid, per_shard=per_shard)
    return feats, valid


def reference_labels(feats: np.ndarray, valid: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    distances = ((feats.astype(np.float64)[..., None, :] - centroids.astype(np.float64)) ** 2).sum(-1)
    return np.where(valid, distances.argmin(-1), -1)


@pytest.fixture
def store(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray, np.ndarray]:
    feats, valid = random_store(tmp_path / "features.zarr")  # N = 10, S = 4: shards of 4, 4 and 2 images
    centroids = np.random.default_rng(1).standard_normal((6, 12)).astype(np.float32)
    return tmp_path / "features.zarr", feats, valid, centroids


def test_assign_matches_numpy_on_partial_last_shard(store, tmp_path: Path) -> None:
    path, feats, valid, centroids = store
    assign_labels(path, centroids, tmp_path / "labels.zarr", scheduler="threads", n_workers=2)
    group = zarr.open_group(str(tmp_path / "labels.zarr"), mode="r")
    labels = group["labels"]
    assert labels.dtype == np.int16 and labels.shape == (10, 5, 5) and labels.shards == (4, 5, 5)
    np.testing.assert_array_equal(labels[:], reference_labels(feats, valid, centroids))
    assert (labels[:][~valid] == -1).all() and (labels[:][valid] >= 0).all()
    assert dict(group.attrs) == {"image_ids": [f"im{i}" for i in range(10)], "cell_size": 8, "input_size": 40,
                                 "n_clusters": 6}
    assert len([f for f in (tmp_path / "labels.zarr" / "labels" / "c").rglob("*") if f.is_file()]) == 3


def test_label_chunks_hold_as_many_whole_images_as_fit_and_read_back_alike(store, tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    path, feats, valid, centroids = store
    expected = reference_labels(feats, valid, centroids)
    layouts = {}
    # 5 x 5 int16 = 50 bytes an image, 4 images a shard: the bound gives 4, 2 (3 does not divide 4) and 1.
    for bound, per_chunk in ((1 << 19, 4), (150, 2), (49, 1)):
        monkeypatch.setattr("umtfss.features.store.CHUNK_BYTES", bound)
        assign_labels(path, centroids, tmp_path / f"{bound}.zarr")
        layouts[bound] = zarr.open_group(str(tmp_path / f"{bound}.zarr"), mode="r")["labels"]
        assert layouts[bound].chunks == (per_chunk, 5, 5) and layouts[bound].shards == (4, 5, 5)
    for labels in layouts.values():
        for index in (0, 5, 9):  # random access reads the same labels from every layout
            np.testing.assert_array_equal(labels[index], expected[index])
        np.testing.assert_array_equal(labels[:], expected)


@pytest.mark.parametrize(("item_bytes", "per_shard", "expected"), [
    (1 << 16, 64, 8),    # 64 KiB feature maps: 8 fill the 512 KiB bound
    (1 << 16, 12, 6),    # 8 fit but do not divide 12
    (1 << 16, 7, 7),     # a short store's whole shard
    (1 << 21, 64, 1),    # an item larger than the bound is its own chunk
    (0, 64, 64),
])
def test_images_per_chunk(item_bytes: int, per_shard: int, expected: int) -> None:
    assert images_per_chunk(item_bytes, per_shard) == expected


def test_misaligned_dask_chunks_are_refused(tmp_path: Path) -> None:
    check_aligned((4, 4, 2), 4)  # the last chunk may be short
    target = create_image_array(zarr.open_group(str(tmp_path / "l.zarr"), mode="w"), "labels", n_images=10,
                                item_shape=(3, 3), dtype="int16", images_per_shard=4)
    with pytest.raises(ValueError, match=r"\[3, 6, 9\].*4-image shard"):
        write_aligned(da.zeros((10, 3, 3), dtype=np.int16, chunks=(3, 3, 3)), target)
    assert (target[:] == 0).all() and not list((tmp_path / "l.zarr" / "labels").rglob("c/*"))


def test_centroids_of_other_width_are_an_input_error(store, tmp_path: Path) -> None:
    path, *_ = store
    with pytest.raises(InputError, match="12-channel"):
        assign_labels(path, np.zeros((3, 7), np.float32), tmp_path / "labels.zarr")
    assert not (tmp_path / "labels.zarr").exists()


def test_tcp_scheduler_gives_the_same_labels(store, tmp_path: Path) -> None:
    path, _, _, centroids = store
    assign_labels(path, centroids, tmp_path / "threads.zarr", scheduler="threads")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp://",
                      dashboard_address=None) as cluster:
        assert cluster.scheduler_address.startswith("tcp://")
        assign_labels(path, centroids, tmp_path / "tcp.zarr", scheduler=cluster.scheduler_address)
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "tcp.zarr" / "labels"), mode="r")[:],
                                  zarr.open_array(str(tmp_path / "threads.zarr" / "labels"), mode="r")[:])


def test_felzenszwalb_majority_fixes_a_noisy_cell_and_keeps_padding_invalid(tmp_path: Path) -> None:
    # Two 32 px images, stride 8, G = 4: a square one (black | white halves) and a 32x16 one (black only).
    square = np.zeros((32, 32, 3), np.uint8)
    square[:, 16:] = 255
    Image.fromarray(square).save(tmp_path / "a.png")
    Image.fromarray(np.zeros((32, 16, 3), np.uint8)).save(tmp_path / "b.png")
    cells = np.zeros((2, 4, 4), np.int64)
    cells[0, :, 2:] = 1
    cells[0, 1, 1] = 1  # noise: a white-cluster cell in the black half
    valid = np.ones((2, 4, 4), bool)
    valid[1, :, 2:] = False
    feats = np.eye(2, dtype=np.float16)[cells]
    write_features(tmp_path / "features.zarr", feats, valid, per_shard=1)
    cfg = FelzenszwalbConfig(scale=100, sigma=0.5, min_size=20)
    assign_labels(tmp_path / "features.zarr", np.eye(2, dtype=np.float32), tmp_path / "labels.zarr",
                  superpixels=cfg, images=[str(tmp_path / "a.png"), str(tmp_path / "b.png")])
    group = zarr.open_group(str(tmp_path / "labels.zarr"), mode="r")
    labels = group["labels"][:]
    assert labels.shape == (2, 32, 32) and group.attrs["cell_size"] == 1
    expected = np.zeros((2, 32, 32), np.int16)
    expected[0, :, 16:] = 1
    expected[1, :, 16:] = -1
    np.testing.assert_array_equal(labels, expected)
    with pytest.raises(InputError, match="one image path per row"):
        assign_labels(tmp_path / "features.zarr", np.eye(2, dtype=np.float32), tmp_path / "x.zarr",
                      superpixels=cfg, images=[str(tmp_path / "a.png")])


def write_labels(path: Path, labels: np.ndarray, *, cell_size: int, input_size: int, n_clusters: int) -> None:
    group = zarr.open_group(str(path), mode="w", attributes={
        "image_ids": [f"im{i}" for i in range(len(labels))], "cell_size": cell_size, "input_size": input_size,
        "n_clusters": n_clusters})
    create_image_array(group, "labels", n_images=len(labels), item_shape=labels.shape[1:], dtype="int16",
                       images_per_shard=2, fill_value=-1)[:] = labels


def test_quality_is_perfect_for_a_relabeling_and_lower_when_shuffled(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    # 3 masks of 16x16 px in 4x4 blocks of classes 0..4 (one block ignored); label cells of 4 px.
    classes = rng.integers(0, 5, (3, 4, 4)).astype(np.uint8)
    classes[:, 0, 0] = 255
    masks = {}
    for i, block in enumerate(classes):
        Image.fromarray(np.kron(block, np.ones((4, 4), np.uint8))).save(tmp_path / f"m{i}.png")
        masks[f"im{i}"] = str(tmp_path / f"m{i}.png")
    perfect = np.where(classes == 255, -1, (classes.astype(np.int16) * 3 + 1) % 7).astype(np.int16)
    write_labels(tmp_path / "perfect.zarr", perfect, cell_size=4, input_size=16, n_clusters=7)
    quality = cluster_quality(tmp_path / "perfect.zarr", masks)
    assert (quality.purity, quality.nmi, quality.n_images, quality.n_cells) == (1.0, pytest.approx(1.0), 3, 45)

    shuffled = rng.permutation(perfect.ravel()).reshape(perfect.shape)
    write_labels(tmp_path / "shuffled.zarr", shuffled, cell_size=4, input_size=16, n_clusters=7)
    masks["not-in-store"] = str(tmp_path / "m0.png")
    low = cluster_quality(tmp_path / "shuffled.zarr", masks)
    keep = (shuffled >= 0) & (classes != 255)
    assert low.purity < 1 and low.nmi < 0.5 and low.n_images == 3
    assert low.nmi == pytest.approx(normalized_mutual_info_score(classes[keep], shuffled[keep]), abs=1e-12)
    with pytest.raises(InputError, match="none of the 1 labeled images"):
        cluster_quality(tmp_path / "shuffled.zarr", {"other": str(tmp_path / "m0.png")})


def test_scores_from_counts_equal_sklearn_on_the_arrays() -> None:
    rng = np.random.default_rng(2)
    truth, pred = rng.integers(0, 4, 500), rng.integers(0, 6, 500)
    pred[:250] = truth[:250]
    contingency = np.zeros((6, 4), np.int64)
    np.add.at(contingency, (pred, truth), 1)
    purity, nmi = scores(contingency)
    assert nmi == pytest.approx(normalized_mutual_info_score(truth, pred), abs=1e-12)
    assert purity == pytest.approx(sum(np.bincount(truth[pred == c]).max() for c in set(pred)) / 500)
