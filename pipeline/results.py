"""The README's result tables, rewritten from the metrics files, so that no reported figure is typed by hand.

    python -m pipeline.results    # after `dvc repro`: rewrites the generated blocks of README.md

A block is the text between ``<!-- generated: NAME -->`` and ``<!-- /generated: NAME -->``: ``evaluate`` gets
the mIoU and FB-IoU tables of ``metrics/evaluate.json`` (:mod:`umtfss.evaluation.report`), ``summary`` the
table of ``metrics/summary.md`` (mIoU per labeled fraction and each finetune run's chosen step).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated

import typer

from pipeline import paths
from umtfss.errors import InputError
from umtfss.evaluation.report import evaluation_table
from umtfss.io import atomic_output


def _evaluate_block() -> str:
    result = json.loads(paths.EVALUATE_METRICS.read_text())
    return evaluation_table(result, "miou") + "\n" + evaluation_table(result, "fbiou")


BLOCKS: Mapping[str, tuple[Path, Callable[[], str]]] = {
    "evaluate": (paths.EVALUATE_METRICS, _evaluate_block),
    "summary": (paths.SUMMARY_TABLE, lambda: paths.SUMMARY_TABLE.read_text()),
}


def replace_block(text: str, name: str, content: str) -> str:
    """``text`` with the generated block ``name`` holding ``content``; an error when the markers are absent."""
    pattern = re.compile(rf"(<!-- generated: {name} -->\n).*?(<!-- /generated: {name} -->)", re.DOTALL)
    if not pattern.search(text):
        raise InputError(f"no '<!-- generated: {name} -->' ... '<!-- /generated: {name} -->' block")
    return pattern.sub(lambda match: match.group(1) + content.rstrip("\n") + "\n" + match.group(2), text)


def main(readme: Annotated[Path, typer.Option(help="the Markdown file to rewrite")] = Path("README.md")) -> None:
    """Rewrite the generated blocks of ``readme`` from the metrics files."""
    text = readme.read_text()
    for name, (source, render) in BLOCKS.items():
        if not source.exists():
            typer.echo(f"error: {source} not found: run `dvc repro` first", err=True)
            raise typer.Exit(2)
        text = replace_block(text, name, render())
    with atomic_output(readme) as tmp:
        tmp.write_text(text)
    typer.echo(f"rewrote {', '.join(BLOCKS)} in {readme}")


if __name__ == "__main__":
    typer.run(main)
