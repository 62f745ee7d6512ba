"""Atomic artifact writes: a killed stage never leaves a file or store that looks finished."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` to write into; move it onto ``path`` only on success.

    Works for files and for directories (Zarr stores). The temporary lives in the same folder, so the final
    rename is atomic on one filesystem; on any exception (or a kill) it is removed or left under a name no
    stage reads, and ``path`` keeps its previous state.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    tmp = tmp_dir / target.name
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to {tmp} for {target}")
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


def remove_stale_partials(folder: str | os.PathLike[str]) -> None:
    """Delete leftovers of writes that were killed before :func:`atomic_output` could clean up."""
    for leftover in Path(folder).glob(".*.partial"):
        shutil.rmtree(leftover, ignore_errors=True)
