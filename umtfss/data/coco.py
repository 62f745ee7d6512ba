"""COCO-20i: COCO 2014 instance annotations turned into per-image class masks, in 4 folds of 20 classes.

Masks are written once, as palette PNGs under the dataset folder, by these rules:

- the sorted COCO category ids are mapped to class ids 1..80 (0 = background);
- crowd annotations (``iscrowd``) become 255 (ignore): their pixels are too uncertain for either side;
- the other annotations are painted largest first, so where instances overlap the smaller one wins (it is
  usually the one in front) and covers crowd regions too;
- an image without annotations is all background.

Folds, over class ids c = 1..80: ``interleaved`` (the standard COCO-20i split of PFENet/HSNet):
fold i = {c : c % 4 == (i + 1) % 4}; ``contiguous``: fold i = 20i+1 .. 20i+20.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pycocotools import mask as mask_utils

from umtfss.data.config import CocoConfig
from umtfss.data.images import IGNORE
from umtfss.data.manifest import COLUMNS, DatasetInfo
from umtfss.data.palette import save_mask
from umtfss.data.scan import image_row, parallel_map
from umtfss.errors import InputError


def coco_folds(n_classes: int, split: str) -> list[list[int]]:
    """The 4 folds of held-out class ids under the ``interleaved`` or ``contiguous`` split."""
    if split == "interleaved":
        return [[c for c in range(1, n_classes + 1) if c % 4 == (i + 1) % 4] for i in range(4)]
    per_fold = n_classes // 4
    return [list(range(per_fold * i + 1, per_fold * (i + 1) + 1)) for i in range(4)]


def _load_annotations(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InputError(f"COCO annotations {path} not found")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"COCO annotations {path} are not readable JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) \
            or not isinstance(data.get("categories"), list):
        raise InputError(f"COCO annotations {path} lack the 'images' and 'categories' lists")
    return data


def _instance_mask(annotation: dict[str, Any], height: int, width: int) -> np.ndarray:
    """Binary (H, W) mask of one annotation: polygons, uncompressed RLE (crowd) or compressed RLE."""
    segmentation = annotation["segmentation"]
    if isinstance(segmentation, list):
        rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
    elif isinstance(segmentation["counts"], list):
        rle = mask_utils.frPyObjects(segmentation, height, width)
    else:
        rle = segmentation
    return mask_utils.decode(rle).astype(bool)


def render_mask(annotations: list[dict[str, Any]], height: int, width: int, class_of: dict[int, int],
                source: Path) -> np.ndarray:
    """uint8 (H, W) class mask of one image's annotations by the rules of this module."""
    mask = np.zeros((height, width), dtype=np.uint8)
    instances = []
    for annotation in annotations:
        try:
            binary = _instance_mask(annotation, height, width)
            category = annotation["category_id"]
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise InputError(f"{source}: annotation {annotation.get('id')} has an unreadable segmentation "
                             f"({type(exc).__name__}: {exc})") from None
        if annotation.get("iscrowd"):
            mask[binary] = IGNORE
            continue
        if category not in class_of:
            raise InputError(
                f"{source}: annotation {annotation.get('id')} has unknown category_id {category}")
        instances.append((int(binary.sum()), binary, class_of[category]))
    # Stable sort, largest first: smaller instances are painted last and win overlaps.
    for _, binary, class_id in sorted(instances, key=lambda item: -item[0]):
        mask[binary] = class_id
    return mask


def prepare_coco20i(root: Path, cfg: CocoConfig, write_dir: Path, final_dir: Path
                    ) -> tuple[pd.DataFrame, DatasetInfo, dict]:
    """Manifest rows of COCO train and val under ``root``, with masks written to ``write_dir``/masks
    (recorded under ``final_dir``/masks, where ``write_dir`` will be moved); every image is read once."""
    if not root.is_dir():
        raise InputError(f"coco20i root {root} is not a folder")
    splits = {"train": (cfg.train_images, root / cfg.train_annotations),
              "val": (cfg.val_images, root / cfg.val_annotations)}
    data = {split: _load_annotations(path) for split, (_, path) in splits.items()}
    categories = {split: {c["id"]: c["name"] for c in d["categories"]} for split, d in data.items()}
    if categories["train"] != categories["val"]:
        raise InputError(f"COCO categories differ between {splits['train'][1]} and {splits['val'][1]}")
    category_ids = sorted(categories["train"])
    if not category_ids or len(category_ids) % 4:
        raise InputError(
            f"{splits['train'][1]} has {len(category_ids)} categories; 4 folds need a multiple of 4")
    class_of = {category: index for index, category in enumerate(category_ids, start=1)}
    names = ["background"] + [categories["train"][c] for c in category_ids]
    info = DatasetInfo(name="coco20i", class_names=names, folds=coco_folds(len(category_ids), cfg.split))

    (write_dir / "masks").mkdir(parents=True)
    jobs = []
    for split, (image_dir, annotation_path) in splits.items():
        by_image: dict[int, list[dict[str, Any]]] = {}
        for annotation in data[split].get("annotations", []):
            by_image.setdefault(annotation.get("image_id"), []).append(annotation)
        for image in data[split]["images"]:
            jobs.append((split, root / image_dir, annotation_path, image, by_image.get(image.get("id"), [])))

    def one_image(job: tuple[str, Path, Path, dict[str, Any], list[dict[str, Any]]]) -> dict[str, Any]:
        split, image_dir, annotation_path, image, annotations = job
        try:
            file_name, height, width = image["file_name"], int(image["height"]), int(image["width"])
        except (KeyError, TypeError, ValueError):
            raise InputError(f"{annotation_path}: image entry {image.get('id')} lacks file_name, height "
                             "or width") from None
        image_id = Path(file_name).stem
        mask = render_mask(annotations, height, width, class_of, annotation_path)
        row = image_row(image_id, image_dir / file_name, split, n_classes=info.n_classes, mask=mask,
                        mask_name=f"of {file_name} in {annotation_path}",
                        mask_path=str(final_dir / "masks" / f"{image_id}.png"))
        save_mask(mask, write_dir / "masks" / f"{image_id}.png")
        return row

    rows = parallel_map(one_image, jobs)
    annotations = {split: str(path) for split, (_, path) in splits.items()}
    return pd.DataFrame(rows, columns=list(COLUMNS)), info, {"split": cfg.split, "annotations": annotations}
