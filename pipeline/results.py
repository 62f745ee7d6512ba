"""The README's result tables, rewritten from the metrics files, so that no reported figure is typed by hand.

    python -m pipeline.results    # after `dvc repro`: rewrites the generated blocks of README.md

A block is the text between ``<!-- generated: NAME -->`` and ``<!-- /generated: NAME -->``: ``evaluate`` gets
the mIoU and FB-IoU tables of ``metrics/evaluate.json`` (:mod:`umtfss.evaluation.report`), ``summary`` the
tables of ``metrics/summary.md`` (mIoU per labeled fraction and each finetune run's chosen step). For the
results of an experiment (other folds, seeds), point ``--evaluate`` / ``--summary`` at its files (kept under
``docs/results/<experiment>/``) and name the blocks with ``--suffix``: ``--suffix -folds`` fills
``evaluate-folds`` and ``summary-folds``; ``--blocks summary`` fills that one alone.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from pipeline import paths
from umtfss.errors import InputError
from umtfss.evaluation.report import evaluation_tables
from umtfss.io import atomic_output


def replace_block(text: str, name: str, content: str) -> str:
    """``text`` with the generated block ``name`` holding ``content``; an error when the markers are absent."""
    marker = re.escape(name)
    pattern = re.compile(rf"(<!-- generated: {marker} -->\n).*?(<!-- /generated: {marker} -->)", re.DOTALL)
    if not pattern.search(text):
        raise InputError(f"no '<!-- generated: {name} -->' ... block")
    return pattern.sub(lambda match: match.group(1) + content.rstrip("\n") + "\n" + match.group(2), text)


def main(
    readme: Annotated[Path, typer.Option(help="the Markdown file to rewrite")] = Path("README.md"),
    evaluate: Annotated[Path, typer.Option(help="an `evaluate` result")] = paths.EVALUATE_METRICS,
    summary: Annotated[Path, typer.Option(help="a `summarize` table")] = paths.SUMMARY_TABLE,
    suffix: Annotated[str, typer.Option(help="appended to the block names")] = "",
    blocks: Annotated[str, typer.Option(help="which blocks, comma-separated")] = "evaluate,summary",
) -> None:
    """Rewrite the generated blocks of ``readme`` from the metrics files."""
    renderers = {"evaluate": (evaluate, evaluation_tables), "summary": (summary, Path.read_text)}
    wanted = [name.strip() for name in blocks.split(",") if name.strip()]
    if not wanted or set(wanted) - renderers.keys():
        typer.echo(f"error: --blocks takes a comma-separated subset of {', '.join(renderers)}", err=True)
        raise typer.Exit(2)
    text = readme.read_text()
    for name in wanted:
        source, render = renderers[name]
        if not source.exists():
            typer.echo(f"error: {source} not found: run `dvc repro` first", err=True)
            raise typer.Exit(2)
        try:
            text = replace_block(text, f"{name}{suffix}", render(source))
        except InputError as exc:
            typer.echo(f"error: {readme}: {exc}", err=True)
            raise typer.Exit(2) from None
    with atomic_output(readme) as tmp:
        tmp.write_text(text)
    typer.echo(f"rewrote {', '.join(name + suffix for name in wanted)} in {readme}")


if __name__ == "__main__":
    typer.run(main)
