"""Segment new images with a trained checkpoint: a few annotated supports, any number of query images.

Images are letterboxed to ``size`` as in evaluation; each query's logits are cropped to the resized image,
resized back to its original size and arg-maxed, so the written mask has the query's own size. Masks are
palette PNGs of class ids (0 background, 1 object; shown black and white), the dataset masks' convention.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from umtfss.data.images import IGNORE, letterbox, load_image, load_mask, to_tensor
from umtfss.device import resolve_device
from umtfss.errors import InputError
from umtfss.evaluation.overlays import overlay
from umtfss.evaluation.protocol import predict_mask
from umtfss.io import atomic_output
from umtfss.training.checkpoint import load_model

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
# A support folder pairs <stem>.<ext> with <stem>_mask.png: the name predict gives its own masks, so a checked
# prediction can be reused as a support.
MASK_SUFFIX = "_mask.png"
# Index 1 (the object) shown white; the stored values stay the class ids 0 / 1 that load_mask reads back.
MASK_PALETTE = [0, 0, 0, 255, 255, 255]


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def support_pairs(folder: Path) -> list[tuple[Path, Path]]:
    """Every image of ``folder`` with its ``<stem>_mask.png``; ``InputError`` for an image without its mask, a
    mask without its image, or a folder with neither."""
    if not folder.is_dir():
        raise InputError(f"support folder {folder} not found")
    files = _images(folder)
    masks = {p for p in files if p.name.endswith(MASK_SUFFIX)}
    pairs = [(image, folder / f"{image.stem}{MASK_SUFFIX}") for image in files if image not in masks]
    lacking = [image.name for image, mask in pairs if mask not in masks]
    if lacking:
        raise InputError(f"support folder {folder}: no <name>{MASK_SUFFIX} for {lacking}")
    orphans = sorted(masks - {mask for _, mask in pairs})
    if orphans:
        raise InputError(f"support folder {folder}: masks without an image: {[m.name for m in orphans]}")
    if not pairs:
        raise InputError(f"support folder {folder} holds no image with a <name>{MASK_SUFFIX} mask")
    return pairs


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
            files.extend(_images(path))
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


def _palette_mask(mask: np.ndarray) -> Image.Image:
    picture = Image.fromarray(mask)
    picture.putpalette(MASK_PALETTE)  # makes the greyscale image a palette one, values unchanged
    return picture


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
    """Write each query's ``<name>_mask.png`` and ``<name>_overlay.png`` in ``out_dir``; returns them."""
    if not supports:
        raise InputError("at least one support is needed (--support IMAGE MASK or --support-dir)")
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
            pred = predict_mask(
                model, to_tensor(canvas), support_images, support_masks, extent, image.shape[:2], target
            )
            outputs = {
                out_dir / f"{query_path.stem}{MASK_SUFFIX}": _palette_mask(pred),
                out_dir / f"{query_path.stem}_overlay.png": Image.fromarray(overlay(image, pred)),
            }
            for path, picture in outputs.items():
                with atomic_output(path) as tmp:
                    picture.save(tmp, format="PNG")
                written.append(path)
    return written
