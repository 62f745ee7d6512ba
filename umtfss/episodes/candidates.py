"""Support candidates: for each region, the most similar regions of the same cluster in other images.

The paper draws supports only from the ``top_fraction`` (50%) of same-cluster regions whose masked-average
feature is most cosine-similar to the query's, which keeps a pseudo class's episodes visually coherent.
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa

from umtfss.progress import progress
from umtfss.episodes.regions import region_embeddings

CANDIDATE_SCHEMA = pa.schema([("region_id", pa.int64()), ("candidate_id", pa.int64()),
                              ("similarity", pa.float32()), ("rank", pa.int16())])


def build_candidates(regions: pa.Table, *, top_fraction: float, max_candidates: int,
                     rows_per_block: int = 1024) -> pa.Table:
    """The candidate table (docs/artifacts.md); similarity blocks of ``rows_per_block`` rows bound memory."""
    embeddings = region_embeddings(regions)
    region_ids = regions.column("region_id").to_numpy()
    clusters = regions.column("cluster").to_numpy()
    images = regions.column("image_index").to_numpy()
    parts: dict[str, list[np.ndarray]] = {name: [] for name in CANDIDATE_SCHEMA.names}
    for cluster in progress(np.unique(clusters), desc="candidates", unit="cluster"):
        members = np.flatnonzero(clusters == cluster)
        for start in range(0, len(members), rows_per_block):
            rows = members[start:start + rows_per_block]
            similarity = embeddings[rows] @ embeddings[members].T
            same_image = images[rows][:, None] == images[members][None, :]
            similarity[same_image] = -np.inf
            others = (~same_image).sum(axis=1)
            order = np.argsort(-similarity, axis=1, kind="stable")
            for local, (row, n_other) in enumerate(zip(rows, others)):
                keep = min(math.ceil(top_fraction * n_other), max_candidates)
                chosen = order[local, :keep]
                parts["region_id"].append(np.full(keep, region_ids[row]))
                parts["candidate_id"].append(region_ids[members[chosen]])
                parts["similarity"].append(similarity[local, chosen])
                parts["rank"].append(np.arange(keep))
    arrays = [pa.array(np.concatenate(parts[f.name]) if parts[f.name] else np.array([]), type=f.type)
              for f in CANDIDATE_SCHEMA]
    return pa.Table.from_arrays(arrays, schema=CANDIDATE_SCHEMA)
