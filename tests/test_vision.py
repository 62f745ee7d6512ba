"""umtfss.vision: torchvision's pure-PyTorch parts import and work next to this CPU build of torch."""

from __future__ import annotations

import numpy as np
import torch

from umtfss.vision import models, torchvision, transforms_v2


def test_resnet18_runs_forward() -> None:
    torch.manual_seed(0)
    model = models.resnet18(weights=None).eval()
    with torch.no_grad():
        logits = model(torch.randn(1, 3, 64, 64))
    assert logits.shape == (1, 1000) and torch.isfinite(logits).all()
    assert torchvision.__version__.startswith("0.")


def test_transforms_v2_apply_jointly_to_image_and_mask() -> None:
    tv_tensors = torchvision.tv_tensors
    image = torch.arange(3 * 8 * 8, dtype=torch.uint8).reshape(3, 8, 8)
    mask = torch.from_numpy(np.eye(8, dtype=np.uint8))
    flip = transforms_v2.RandomHorizontalFlip(p=1.0)
    out_image, out_mask = flip(tv_tensors.Image(image), tv_tensors.Mask(mask))
    assert torch.equal(out_image, image.flip(-1)) and torch.equal(out_mask, mask.flip(-1))
    resized = transforms_v2.Resize((4, 4), antialias=True)(tv_tensors.Image(image.float()))
    assert resized.shape == (3, 4, 4)
