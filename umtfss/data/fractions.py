"""Labeled fractions: nested, class-stratified subsets of the labeled train split.

One seeded order of the labeled train images is built so that *every prefix* holds each class in proportion to
its frequency; the p% subset is the first round(p% of N) images of that order. Nesting (5% within 10% within
20% within 100%) then holds by construction, and even the smallest subset sees every class that is not rare.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from umtfss.data.manifest import read_manifest
from umtfss.errors import InputError
from umtfss.io import atomic_output

MANIFEST_NAME = "manifest.json"
_LOOKAHEAD = 16  # candidate images weighed per turn: enough to balance co-occurring classes, still fast


def fraction_file(folder: str | os.PathLike[str], percent: int) -> Path:
    return Path(folder) / f"train_{percent}.txt"


def labeled_train(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of the train split that carry labels (``class_pixels`` not null)."""
    return frame[(frame["split"] == "train") & frame["class_pixels"].notna()]


def stratified_order(image_ids: Sequence[str], presence: np.ndarray, seed: int) -> list[str]:
    """Order ``image_ids`` so that every prefix holds each class about in proportion to its frequency.

    ``presence`` is bool (N, C): which classes each image shows. Classes take turns by the Sainte-Laguë rule
    (the class whose share is furthest behind ``(taken + 0.5) / frequency`` goes next, so a class of n images
    first comes up within the first N / (2n) picks) and contribute one of their next images in one seeded
    shuffle. An image counts for all classes it shows, so frequent co-occurring classes need fewer turns of
    their own, and of its candidates a class picks the one whose other classes are least ahead of their share.
    Images without any class form one more group, so they too are spread evenly.
    """
    n = len(image_ids)
    if presence.shape[0] != n:
        raise ValueError(f"presence has {presence.shape[0]} rows for {n} images")
    presence = np.concatenate([presence, ~presence.any(axis=1, keepdims=True)], axis=1)
    shuffled = np.random.default_rng(seed).permutation(n)
    members = [shuffled[presence[shuffled, c]] for c in range(presence.shape[1])]
    frequency = presence.sum(axis=0).astype(np.float64)
    taken = np.zeros_like(frequency)
    cursor = np.zeros(len(members), dtype=np.int64)
    chosen = np.zeros(n, dtype=bool)
    order: list[int] = []
    priority = np.where(frequency > 0, frequency / 0.5, -np.inf)
    while len(order) < n:
        c = int(np.argmax(priority))
        group = members[c]
        while cursor[c] < len(group) and chosen[group[cursor[c]]]:
            cursor[c] += 1  # skip images already taken for another class they show
        if cursor[c] == len(group):
            priority[c] = -np.inf
            continue
        # Of the class's next few images, take the one that best serves the classes it brings along: the
        # least ahead of (or most behind) their share. Ties keep the seeded order.
        window = group[cursor[c]: cursor[c] + 2 * _LOOKAHEAD]
        window = window[~chosen[window]][:_LOOKAHEAD]
        ahead = taken + 1 - frequency * (len(order) + 1) / n
        image = int(window[np.argmin(presence[window] @ ahead)])
        chosen[image] = True
        order.append(image)
        shows = presence[image]
        taken[shows] += 1
        priority[shows] = frequency[shows] / (taken[shows] + 0.5)
    return [image_ids[i] for i in order]


def fraction_size(n_images: int, percent: int) -> int:
    """Images in the ``percent``% subset: rounded, at least one when there are any."""
    return min(n_images, max(1, round(n_images * percent / 100))) if n_images else 0


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_fractions(
    manifest_path: str | os.PathLike[str], folder: str | os.PathLike[str], percents: Sequence[int], seed: int
) -> dict[int, int]:
    """Write ``train_<p>.txt`` for each percent and ``manifest.json`` into ``folder``, atomically.

    The subsets come from the labeled train rows of the manifest at ``manifest_path`` (an unlabeled pool gives
    empty lists). Returns the number of images per percent.
    """
    manifest_path = Path(manifest_path)
    frame, info = read_manifest(manifest_path)
    labeled = labeled_train(frame)
    presence = np.zeros((len(labeled), info.n_classes), dtype=bool)
    for row, pixels in enumerate(labeled["class_pixels"]):
        presence[row] = np.asarray(pixels)[1:] > 0
    order = stratified_order(labeled["image_id"].tolist(), presence, seed)
    counts = {p: fraction_size(len(order), p) for p in sorted(percents)}
    with atomic_output(folder) as tmp:
        tmp.mkdir()
        for percent, count in counts.items():
            fraction_file(tmp, percent).write_text("".join(f"{image_id}\n" for image_id in order[:count]))
        record = {"seed": seed, "percents": sorted(percents),
                  "counts": {str(p): c for p, c in counts.items()},
                  "labeled_train_images": len(order), "source": str(manifest_path),
                  "source_sha256": _sha256(manifest_path)}
        (tmp / MANIFEST_NAME).write_text(json.dumps(record, indent=2) + "\n")
    return counts


def read_fraction(folder: str | os.PathLike[str], percent: int) -> list[str]:
    """Image ids of the labeled ``percent``% subset written by :func:`write_fractions`."""
    path = fraction_file(folder, percent)
    if not path.is_file():
        available = sorted(int(p.stem.removeprefix("train_")) for p in Path(folder).glob("train_*.txt"))
        raise InputError(f"labeled fraction {path} not found; prepared percents: {available or 'none'} "
                         f"(add {percent} to prepare.fractions.percents)")
    return path.read_text().split()
