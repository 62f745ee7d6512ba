"""Progress bars where a user waits: a live tqdm bar on a terminal, compact lines in a log.

On a terminal (stderr is a TTY) the bar redraws in place. Anywhere else (CI, a log file, a test) a bar that
redraws with carriage returns would pile up as one unreadable line, so it prints a plain line at most every
``LOG_INTERVAL`` seconds, plus its first and last state. tqdm's own environment variables apply to both
(``TQDM_DISABLE=1`` hides every bar, ``TQDM_MININTERVAL`` sets the log interval).
"""

from __future__ import annotations

import contextlib
import functools
import io
import sys
from collections.abc import Iterable, Iterator
from typing import IO, Any, TypeVar

from tqdm import tqdm

Item = TypeVar("Item")

LOG_INTERVAL = 30.0  # seconds between two lines of a bar in a log
_LINE = "{desc}: {n_fmt}/{total_fmt} {unit} ({percentage:.0f}%) [{elapsed}<{remaining}, {rate_fmt}{postfix}]"
_LINE_NO_TOTAL = "{desc}: {n_fmt} {unit} [{elapsed}, {rate_fmt}{postfix}]"


class _Lines(io.TextIOBase):
    """A text stream that turns tqdm's in-place redraws (``\\r`` + text) into one line per draw, skipping a
    draw whose count has not moved (tqdm redraws the last state on close)."""

    def __init__(self, stream: IO[str]) -> None:
        super().__init__()
        self._stream = stream
        self._last = ""

    def write(self, text: str) -> int:
        line = text.replace("\r", "").strip()  # a redraw pads with spaces; a clear is only \r and spaces
        count = line.split(" [", 1)[0]  # what precedes the times and rate
        if line and count != self._last:
            self._last = count
            self._stream.write(line + "\n")
            self._stream.flush()
        return len(text)

    def flush(self) -> None:
        self._stream.flush()


def progress(iterable: Iterable[Item] | None = None, *, desc: str, total: float | None = None,
             unit: str = "it", disable: bool = False, **kwargs: Any) -> tqdm:
    """A tqdm bar over ``iterable`` (or updated by hand) on stderr: live on a terminal, lines otherwise.

    ``total`` defaults to ``len(iterable)`` when it has one; ``disable`` hides it (e.g. on all but the main
    process of a distributed run); other keywords go to tqdm (``postfix`` shows e.g. the loss).
    """
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    stream = sys.stderr
    if stream.isatty():
        return tqdm(iterable, desc=desc, total=total, unit=unit, file=stream, dynamic_ncols=True,
                    disable=disable, **kwargs)
    kwargs.setdefault("mininterval", LOG_INTERVAL)
    return tqdm(iterable, desc=desc, total=total, unit=unit, file=_Lines(stream), disable=disable,
                bar_format=_LINE if total else _LINE_NO_TOTAL, **kwargs)


def bar_over(items: Iterable[Item], bar: tqdm) -> Iterator[Item]:
    """``items``, advancing ``bar`` once each has been dealt with (when the next one is asked for): one bar
    over several loops."""
    for item in items:
        yield item
        bar.update()


def compute_with_progress(collection: Any, *, desc: str) -> Any:
    """``collection.compute()`` with a bar over its tasks, on the current Dask scheduler: the local schedulers
    report each task through a callback, a distributed client through the scheduler's progress stream."""
    import dask

    client = None
    if "distributed" in sys.modules:  # else no client can be current, and importing it costs a second
        from distributed import default_client

        with contextlib.suppress(ValueError):  # raised when none is current
            client = default_client()
    if client is None:
        from tqdm.dask import TqdmCallback

        with TqdmCallback(tqdm_class=functools.partial(progress, desc=desc, unit="task")):
            return dask.compute(collection)[0]
    future = client.compute(collection)
    _wait_with_bar(future, desc)
    return future.result()


def _wait_with_bar(future: Any, desc: str) -> None:
    """Block until ``future``'s tasks are done (or one failed), drawing distributed's progress stream with
    :func:`progress` rather than its own bar, which writes carriage returns to stdout."""
    from distributed.diagnostics.progressbar import TextProgressBar

    bars: list[tqdm] = []

    class Bar(TextProgressBar):
        def _draw_bar(self, remaining: int, all: int, **kwargs: Any) -> None:  # noqa: A002 (its name there)
            if not bars:
                bars.append(progress(desc=desc, total=all, unit="task"))
            bars[0].update(all - remaining - bars[0].n)

        def _draw_stop(self, **kwargs: Any) -> None:
            for bar in bars:
                bar.close()

    Bar([future])  # starts listening at once and returns when the stream ends
