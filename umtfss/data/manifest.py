"""The image manifest: one Parquet row per image, with the dataset's classes and folds in its metadata.

Every stage after `prepare` finds images, masks, sizes, splits and per-class pixel counts here, so none of
them needs to know which dataset (embedded, PASCAL-5i, COCO-20i, CCP, a folder) is behind it. Each row
also holds the MD5 of its image and mask bytes, so the manifest changes whenever any pixel does: a stage
that reads images depends on the manifest alone, and DVC hashes one file instead of the whole image folder.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from umtfss.errors import InputError
from umtfss.io import atomic_output

METADATA_KEY = b"umtfss"
SPLITS = ("train", "val")

SCHEMA = pa.schema([
    ("image_id", pa.string()),
    ("image_path", pa.string()),
    ("mask_path", pa.string()),
    ("width", pa.int32()),
    ("height", pa.int32()),
    ("split", pa.string()),
    ("class_pixels", pa.list_(pa.int64())),
    ("content_md5", pa.string()),
])
COLUMNS = tuple(SCHEMA.names)


@dataclass(frozen=True)
class DatasetInfo:
    """Classes and folds of a dataset. ``class_names[i]`` names class id i; id 0 is background.

    ``folds[f]`` lists the classes held out (novel) in fold f; the others are its base classes. An unlabeled
    image folder has only the background class and no folds.
    """

    name: str
    class_names: list[str]
    folds: list[list[int]]

    def __post_init__(self) -> None:
        if not self.class_names:
            raise ValueError("class_names must at least name the background (class 0)")
        for f, fold in enumerate(self.folds):
            bad = [c for c in fold if not 1 <= c <= self.n_classes]
            if bad:
                raise ValueError(f"fold {f} holds class ids {bad} outside 1..{self.n_classes}")

    @property
    def n_classes(self) -> int:
        """Number of object classes (class 0, background, not counted)."""
        return len(self.class_names) - 1

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str | bytes) -> DatasetInfo:
        raw = json.loads(text)
        return cls(name=raw["name"], class_names=list(raw["class_names"]),
                   folds=[list(map(int, fold)) for fold in raw["folds"]])


def content_md5(image_path: str | os.PathLike[str], mask_path: str | os.PathLike[str] | None) -> str:
    """MD5 of the image file's bytes followed by the mask file's (if any); ``InputError`` naming a missing file."""
    digest = hashlib.md5()
    for path in (image_path, mask_path):
        if path is None or pd.isna(path):
            continue
        try:
            digest.update(Path(path).read_bytes())
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror}") from None
    return digest.hexdigest()


def _check_fold(info: DatasetInfo, fold: int) -> list[int]:
    if not 0 <= fold < len(info.folds):
        raise InputError(f"fold {fold} does not exist in dataset {info.name!r} ({len(info.folds)} folds)")
    return info.folds[fold]


def novel_classes(info: DatasetInfo, fold: int) -> list[int]:
    """Class ids held out in ``fold`` (evaluated, never trained on), ascending."""
    return sorted(_check_fold(info, fold))


def base_classes(info: DatasetInfo, fold: int) -> list[int]:
    """Object class ids of ``info`` not held out in ``fold``, ascending."""
    novel = set(_check_fold(info, fold))
    return [c for c in range(1, info.n_classes + 1) if c not in novel]


def check_unique_ids(frame: pd.DataFrame, source: str) -> None:
    """Raise an InputError naming ``source`` when an ``image_id`` of ``frame`` repeats: every artifact
    addresses images by id."""
    repeated = frame.loc[frame["image_id"].duplicated(), "image_id"].head(5).tolist()
    if repeated:
        raise InputError(f"{source}: image ids must be unique; repeated: {repeated}")


def _check_frame(frame: pd.DataFrame, info: DatasetInfo) -> None:
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"manifest frame lacks columns {missing}")
    check_unique_ids(frame, "manifest")
    bad_splits = sorted(set(frame["split"]) - set(SPLITS))
    if bad_splits:
        raise ValueError(f"manifest splits must be {SPLITS}, got {bad_splits}")
    lengths = {len(pixels) for pixels in frame["class_pixels"] if pixels is not None}
    if lengths - {info.n_classes + 1}:
        raise ValueError(f"class_pixels must have n_classes + 1 = {info.n_classes + 1} entries, got "
                         f"{sorted(lengths)}")


def write_manifest(frame: pd.DataFrame, info: DatasetInfo, path: str | os.PathLike[str]) -> None:
    """Write ``frame`` (the columns of :data:`SCHEMA`) and ``info`` to ``path``, atomically."""
    _check_frame(frame, info)
    table = pa.Table.from_pandas(frame[list(COLUMNS)], schema=SCHEMA, preserve_index=False)
    table = table.replace_schema_metadata({METADATA_KEY: info.to_json().encode()})
    with atomic_output(path) as tmp:
        pq.write_table(table, tmp)


def read_manifest(path: str | os.PathLike[str]) -> tuple[pd.DataFrame, DatasetInfo]:
    """The manifest at ``path`` and its :class:`DatasetInfo`; ``InputError`` if missing or not a manifest.

    Null ``mask_path`` reads back as NA (test with ``pd.isna``), ``class_pixels`` as int64 arrays or None.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"manifest {path} not found (run the `prepare` stage first)")
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"manifest {path} is not a readable Parquet file: {exc}") from None
    metadata = table.schema.metadata or {}
    if METADATA_KEY not in metadata:
        raise InputError(f"{path} is not a umtfss manifest (no {METADATA_KEY.decode()!r} schema metadata)")
    missing = [c for c in COLUMNS if c not in table.column_names]
    if missing:
        raise InputError(f"manifest {path} lacks columns {missing}")
    try:
        info = DatasetInfo.from_json(metadata[METADATA_KEY])
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"manifest {path} has invalid dataset metadata: {exc}") from None
    return table.to_pandas(), info
