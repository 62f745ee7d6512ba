"""The image manifest: Parquet round trip, dataset metadata, folds, and refusing what is not a manifest."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from umtfss.data.manifest import DatasetInfo, base_classes, novel_classes, read_manifest, write_manifest
from umtfss.errors import InputError

INFO = DatasetInfo(name="toy", class_names=["background", "a", "b", "c", "d", "e", "f", "g", "h"],
                   folds=[[1, 2], [3, 4], [5, 6], [7, 8]])


def frame() -> pd.DataFrame:
    return pd.DataFrame({
        "image_id": ["x", "y"], "image_path": ["images/x.png", "/abs/y.jpg"],
        "mask_path": ["masks/x.png", None],
        "width": [30, 40], "height": [20, 10], "split": ["train", "val"],
        "class_pixels": [[500, 50, 0, 0, 0, 0, 0, 0, 50], None], "content_md5": ["0" * 32, "1" * 32],
    })


def test_round_trip_keeps_rows_types_and_info(tmp_path: Path) -> None:
    path = tmp_path / "manifest.parquet"
    write_manifest(frame(), INFO, path)
    schema = pq.read_schema(path)
    assert schema.field("width").type == pa.int32()
    assert schema.field("class_pixels").type == pa.list_(pa.int64())
    got, info = read_manifest(path)
    assert info == INFO and info.n_classes == 8
    assert got["image_id"].tolist() == ["x", "y"]
    assert got["mask_path"].isna().tolist() == [False, True]
    assert got["class_pixels"].isna().tolist() == [False, True]
    assert list(got["class_pixels"][0]) == [500, 50, 0, 0, 0, 0, 0, 0, 50]
    assert not list(tmp_path.glob(".*.partial"))


def test_write_refuses_inconsistent_frames(tmp_path: Path) -> None:
    duplicated = pd.concat([frame(), frame()])
    with pytest.raises(ValueError, match="unique"):
        write_manifest(duplicated, INFO, tmp_path / "m.parquet")
    short = frame().assign(class_pixels=[[1, 2], None])
    with pytest.raises(ValueError, match="n_classes"):
        write_manifest(short, INFO, tmp_path / "m.parquet")
    with pytest.raises(ValueError, match="split"):
        write_manifest(frame().assign(split=["train", "test"]), INFO, tmp_path / "m.parquet")
    assert not (tmp_path / "m.parquet").exists()


def test_read_refuses_missing_and_foreign_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="absent.parquet.*prepare"):
        read_manifest(tmp_path / "absent.parquet")
    pq.write_table(pa.table({"image_id": ["x"]}), tmp_path / "foreign.parquet")
    with pytest.raises(InputError, match="foreign.parquet.*not a umtfss manifest"):
        read_manifest(tmp_path / "foreign.parquet")
    (tmp_path / "text.parquet").write_text("hello")
    with pytest.raises(InputError, match="text.parquet"):
        read_manifest(tmp_path / "text.parquet")


def test_novel_and_base_classes_partition_the_object_classes() -> None:
    assert novel_classes(INFO, 1) == [3, 4]
    assert base_classes(INFO, 1) == [1, 2, 5, 6, 7, 8]
    with pytest.raises(InputError, match="fold 4"):
        novel_classes(INFO, 4)
    with pytest.raises(ValueError, match="outside 1..2"):
        DatasetInfo(name="bad", class_names=["background", "a", "b"], folds=[[3]])
