"""What every stage module shares: its command line, logging, params loading and clean exits on user errors.

A stage module defines ``main(params)`` and ends with::

    cli = stage_command(main, __doc__)

    if __name__ == "__main__":
        run(cli)

so ``python -m stages.<name> [--params FILE]`` (dvc.yaml's ``cmd``) and ``python -m stages <name>`` run the
same typer command. A stage with options of its own (finetune's matrix keys) writes its command itself and
calls :func:`run_stage` from it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from pipeline.params import DEFAULT_PARAMS, Params, ParamsError, load_params
from umtfss.errors import UmtfssError

ParamsOption = Annotated[
    Path, typer.Option("--params", envvar="UMTFSS_PARAMS", help="params file, validated before any work")
]


def run_stage(body: Callable[[Params], None], params_file: Path = DEFAULT_PARAMS) -> None:
    """Validate ``params_file``, then run ``body``; a bad input ends the process with its message and
    code 2."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        body(load_params(params_file))
    except (ParamsError, UmtfssError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None


def stage_command(body: Callable[[Params], None], doc: str | None) -> Callable[..., None]:
    """The typer command of a stage whose only option is its params file; ``doc`` is its help."""

    def command(params: ParamsOption = DEFAULT_PARAMS) -> None:
        run_stage(body, params)

    command.__doc__ = doc
    return command


def app(command: Callable[..., None]) -> typer.Typer:
    """A typer app of the one ``command`` (run as the program itself, without a subcommand name)."""
    typer_app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    typer_app.command()(command)
    return typer_app


def run(command: Callable[..., None]) -> None:
    """Parse the command line into ``command`` and run it."""
    app(command)()
