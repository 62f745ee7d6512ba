"""Support candidates: for each region, the most similar regions of the same cluster in other images.

The paper draws supports only from the ``top_fraction`` (50%) of same-cluster regions whose masked-average
feature is most cosine-similar to the query's, which keeps a pseudo class's episodes visually coherent.

Memory stays flat in the number of images: the region table is read one row group at a time and spilled to one
file per cluster, then each cluster is processed alone, in blocks of query rows whose similarity matrix holds
at most ``block_entries`` values (never an all-pairs matrix beyond one block), and its candidates are appended
to the output file. Time per region stays flat too: a query is ranked against at most ``comparison_pool``
members of its cluster, a seeded random sample of them when the cluster is larger, so the cost of a cluster
grows linearly with its size rather than quadratically. Below that size (every cluster of the embedded
benchmark) the ranking is exact.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from umtfss.episodes.regions import region_embeddings
from umtfss.errors import InputError
from umtfss.progress import progress

CANDIDATE_SCHEMA = pa.schema([("region_id", pa.int64()), ("candidate_id", pa.int64()),
                              ("similarity", pa.float32()), ("rank", pa.int16())])
_ROW_GROUP = 1 << 19  # candidate rows per written row group: blocks are small, thousands of groups read slowly


def _spill_by_cluster(regions_path: str | os.PathLike[str], folder: Path) -> tuple[np.dtype, list[int]]:
    """Append each region's (id, image, embedding) to ``folder/<cluster>.bin``; returns the record dtype and
    the clusters found, sorted."""
    table = pq.ParquetFile(regions_path)
    channels = table.schema_arrow.field("embedding").type.list_size
    record = np.dtype([("region_id", "<i8"), ("image", "<i4"), ("embedding", "<f4", (channels,))])
    clusters: set[int] = set()
    # Row group by row group (one per label shard): iter_batches pre-buffers the file ahead of the reader,
    # which measured ~2 bytes of buffer per byte of the table, a peak that grows with the number of images.
    for group in range(table.num_row_groups):
        batch = table.read_row_group(group, columns=["region_id", "image_index", "cluster", "embedding"])
        rows = np.empty(batch.num_rows, record)
        rows["region_id"] = batch.column("region_id").to_numpy()
        rows["image"] = batch.column("image_index").to_numpy()
        rows["embedding"] = region_embeddings(batch)
        cluster_of = batch.column("cluster").to_numpy()
        for cluster in np.unique(cluster_of):
            with open(folder / f"{int(cluster)}.bin", "ab") as spill:
                rows[cluster_of == cluster].tofile(spill)
            clusters.add(int(cluster))
    return record, sorted(clusters)


def cluster_candidates(members: np.ndarray, *, top_fraction: float, max_candidates: int,
                       comparison_pool: int, block_entries: int,
                       seed: tuple[int, ...]) -> Iterator[pa.RecordBatch]:
    """The candidate rows of one cluster's ``members`` (records of id, image, embedding), one record batch
    per block of query rows, region by region.

    Each block of query rows is ranked against the whole cluster, or, when it has more than
    ``comparison_pool`` members, against one sample of that many drawn with ``seed`` and the block's start.
    A query keeps the ``top_fraction`` of the compared regions of other images, at most ``max_candidates``,
    most similar first.
    """
    embeddings, images, ids = members["embedding"], members["image"], members["region_id"]
    rows_per_block = max(1, block_entries // min(len(members), comparison_pool))
    for start in range(0, len(members), rows_per_block):
        rows = np.arange(start, min(start + rows_per_block, len(members)))
        if len(members) > comparison_pool:
            pool = np.sort(np.random.default_rng([*seed, start]).choice(len(members), comparison_pool,
                                                                         replace=False))
        else:
            pool = np.arange(len(members))
        similarity = embeddings[rows] @ embeddings[pool].T
        same_image = images[rows][:, None] == images[pool][None, :]
        similarity[same_image] = -np.inf
        others = (~same_image).sum(axis=1)
        keep = np.minimum(np.ceil(top_fraction * others).astype(np.int64), max_candidates)
        width = int(keep.max(initial=0))
        if width == 0:
            continue
        # The widest kept set by partition, then only those sorted: exact top-k without sorting every row.
        top = np.argpartition(-similarity, width - 1, axis=1)[:, :width] if width < len(pool) else \
            np.broadcast_to(np.arange(len(pool)), (len(rows), len(pool)))
        top_similarity = np.take_along_axis(similarity, top, axis=1)
        order = np.lexsort((pool[top], -top_similarity), axis=1)  # most similar first; ties by member order
        top, top_similarity = np.take_along_axis(top, order, 1), np.take_along_axis(top_similarity, order, 1)
        kept = np.arange(width)[None, :] < keep[:, None]  # row-major: each region's rows together, in rank order
        columns = [np.broadcast_to(ids[rows][:, None], kept.shape)[kept], ids[pool[top]][kept],
                   top_similarity[kept], np.broadcast_to(np.arange(width), kept.shape)[kept]]
        yield pa.RecordBatch.from_arrays([pa.array(values, type=field.type)
                                          for values, field in zip(columns, CANDIDATE_SCHEMA, strict=True)],
                                         schema=CANDIDATE_SCHEMA)


def write_candidates(regions_path: str | os.PathLike[str], out_path: str | os.PathLike[str], *,
                     top_fraction: float, max_candidates: int, comparison_pool: int,
                     block_entries: int = 1 << 20, seed: int = 0) -> tuple[int, int]:
    """Write the candidate table (docs/artifacts.md) of the region table at ``regions_path``, cluster by
    cluster (rows of one region stay together, in rank order); returns the number of rows and of regions
    with at least one candidate."""
    if comparison_pool < 2:
        raise InputError(f"comparison_pool must be at least 2, got {comparison_pool}")
    total = with_candidates = 0
    with tempfile.TemporaryDirectory(prefix=".candidates-", dir=Path(out_path).parent) as spill, \
            pq.ParquetWriter(out_path, CANDIDATE_SCHEMA) as writer:
        record, clusters = _spill_by_cluster(regions_path, Path(spill))
        pending: list[pa.RecordBatch] = []
        pending_rows = 0
        for cluster in progress(clusters, desc="candidates", unit="cluster"):
            members = np.fromfile(Path(spill) / f"{cluster}.bin", dtype=record)
            for batch in cluster_candidates(members, top_fraction=top_fraction, max_candidates=max_candidates,
                                            comparison_pool=comparison_pool, block_entries=block_entries,
                                            seed=(seed, cluster)):
                pending.append(batch)
                pending_rows += batch.num_rows
                total += batch.num_rows
                with_candidates += int((batch.column("rank").to_numpy() == 0).sum())
                if pending_rows >= _ROW_GROUP:
                    writer.write_table(pa.Table.from_batches(pending))
                    pending, pending_rows = [], 0
        if pending:
            writer.write_table(pa.Table.from_batches(pending))
    return total, with_candidates
