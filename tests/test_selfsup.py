"""Self-supervised backbone training: views know their cells' places, the loss ranks matches, the stage
trains only up to its layer, writes a backbone every loader reads, and resumes after a kill."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import Project, create_project

from pipeline.params import ParamsError, parse_params
from umtfss.data.images import IMAGENET_MEAN, IMAGENET_STD
from umtfss.backbones.build import BackboneConfig, build_network
from umtfss.selfsup.config import ColourJitterConfig
from umtfss.selfsup.loss import dense_contrastive_loss, positive_pairs
from umtfss.selfsup.train import cosine_schedule
from umtfss.selfsup.views import photometric, random_view

SELFSUP = {"selfsup": {"steps": 4, "batch_size": 4, "crop_size": 32, "layer": "layer2", "checkpoint_every": 2,
                       "log_every": 1}}


def _coordinate_image(height: int, width: int) -> torch.Tensor:
    """uint8 (3, H, W): red = row, green = column."""
    rows, cols = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    return torch.stack([rows, cols, torch.zeros_like(rows)]).to(torch.uint8)


def test_view_cell_centres_are_where_the_view_shows_those_pixels() -> None:
    image = _coordinate_image(120, 150)
    colour = photometric(ColourJitterConfig(p=0.0))
    mean, std = torch.tensor(IMAGENET_MEAN).view(3, 1, 1), torch.tensor(IMAGENET_STD).view(3, 1, 1)
    flipped = 0
    for seed in range(8):
        rng = np.random.default_rng(seed)
        view = random_view(image, size=64, grid=8, min_area=0.3, colour=colour, rng=rng)
        shown = ((view.pixels * std + mean) * 255)[:2]  # red, green: the row and column each view pixel shows
        centres = torch.from_numpy(view.centres).float().T.reshape(2, 8, 8)
        # Cell centres sit at view coordinates 4, 12, ...: between pixels 3 and 4, so average those two.
        # + 0.5: pixel k covers [k, k + 1) of the image
        at_centres = shown[:, 3::8, 3::8] / 2 + shown[:, 4::8, 4::8] / 2 + 0.5
        assert torch.allclose(at_centres, centres, atol=2.0), (at_centres - centres).abs().max()
        flipped += bool(view.centres[0, 1] > view.centres[1, 1])
    assert 0 < flipped < 8  # both orientations were drawn


def test_loss_is_lower_for_matching_cells_and_ignores_other_cells_of_the_same_image() -> None:
    generator = torch.Generator().manual_seed(0)
    cells = F.normalize(torch.randn(8, 16, generator=generator), dim=1)
    centres = torch.arange(8, dtype=torch.float32)[:, None].repeat(1, 2) * 10  # far apart: one positive each
    images = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    positives, comparable = positive_pairs(centres, centres, torch.ones(8), images, radius=1.0)
    assert torch.equal(positives, torch.eye(8, dtype=torch.bool))
    matched = dense_contrastive_loss(cells, cells, positives, comparable, temperature=0.2)
    shuffled = dense_contrastive_loss(cells, cells.roll(4, 0), positives, comparable, temperature=0.2)
    assert matched < shuffled
    # A copy of the anchor elsewhere in its own image is no negative (it may be the same material) ...
    twin = cells.clone()
    twin[1] = cells[0]
    same_image = dense_contrastive_loss(cells, twin, positives, comparable, temperature=0.2)
    other = cells.clone()
    other[5] = cells[0]  # ... a copy in another image is
    other_image = dense_contrastive_loss(cells, other, positives, comparable, temperature=0.2)
    assert other_image > same_image
    with pytest.raises(ValueError, match="do not overlap"):
        dense_contrastive_loss(cells, cells, torch.zeros_like(positives), comparable, temperature=0.2)


def test_the_cosine_schedule_decays_from_the_initial_rate_and_resumes_from_its_state() -> None:
    steps, lr = 5, 0.05
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    schedule = cosine_schedule(optimizer, steps)
    used = []
    for step in range(1, steps + 1):  # the rate of step s is the cosine at (s - 1) / steps
        used.append(optimizer.param_groups[0]["lr"])
        assert used[-1] == lr * 0.5 * (1 + math.cos(math.pi * (step - 1) / steps))
        optimizer.step()
        schedule.step()
        if step == 2:
            saved = schedule.state_dict(), optimizer.state_dict()
    assert used[0] == lr and used == sorted(used, reverse=True)
    resumed = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    schedule = cosine_schedule(resumed, steps)
    resumed.load_state_dict(saved[1])
    schedule.load_state_dict(saved[0])
    assert resumed.param_groups[0]["lr"] == used[2]


def test_params_refuse_a_backbone_architecture_the_selfsup_stage_does_not_train() -> None:
    with pytest.raises(ParamsError, match="model.backbone.arch"):
        parse_params({"selfsup": {"backbone": {"arch": "resnet18"}},
                      "model": {"backbone": {"arch": "resnet50", "weights": "models/backbone.pt"}}})
    with pytest.raises(ParamsError, match="selfsup: .*2 x 2"):
        parse_params({"selfsup": {"layer": "layer4", "crop_size": 48}})


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = create_project(tmp_path_factory.mktemp("selfsup") / "project", SELFSUP)
    project.run(sys.executable, "-m", "stages.prepare")
    return project.root


def _copy(prepared: Path, root: Path) -> Project:
    project = create_project(root, SELFSUP)
    (project.root / "data").symlink_to(prepared / "data")
    return project


def test_selfsup_trains_up_to_its_layer_and_writes_a_loadable_backbone(prepared: Path,
                                                                       tmp_path: Path) -> None:
    project = _copy(prepared, tmp_path / "p")
    project.run(sys.executable, "-m", "stages.selfsup")
    weights = project.root / "models/backbone.pt"
    trained = build_network(BackboneConfig(arch="resnet18", weights=str(weights))).state_dict()
    initial = build_network(BackboneConfig(arch="resnet18")).state_dict()
    for prefix in ("conv1.", "layer1.", "layer2."):  # trained, BatchNorm statistics included
        assert not all(torch.equal(trained[k], initial[k]) for k in initial if k.startswith(prefix)), prefix
    for name in initial:  # beyond `layer`: the seeded init, untouched
        if name.startswith(("layer3.", "layer4.")):
            assert torch.equal(trained[name], initial[name]), name
    assert not list((project.root / "checkpoints/selfsup").glob("*.pt"))


def test_steps_zero_writes_the_initial_backbone(prepared: Path, tmp_path: Path) -> None:
    project = _copy(prepared, tmp_path / "p")
    project.set_params({"selfsup": {"steps": 0}})
    project.run(sys.executable, "-m", "stages.selfsup")
    state = torch.load(project.root / "models/backbone.pt", weights_only=True)
    initial = build_network(BackboneConfig(arch="resnet18")).state_dict()
    assert set(state) == {k for k in initial if not k.startswith("fc.")}
    assert all(torch.equal(state[k], initial[k]) for k in state)


def test_a_killed_selfsup_resumes_to_an_uninterrupted_runs_backbone(prepared: Path, tmp_path: Path) -> None:
    whole = _copy(prepared, tmp_path / "whole")
    whole.run(sys.executable, "-m", "stages.selfsup")

    killed = _copy(prepared, tmp_path / "killed")
    killed.run_stage_until_killed("selfsup", killed.root / "checkpoints/selfsup/state-000000002.pt")
    assert not (killed.root / "models/backbone.pt").exists()
    resumed = killed.run(sys.executable, "-m", "stages.selfsup")
    assert "resuming from" in resumed.stderr

    a = torch.load(whole.root / "models/backbone.pt", weights_only=True)
    b = torch.load(killed.root / "models/backbone.pt", weights_only=True)
    assert all(torch.equal(a[name], b[name]) for name in a)
