"""Every benchmark script runs in a CI-sized form and prints its ratio line.

Performance targets are reported by the scripts, never asserted here: a shared CI machine cannot time them
reliably. What is asserted: the script exits 0 and prints at least one ``ratio name=value`` line.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BENCH = PROJECT_ROOT / "benchmarks"
RATIO = re.compile(r"^ratio [\w.]+=[-+0-9.e]+", re.MULTILINE)

# Tiny sizes: a few seconds each on two CPU cores.
TINY_RUNS: dict[str, list[str]] = {
    "bench_assign.py": ["--images", "8", "--grid", "4", "--channels", "8", "--clusters", "4",
                        "--images-per-shard", "4", "--warmup", "0", "--repeats", "1"],
    "bench_cross_attention.py": ["--side", "8", "--dim", "32", "--heads", "4", "--k-fg", "4", "--k-bg", "8",
                                 "--warmup", "0", "--repeats", "1", "--threads", "1"],
    "bench_kmeans_engines.py": ["--points", "2000", "--dim", "16", "--k", "5", "--iters", "3",
                                "--repeats", "1"],
    "bench_lsh_clustering.py": ["--side", "12", "--dim", "32", "--k-fg", "4", "--k-bg", "8", "--iters", "3",
                                "--warmup", "0", "--repeats", "1", "--threads", "1"],
    "bench_episode_loader.py": ["--images", "12", "--grid", "4", "--channels", "8", "--clusters", "3",
                                "--crop-size", "48", "--batch-size", "2", "--batches", "2"],
    "bench_evaluate.py": ["--episodes", "4", "--size", "48", "--batch-size", "2", "--repeats", "1", "--threads", "1"],
    "bench_extract.py": ["--images", "8", "--min-size", "48", "--max-size", "64", "--input-size", "64",
                         "--batch-size", "4", "--images-per-shard", "4", "--warmup", "0", "--repeats", "1",
                         "--threads", "1"],
    "bench_scale.py": ["--images", "40", "--scales", "1,2", "--grid", "6", "--channels", "8", "--clusters", "4",
                       "--subset-images", "10", "--images-per-shard", "8"],
    "bench_train_step.py": ["--dim", "16", "--heads", "2", "--k-fg", "4", "--k-bg", "8", "--size", "48",
                            "--batch", "1", "--warmup", "0", "--repeats", "1", "--threads", "1"],
}


def run_script(name: str, args: list[str], timeout: float = 300) -> str:
    """Run ``benchmarks/<name> args`` with this interpreter (the project's .venv) and return its stdout."""
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    result = subprocess.run([sys.executable, str(BENCH / name), *args], cwd=PROJECT_ROOT, env=env,
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{name} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def assert_ratio(output: str) -> None:
    assert RATIO.search(output), f"no 'ratio name=value' line in:\n{output}"


@pytest.mark.parametrize("name", sorted(TINY_RUNS))
def test_benchmark_runs_and_prints_a_ratio(name: str) -> None:
    assert_ratio(run_script(name, TINY_RUNS[name]))


def test_every_benchmark_script_is_exercised() -> None:
    scripts = {path.name for path in BENCH.glob("bench_*.py")}
    covered = set(TINY_RUNS) | {"bench_dvc_status.py"}
    assert scripts <= covered, f"benchmark scripts without a test run: {sorted(scripts - covered)}"


def _git_dvc(project: Path, *args: str) -> None:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    result = subprocess.run(args, cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{' '.join(args)}:\n{result.stdout}\n{result.stderr}"


def test_dvc_status_benchmark_on_a_built_project(tmp_path: Path) -> None:
    """A one-stage DVC project that writes a small sharded Zarr store, built, then measured."""
    (tmp_path / "write_store.py").write_text(textwrap.dedent("""
        import numpy as np, zarr
        group = zarr.open_group("artifacts/features.zarr", mode="w")
        group.create_array("features", shape=(8, 4, 4, 2), chunks=(1, 4, 4, 2), shards=(4, 4, 4, 2),
                           dtype="float16")[:] = np.ones((8, 4, 4, 2), "float16")
    """))
    (tmp_path / "dvc.yaml").write_text(textwrap.dedent(f"""
        stages:
          extract:
            cmd: {sys.executable} write_store.py
            deps: [write_store.py]
            outs: [artifacts/features.zarr]
    """))
    _git_dvc(tmp_path, "git", "init", "-q")
    _git_dvc(tmp_path, "dvc", "init", "-q")
    _git_dvc(tmp_path, "dvc", "repro", "-q")

    output = run_script("bench_dvc_status.py",
                        ["--project", str(tmp_path), "--warmup", "0", "--repeats", "1"])
    assert_ratio(output)
    assert re.search(r"artifacts/features\.zarr\s*\|\s*\d+", output), output  # the store's file count


def test_dvc_status_benchmark_on_an_unbuilt_project_says_so(tmp_path: Path) -> None:
    (tmp_path / "dvc.yaml").write_text("stages:\n  make:\n    cmd: echo hi > out.txt\n    outs: [out.txt]\n")
    _git_dvc(tmp_path, "git", "init", "-q")
    _git_dvc(tmp_path, "dvc", "init", "-q")
    output = run_script("bench_dvc_status.py", ["--project", str(tmp_path)])
    assert "not fully built" in output and not RATIO.search(output)
