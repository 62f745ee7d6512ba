"""umtfss.vision: torchvision's pure-PyTorch parts import and work next to this CPU build of torch."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from umtfss import vision
from umtfss.vision import models, torchvision, transforms_v2

ROOT = Path(__file__).resolve().parents[1]


def test_resnet18_runs_forward() -> None:
    torch.manual_seed(0)
    model = models.resnet18(weights=None).eval()
    with torch.no_grad():
        logits = model(torch.randn(1, 3, 64, 64))
    assert logits.shape == (1, 1000) and torch.isfinite(logits).all()


def test_torch_and_torchvision_are_the_pinned_builds() -> None:
    pins = dict(re.findall(r'"(torch|torchvision)==([^"]+)"', (ROOT / "pyproject.toml").read_text()))
    assert set(pins) == {"torch", "torchvision"}
    assert torch.__version__.split("+")[0] == pins["torch"]
    assert torchvision.__version__.split("+")[0] == pins["torchvision"]


def test_op_schemas_are_defined_exactly_when_the_extension_is_missing() -> None:
    # A loaded extension brings CPU kernels and needs nothing from umtfss.vision; otherwise the schemas are
    # its own (torchvision's Python side then adds only fake kernels, for tracing).
    extension_loaded = torch._C._dispatch_has_kernel_for_dispatch_key("torchvision::nms", "CPU")
    assert (vision._schema_library is None) == extension_loaded
    assert torch.ops.torchvision.nms.default._schema.name == "torchvision::nms"  # either way, the op exists


def test_transforms_v2_apply_jointly_to_image_and_mask() -> None:
    tv_tensors = torchvision.tv_tensors
    image = torch.arange(3 * 8 * 8, dtype=torch.uint8).reshape(3, 8, 8)
    mask = torch.from_numpy(np.eye(8, dtype=np.uint8))
    flip = transforms_v2.RandomHorizontalFlip(p=1.0)
    out_image, out_mask = flip(tv_tensors.Image(image), tv_tensors.Mask(mask))
    assert torch.equal(out_image, image.flip(-1)) and torch.equal(out_mask, mask.flip(-1))
    resized = transforms_v2.Resize((4, 4), antialias=True)(tv_tensors.Image(image.float()))
    assert resized.shape == (3, 4, 4)
