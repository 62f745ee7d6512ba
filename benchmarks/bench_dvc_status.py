"""`dvc status` time on a fully built pipeline, and the file count of each Zarr store.

Sharded Zarr stores keep a directory output to a few files (tens of images per shard), which is what keeps
`dvc status` (and push / pull) fast: it hashes and stats every file of every output. Run it in a project
whose pipeline has been built (`make repro`); on one that is not built or not up to date it says so and
exits 0.

    python benchmarks/bench_dvc_status.py                    # this checkout
    python benchmarks/bench_dvc_status.py --project /path/to/built/checkout
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from _common import MIB, PROJECT_ROOT, print_table, ratio_line, time_median

TARGET_SECONDS = 2.0
SKIP_DIRS = {".dvc", ".git", ".venv", "node_modules"}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path, default=PROJECT_ROOT, help="a DVC project, built")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs (file cache)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("targets", nargs="*", help="stages to check (default: the whole pipeline)")
    return parser.parse_args()


def dvc(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The `dvc` that sits next to this interpreter (the project's virtualenv), run in ``project``."""
    executable = Path(sys.executable).parent / "dvc"
    env = {**os.environ, "DVC_NO_ANALYTICS": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run([str(executable), *args], cwd=project, env=env, capture_output=True, text=True)


def zarr_stores(project: Path) -> list[Path]:
    """Every ``*.zarr`` directory in the project outside caches and environments."""
    found = []
    for root, dirs, _ in os.walk(project):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith(".tmp"))
        for name in list(dirs):
            if name.endswith(".zarr"):
                found.append(Path(root) / name)
                dirs.remove(name)  # no need to walk into the store twice
    return found


def store_files(store: Path) -> tuple[int, int]:
    """(files, bytes) of a store directory."""
    files = [Path(root) / name for root, _, names in os.walk(store) for name in names]
    return len(files), sum(f.stat().st_size for f in files)


def main() -> None:
    args = parse_args()
    project = args.project.resolve()
    if not (project / ".dvc").is_dir() or not (project / "dvc.yaml").is_file():
        print(f"{project} is not a DVC project (no .dvc/ or dvc.yaml): nothing to measure")
        return
    first = dvc(project, "status", "--json", *args.targets)
    if first.returncode != 0:
        print(f"`dvc status` failed in {project}; not measured:\n{first.stderr.strip()}")
        return
    stale = json.loads(first.stdout or "{}")
    if stale:
        print(f"the pipeline in {project} is not fully built ({len(stale)} stage(s) changed or missing: "
              f"{', '.join(sorted(stale))}); run `make repro` (or `dvc repro`) first. Not measured.")
        return

    seconds = time_median(lambda: dvc(project, "status", *args.targets), warmup=args.warmup,
                          repeats=args.repeats)

    stores = zarr_stores(project)
    command = " ".join(["dvc status", *args.targets])
    print(f"`{command}` in {project}: up to date; median of {args.repeats} runs")
    rows = []
    for store in stores:
        files, size = store_files(store)
        rows.append([str(store.relative_to(project)), files, size / MIB])
    if rows:
        print_table(["zarr store", "files", "MiB"], rows)
    else:
        print("(no Zarr store in the project)")
    print_table(["command", "median s"], [[command, seconds]])
    scope = "stages " + ", ".join(args.targets) if args.targets else "fully built pipeline"
    print(ratio_line("dvc_status_seconds", seconds, "<", TARGET_SECONDS, f"seconds, {scope}"))


if __name__ == "__main__":
    main()
