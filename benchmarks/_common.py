"""Shared helpers of the benchmark scripts: timing, peak memory in a fresh process, table and ratio lines.

Every script measures both sides in one run and prints a table, then its ratio line(s) last:
``ratio <name>=<value> (target <op> <bound>: met|missed)``. Targets are reported, never asserted.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psutil

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
MIB = 1024 * 1024


def time_median(function: Callable[[], Any], *, warmup: int, repeats: int) -> float:
    """Median wall time in seconds of ``function()`` over ``repeats`` runs after ``warmup`` untimed ones.

    The median, not the mean: the machine is shared, and a single run slowed by a neighbour must not move it.
    """
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_interleaved(functions: dict[str, Callable[[], Any]], *, warmup: int,
                     repeats: int) -> dict[str, float]:
    """Median seconds of each function, their runs interleaved (a, b, a, b, ...) so that load from other
    processes on the machine hits both sides alike."""
    for _ in range(warmup):
        for function in functions.values():
            function()
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def current_rss() -> int:
    """Resident set size of this process now, bytes."""
    return psutil.Process().memory_info().rss


def reset_peak_rss() -> bool:
    """Reset this process's RSS high-water mark (Linux >= 4.0: ``5`` to /proc/self/clear_refs), so that a
    warm-up run's peak (lazy kernel set-up, first allocations) is not counted; False where it cannot."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss() -> int:
    """Highest resident set size of this process since start or :func:`reset_peak_rss`, bytes."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def peak_growth(function: Callable[[], Any], *, warmup: int = 1) -> int:
    """Bytes by which ``function()`` raises the RSS high-water mark above the RSS before it, after ``warmup``
    untimed runs. Call it in a fresh process (:func:`run_worker`)."""
    for _ in range(warmup):
        function()
    gc.collect()
    reset_peak_rss()
    baseline = current_rss()
    function()
    return max(0, peak_rss() - baseline)


def run_worker(script: str | os.PathLike[str], args: Sequence[str], *, timeout: float = 1800,
               malloc_env: bool = True) -> dict[str, Any]:
    """Run ``script args`` in a fresh interpreter and return the JSON object it printed on its last line.

    Memory is measured in a fresh process per case, so one case's allocator high-water mark (or a cache it
    filled) cannot leak into another's figure. glibc is told to serve every allocation over 64 KiB by mmap and
    to give it back on free (a fixed threshold turns off its adaptive one), so the RSS follows the live
    tensors and arrays instead of keeping a warm-up's freed memory resident. ``malloc_env=False`` keeps
    glibc's defaults, for a peak RSS as a user's process would see it.
    """
    env = dict(os.environ)
    if malloc_env:
        env |= {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}
    result = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True,
                            timeout=timeout, cwd=PROJECT_ROOT, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"worker {script} {' '.join(args)} failed ({result.returncode}):\n"
                           f"{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def emit(result: dict[str, Any]) -> None:
    """A worker's answer to :func:`run_worker`: one JSON line, last on stdout."""
    print(json.dumps(result), flush=True)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A Markdown table (so that it can be pasted into the README as is)."""
    cells = [[_format(value) for value in row] for row in rows]
    widths = [max(len(str(h)), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)]
    print("| " + " | ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells:
        print("| " + " | ".join(value.ljust(w) for value, w in zip(row, widths, strict=True)) + " |")


def _format(value: Any) -> str:
    if isinstance(value, float):
        if value == 0 or 1e-3 <= abs(value) < 1e5:
            return f"{value:.4g}"
        return f"{value:.3e}"
    return str(value)


def ratio_line(name: str, value: float, op: str | None = None, bound: float = 0.0, note: str = "") -> str:
    """``ratio name=value (target op bound: met|missed)``; ``op`` is one of ``>=``, ``>``, ``<=``, ``<``, or
    None for a figure that is reported without a target."""
    extra = f"; {note}" if note else ""
    if op is None:
        return f"ratio {name}={value:.3g} (no target{extra})"
    met = {">=": value >= bound, "<=": value <= bound, "<": value < bound, ">": value > bound}[op]
    return f"ratio {name}={value:.3g} (target {op} {bound:g}: {'met' if met else 'missed'}{extra})"


def set_threads(threads: int | None) -> None:
    """Pin torch's intra-op threads (None keeps torch's default), so both sides run on the same cores."""
    if threads:
        import torch

        torch.set_num_threads(threads)
