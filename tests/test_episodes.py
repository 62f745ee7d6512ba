"""Episode samplers on a tiny embedded pipeline built by the real `dvc repro episodes`."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.conftest import Project, create_project
from umtfss.data.fractions import read_fraction
from umtfss.data.images import letterbox
from umtfss.data.manifest import base_classes, novel_classes, read_manifest
from umtfss.episodes.config import AugmentConfig
from umtfss.episodes.labeled import LabeledEpisodes
from umtfss.episodes.load import Resize, load_episode
from umtfss.episodes.pseudo import PseudoEpisodes
from umtfss.episodes.sampling import evaluation_episodes
from umtfss.episodes.transforms import train_transform
from umtfss.features.store import open_group

AUGMENT = AugmentConfig()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    project = create_project(tmp_path_factory.mktemp("episodes") / "project")
    result = project.dvc("repro", "episodes")
    assert "Running stage 'episodes'" in result.stdout
    return project


@pytest.fixture(autouse=True)
def _in_project(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """Manifest paths are relative to the project root, where stages run."""
    monkeypatch.chdir(project.root)


def _pseudo(project: Project, shots: int = 2, seed: int = 0, augment: AugmentConfig = AUGMENT) -> PseudoEpisodes:
    root = project.root
    return PseudoEpisodes(manifest=root / "data/manifest.parquet", labels=root / "artifacts/labels.zarr",
                          regions=root / "artifacts/regions.parquet",
                          candidates=root / "artifacts/candidates.parquet", shots=shots, crop_size=64,
                          augment=augment, seed=seed)


def _same(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) if isinstance(a[k], torch.Tensor) else a[k] == b[k] for k in a)


def test_pseudo_episodes_are_deterministic_and_well_formed(project: Project) -> None:
    episodes = _pseudo(project)
    first = episodes[5]
    assert first["query_image"].shape == (3, 64, 64) and first["support_images"].shape == (2, 3, 64, 64)
    assert first["query_mask"].dtype == torch.int64 and first["support_masks"].shape == (2, 64, 64)
    for _ in range(3):
        assert _same(first, episodes[5])
    assert _same(_pseudo(project)[5], first)
    assert not _same(_pseudo(project, seed=1)[5], first)
    for index in range(12):
        episode = episodes[index]
        for mask in (episode["query_mask"], *episode["support_masks"]):
            assert set(mask.unique().tolist()) <= {0, 1, 255}
        assert (episode["query_mask"] == 1).any(), "the query always shows its pseudo class"


def test_unaugmented_pseudo_views_are_named_by_their_image_and_are_that_image_alone(project: Project) -> None:
    assert "view_ids" not in _pseudo(project)[0]  # augmented: a view is drawn, not a function of its image
    episodes = _pseudo(project, augment=AugmentConfig(scale=(1.0, 1.0), rotate_deg=0.0, flip=False))
    seen: dict[int, torch.Tensor] = {}
    repeats = 0
    for index in range(40):
        episode = episodes[index]
        ids = episode["view_ids"].tolist()
        assert len(ids) == 3 and ids[0] == episode["query_index"]
        for view_id, image in zip(ids, [episode["query_image"], *episode["support_images"]], strict=True):
            if view_id in seen:
                repeats += 1
                assert torch.equal(seen[view_id], image), view_id
            seen[view_id] = image
    assert repeats, "40 episodes over this pool repeat images: the check above ran"


def test_pseudo_masks_match_the_label_store(project: Project) -> None:
    episodes = _pseudo(project)
    labels = open_group(project.root / "artifacts/labels.zarr", what="label")
    cell, size = labels.attrs["cell_size"], labels.attrs["input_size"]
    for index in range(6):
        episode = episodes[index]
        image_index, cluster = episode["query_index"], episode["class_id"]
        mask = episodes.pseudo_mask(image_index, cluster)
        assert mask.shape == episodes.sizes[image_index]
        stored = np.asarray(labels["labels"][image_index])
        boxed, _ = letterbox(mask, size, is_mask=True)
        resampled = boxed[cell // 2::cell, cell // 2::cell][: stored.shape[0], : stored.shape[1]]
        valid = stored >= 0
        agreement = ((resampled == 1) == (stored == cluster))[valid].mean()
        assert agreement > 0.95, agreement


def test_labeled_episodes_use_only_listed_images_and_binary_masks(project: Project) -> None:
    manifest, info = read_manifest(project.root / "data/manifest.parquet")
    ids = read_fraction(project.root / "data/fractions", 100)
    classes = base_classes(info, 0)
    episodes = LabeledEpisodes(manifest, image_ids=ids, classes=classes, shots=1, crop_size=64, augment=AUGMENT,
                               seed=0)
    assert {image_id for image_id, _ in episodes.pairs} <= set(ids)
    assert {c for _, c in episodes.pairs} <= set(classes)
    episode = episodes[3]
    assert episode["class_id"] in classes and _same(episode, episodes[3])
    assert set(episode["query_mask"].unique().tolist()) <= {0, 1, 255}


@pytest.mark.parametrize("shots", [1, 5])
def test_evaluation_episodes_are_exact_seeded_and_never_self_supported(project: Project, shots: int) -> None:
    manifest, info = read_manifest(project.root / "data/manifest.parquet")
    specs = evaluation_episodes(manifest, info, fold=0, shots=shots, n_episodes=37, seed=3)
    assert len(specs) == 37
    assert specs == evaluation_episodes(manifest, info, fold=0, shots=shots, n_episodes=37, seed=3)
    assert specs != evaluation_episodes(manifest, info, fold=0, shots=shots, n_episodes=37, seed=4)
    val = set(manifest.loc[manifest["split"] == "val", "image_id"])
    for spec in specs:
        assert spec.class_id in novel_classes(info, 0)
        assert spec.query_id not in spec.support_ids and len(spec.support_ids) == shots
        assert {spec.query_id, *spec.support_ids} <= val
    episode = load_episode(specs[0], manifest, Resize(64))
    row = manifest.set_index("image_id").loc[specs[0].query_id]
    assert episode["query_label"].shape == (row["height"], row["width"])
    assert episode["support_masks"].shape == (shots, 64, 64) and max(episode["query_extent"]) == 64
    assert (episode["query_label"] == 1).any()
    boxed, _ = letterbox(episode["query_label"].numpy().astype(np.uint8), 64, is_mask=True)
    assert episode["query_mask"].dtype == torch.int64 and np.array_equal(episode["query_mask"].numpy(), boxed)
    assert manifest.iloc[episode["query_index"]]["image_id"] == specs[0].query_id


def test_train_transform_crops_pads_and_fills_rotation_with_ignore() -> None:
    image = np.full((40, 60, 3), 200, np.uint8)
    mask = np.ones((40, 60), np.uint8)
    rng = np.random.default_rng(0)
    wide = AugmentConfig(scale=(1.0, 1.0), rotate_deg=45.0, flip=True)
    pixels, labels = train_transform(image, mask, 96, wide, rng)
    assert pixels.shape == (3, 96, 96) and labels.shape == (96, 96)
    assert (labels == 255).any() and (labels == 1).any()
    assert set(labels.unique().tolist()) <= {1, 255}, "rotation and padding fill with ignore only"
    still = AugmentConfig(scale=(1.0, 1.0), rotate_deg=0.0, flip=False)
    _, labels = train_transform(image, mask, 60, still, np.random.default_rng(0))
    assert (labels[:40] == 1).all() and (labels[40:] == 255).all()
