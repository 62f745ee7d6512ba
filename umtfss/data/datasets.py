"""Preparing the configured dataset: generate or scan it, and describe it in ``dataset.json``."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pandas as pd

from umtfss.data.ccp import prepare_ccp
from umtfss.data.coco import prepare_coco20i
from umtfss.data.config import PrepareConfig
from umtfss.data.embedded import generate
from umtfss.data.folder import prepare_folder
from umtfss.data.manifest import DatasetInfo, check_unique_ids, content_md5
from umtfss.data.masks import prepare_masks
from umtfss.data.pascal import prepare_pascal5i
from umtfss.data.scan import parallel_map
from umtfss.errors import InputError
from umtfss.io import atomic_output

DESCRIPTOR = "dataset.json"


def images_sha256(frame: pd.DataFrame) -> str:
    """Hash of the image list (ids, paths, masks, splits): tells two preparations of a dataset apart."""
    digest = hashlib.sha256()
    for row in frame[["image_id", "image_path", "mask_path", "split"]].itertuples(index=False):
        digest.update("\t".join("" if pd.isna(value) else str(value) for value in row).encode() + b"\n")
    return digest.hexdigest()


def prepare_dataset(cfg: PrepareConfig, out_dir: str | os.PathLike[str]) -> tuple[pd.DataFrame, DatasetInfo]:
    """Generate (embedded) or scan (pascal5i, coco20i, ccp, masks, folder) the dataset of ``cfg`` into
    ``out_dir``.

    ``out_dir`` receives ``dataset.json`` plus whatever files the dataset needs there (the embedded images
    and masks, the masks rendered from COCO, remapped from CCP or from a mask folder's ignore ids),
    atomically. Returns the manifest rows, with the content hash of every image and mask, and the dataset
    info; the paths in the rows are relative to the working directory (the project root) or absolute.
    """
    out_dir = Path(out_dir)
    root = Path(cfg.root).expanduser() if cfg.root else None
    with atomic_output(out_dir) as tmp:
        tmp.mkdir()
        if cfg.dataset == "embedded":
            frame, info, extra = generate(cfg.embedded, tmp, out_dir)
        elif cfg.dataset == "pascal5i":
            frame, info, extra = prepare_pascal5i(root, cfg.pascal5i)
        elif cfg.dataset == "coco20i":
            frame, info, extra = prepare_coco20i(root, cfg.coco20i, tmp, out_dir)
        elif cfg.dataset == "ccp":
            frame, info, extra = prepare_ccp(root, cfg.ccp, tmp, out_dir)
        elif cfg.dataset == "masks":
            assert cfg.masks is not None  # PrepareConfig requires the section for this dataset
            frame, info, extra = prepare_masks(root, cfg.masks, tmp, out_dir)
        else:
            frame, info, extra = prepare_folder(root)
        if frame.empty:
            raise InputError(f"dataset {cfg.dataset} at {root} lists no images")
        check_unique_ids(frame, f"dataset {cfg.dataset} at {root}")
        descriptor = {
            "name": info.name, "source": None if root is None else str(root),
            "class_names": info.class_names, "folds": info.folds,
            "images": {split: int(n) for split, n in frame["split"].value_counts().sort_index().items()},
            "images_sha256": images_sha256(frame), **extra,
        }
        (tmp / DESCRIPTOR).write_text(json.dumps(descriptor, indent=2) + "\n")
    # Hashed once the files are in place: generated ones are written under ``tmp`` but listed at ``out_dir``.
    pairs = list(zip(frame["image_path"], frame["mask_path"], strict=True))
    return frame.assign(content_md5=parallel_map(lambda pair: content_md5(*pair), pairs, desc="hash")), info
