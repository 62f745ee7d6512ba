"""``python -m stages <name>``: every stage of the pipeline as a subcommand, each the very command that
``python -m stages.<name>`` (dvc.yaml's ``cmd``) runs."""

from __future__ import annotations

import importlib

import typer

from pipeline.paths import STAGES

app = typer.Typer(help="Run one stage of the pipeline by hand, with the params DVC uses (`dvc repro` runs "
                  "them all).", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
for _name in STAGES:
    app.command(_name)(importlib.import_module(f"stages.{_name}").cli)

if __name__ == "__main__":
    app()
