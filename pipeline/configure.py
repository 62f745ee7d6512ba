"""Apply a params set (a partial params file such as ``configs/ccp.yaml``) to params.yaml, validated first.

    python -m pipeline.configure configs/ccp.yaml --set prepare.root=/data/ccp

Keys of the set replace those of params.yaml (nested sections merged key by key), then each ``--set
key.path=value`` (the value read as YAML). The result is validated like any stage's params before anything
is written, and params.yaml keeps its comments (round-trip YAML). Then `dvc repro` (or `dvc exp run`) runs
the pipeline with it; `git checkout params.yaml` returns to the defaults.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from ruamel.yaml import YAML

from pipeline.params import DEFAULT_PARAMS, ParamsError, parse_params, read_sections
from umtfss.io import atomic_output


def _merge(target: Any, update: dict[str, Any]) -> None:
    """Merge ``update`` into the round-trip mapping ``target`` in place, nested mappings key by key."""
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


def _override(assignment: str) -> dict[str, Any]:
    """``a.b.c=value`` -> ``{"a": {"b": {"c": value}}}``, the value parsed as YAML."""
    key, sep, text = assignment.partition("=")
    if not sep or not key:
        raise ParamsError(f"--set {assignment!r}: expected key.path=value")
    nested: dict[str, Any] = {}
    node = nested
    *parents, leaf = key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = yaml.safe_load(text)
    return nested


def configure(params_set: Path, overrides: list[str], params_path: Path = DEFAULT_PARAMS) -> None:
    """Write ``params_path`` with ``params_set`` and ``overrides`` applied; ``ParamsError`` if invalid."""
    update = read_sections(params_set)
    round_trip = YAML()
    round_trip.width = 110
    round_trip.representer.add_representer(  # `null`, as params.yaml spells it, not an empty value
        type(None), lambda representer, _: representer.represent_scalar("tag:yaml.org,2002:null", "null"))
    try:
        document = round_trip.load(params_path.read_text())
    except FileNotFoundError:
        raise ParamsError(f"{params_path} not found (run from the project root, or pass --params)") from None
    for part in (update, *map(_override, overrides)):
        _merge(document, part)
    buffer = io.StringIO()
    round_trip.dump(document, buffer)
    parse_params(yaml.safe_load(buffer.getvalue()), source=f"{params_path} with {params_set} applied")
    with atomic_output(params_path) as tmp:
        Path(tmp).write_text(buffer.getvalue())


def main(
    params_set: Annotated[Path, typer.Argument(help="partial params file, e.g. configs/ccp.yaml")],
    set_: Annotated[list[str], typer.Option("--set", help="key.path=value, applied after the set")] = [],  # noqa: B006
    params: Annotated[Path, typer.Option(help="the params file to update")] = DEFAULT_PARAMS,
) -> None:
    """Apply a params set to params.yaml (validated before it is written)."""
    try:
        configure(params_set, set_, params)
    except ParamsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None
    typer.echo(f"{params} updated with {params_set}" + (f" and {len(set_)} --set" if set_ else ""))


if __name__ == "__main__":
    typer.run(main)
