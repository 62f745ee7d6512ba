"""Segment new images with a trained checkpoint: a few annotated supports, any number of query images.

Images are letterboxed to ``size`` as in evaluation; each query's logits are cropped to the resized image,
resized back to its original size and arg-maxed, so the written mask has the query's own size.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from umtfss.data.images import IGNORE, letterbox, load_image, load_mask, to_tensor
from umtfss.errors import InputError
from umtfss.evaluation.overlays import overlay
from umtfss.evaluation.protocol import predict_mask
from umtfss.device import resolve_device
from umtfss.io import atomic_output
from umtfss.training.checkpoint import load_model

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def read_support(image_path: Path, mask_path: Path, class_id: int | None) -> tuple[np.ndarray, np.ndarray]:
    """A support image and its binary mask in {0, 1, 255}: foreground is ``class_id``, or without one every
    non-zero, non-ignore value. ``InputError`` if the sizes differ or the mask has no foreground."""
    image, mask = load_image(image_path), load_mask(mask_path)
    if image.shape[:2] != mask.shape:
        raise InputError(
            f"support mask {mask_path} is {mask.shape[1]}x{mask.shape[0]}, but its image {image_path} is "
            f"{image.shape[1]}x{image.shape[0]}"
        )
    foreground = mask == class_id if class_id is not None else (mask != 0) & (mask != IGNORE)
    if not foreground.any():
        what = f"pixels of class {class_id}" if class_id is not None else "foreground (non-zero) pixels"
        raise InputError(f"support mask {mask_path} has no {what}")
    return image, np.where(mask == IGNORE, IGNORE, foreground).astype(np.uint8)


def query_files(paths: Iterable[Path]) -> list[Path]:
    """Files as given, folders as their image files (sorted); ``InputError`` if nothing is found."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES))
        elif path.is_file():
            files.append(path)
        else:
            raise InputError(f"query {path} not found")
    if not files:
        raise InputError("no query images found")
    stems = [f.stem for f in files]
    repeated = sorted({s for s in stems if stems.count(s) > 1})
    if repeated:  # outputs are named after the query: two same-named queries would overwrite each other
        raise InputError(f"several query images are named {repeated}; rename or predict them separately")
    return files


def predict(
    checkpoint: str | os.PathLike[str],
    supports: Sequence[tuple[Path, Path]],
    queries: Sequence[Path],
    out_dir: Path,
    *,
    size: int = 473,
    class_id: int | None = None,
    device: str = "auto",
) -> list[Path]:
    """Write ``<name>_mask.png`` (0 / 255) and ``<name>_overlay.png`` per query to ``out_dir``; returns them."""
    if not supports:
        raise InputError("at least one --support IMAGE MASK is needed")
    model, _ = load_model(checkpoint)
    target = resolve_device(device)
    model.to(target).eval()
    images, masks = [], []
    for image_path, mask_path in supports:
        image, mask = read_support(image_path, mask_path, class_id)
        images.append(to_tensor(letterbox(image, size, is_mask=False)[0]))
        masks.append(torch.from_numpy(letterbox(mask, size, is_mask=True)[0].astype(np.int64)))
    support_images, support_masks = torch.stack(images), torch.stack(masks)

    written: list[Path] = []
    out_dir.mkdir(parents=True, exist_ok=True)
    with torch.inference_mode():
        for query_path in query_files(queries):
            image = load_image(query_path)
            canvas, extent = letterbox(image, size, is_mask=False)
            pred = predict_mask(model, to_tensor(canvas), support_images, support_masks, extent, image.shape[:2],
                                target)
            outputs = {
                out_dir / f"{query_path.stem}_mask.png": Image.fromarray(pred * 255),
                out_dir / f"{query_path.stem}_overlay.png": Image.fromarray(overlay(image, pred)),
            }
            for path, picture in outputs.items():
                with atomic_output(path) as tmp:
                    picture.save(tmp, format="PNG")
                written.append(path)
    return written
