"""dvc.yaml's deps, derived rather than hand-written: a stage depends on the import closure of its module and
on the files it reads, nothing more, so no edit can leave ``dvc status`` clean while an output is stale.

    python -m pipeline.deps --check   # exit 1, naming each stage's missing and extra deps
    python -m pipeline.deps --write   # rewrite every stage's deps in dvc.yaml (comments and the rest stay)

A stage's deps are, in this order:

- its code: every project file Python can execute when running the stage's module (``python -m stages.X``
  in its ``cmd``), found statically from ``import`` and ``from`` statements with ``ast``. Imports inside
  functions count; those under ``if TYPE_CHECKING:`` do not (they never run). Each package ``__init__.py``
  on the way counts, since Python executes it. Only modules of the project packages are followed: library
  code that moves between them only needs ``--write`` again;
- the package data its code reads (``PACKAGE_DATA``, keyed by the module that reads it);
- the pipeline's files it reads (``pipeline.paths.STAGE_INPUTS``).

Files are listed one by one, never as whole folders, so a change to one module reruns only the stages
whose closure holds it.
"""

from __future__ import annotations

import ast
import io
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from ruamel.yaml import YAML

from pipeline.paths import STAGE_INPUTS

PROJECT_PACKAGES = ("pipeline", "stages", "umtfss")
# Non-Python files read through a module (importlib.resources): a dep of every stage whose closure holds it.
PACKAGE_DATA: dict[str, tuple[str, ...]] = {"umtfss/data/pascal.py": ("umtfss/data/lists",)}
DVC_YAML = Path("dvc.yaml")
_STAGE_MODULE = re.compile(r"\bpython\s+-m\s+([\w.]+)")


class DepsError(ValueError):
    """dvc.yaml or the tables here cannot be matched: a stage without a module, or a stale entry."""


@dataclass(frozen=True)
class Drift:
    """How a stage's deps in dvc.yaml differ from the derived ones."""

    missing: tuple[str, ...]
    extra: tuple[str, ...]


def module_file(root: Path, name: str) -> Path | None:
    """The file of project module ``name`` (``a.b`` -> ``a/b.py`` or ``a/b/__init__.py``) under ``root``, or
    None for a module outside the project packages (third-party, standard library) or a non-module name."""
    if name.split(".")[0] not in PROJECT_PACKAGES:
        return None
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _module_name(root: Path, file: Path) -> str:
    parts = file.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _is_module_getattr(node: ast.AST) -> bool:
    return isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "__getattr__"


def _import_nodes(nodes: Iterable[ast.AST]) -> Iterable[ast.Import | ast.ImportFrom]:
    """Every import statement under ``nodes``, at any depth, except those that only type checkers see."""
    stack = list(nodes)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
        else:
            stack.extend(ast.iter_child_nodes(node))


@dataclass(frozen=True)
class Imports:
    """What some import statements may import, as dotted names (``from a import b`` gives ``a`` and ``a.b``:
    ``b`` may be a submodule, and a name that is none resolves to no file), and the modules they ask for a
    name (``from a import b`` and ``import a`` ask ``a``)."""

    modules: frozenset[str]
    asks: frozenset[str]


@dataclass(frozen=True)
class ModuleImports:
    """The imports of one module: those its code may run, and those of its module-level ``__getattr__``
    (PEP 562 lazy exports), which run only when an importer asks the module for a name."""

    eager: Imports
    on_request: Imports


def _imports(nodes: Iterable[ast.Import | ast.ImportFrom], package: str) -> Imports:
    """The :class:`Imports` of ``nodes`` in a module of ``package`` (relative imports count up from it)."""
    modules: set[str] = set()
    asks: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names = {alias.name for alias in node.names}
            modules |= names
            asks |= names
            continue
        base = node.module or ""
        if node.level:
            anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join([*anchor, base] if base else anchor)
        modules |= {base, *(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")}
        asks.add(base)
    return Imports(frozenset(modules), frozenset(asks))


def module_imports(root: Path, file: Path) -> ModuleImports:
    """The imports of project file ``file`` (under ``root``)."""
    package = _module_name(root, file)
    if file.name != "__init__.py":
        package = package.rpartition(".")[0]
    tree = ast.parse(file.read_text(), filename=str(file))
    lazy = [node for node in tree.body if _is_module_getattr(node)]
    eager = [node for node in tree.body if not _is_module_getattr(node)]
    return ModuleImports(_imports(_import_nodes(eager), package), _imports(_import_nodes(lazy), package))


def import_closure(root: Path, module: str) -> set[Path]:
    """The project files that running ``python -m <module>`` can execute: the module, what it imports,
    transitively, and the ``__init__.py`` of every package on the way."""
    parsed: dict[Path, ModuleImports] = {}
    asked: set[Path] = set()
    # (module name, whether an importer asks it for a name)
    pending: list[tuple[str, bool]] = [(module, False)]

    def follow(imports: Imports) -> None:
        pending.extend((name, name in imports.asks) for name in imports.modules)

    while pending:
        name, asks = pending.pop()
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):  # importing a.b.c first executes a and a.b
            file = module_file(root, ".".join(parts[:depth]))
            if file is None:
                continue
            if file not in parsed:
                parsed[file] = module_imports(root, file)
                follow(parsed[file].eager)
            if asks and depth == len(parts) and file not in asked:
                asked.add(file)
                follow(parsed[file].on_request)
    return set(parsed)


def stage_module(name: str, stage: Mapping[str, Any]) -> str:
    """The module a stage's ``cmd`` runs with ``python -m``."""
    found = _STAGE_MODULE.search(str(stage.get("cmd", "")))
    if found is None:
        raise DepsError(f"stage {name}: its cmd {stage.get('cmd')!r} runs no `python -m <module>`")
    return found.group(1)


def derived_deps(root: Path, name: str, stage: Mapping[str, Any]) -> list[str]:
    """The deps stage ``name`` of dvc.yaml must have: its code (sorted), package data, then its inputs."""
    if name not in STAGE_INPUTS:
        raise DepsError(f"stage {name} has no entry in pipeline.paths.STAGE_INPUTS (the files it reads)")
    module = stage_module(name, stage)
    closure = import_closure(root, module)
    if module_file(root, module) not in closure:
        raise DepsError(f"stage {name}: module {module} of its cmd is not a project module under {root}")
    code = sorted(file.relative_to(root).as_posix() for file in closure)
    data = [path for module_path in code for path in PACKAGE_DATA.get(module_path, ())]
    return [*code, *data, *(path.as_posix() for path in STAGE_INPUTS[name])]


def _check_tables(root: Path, stages: Mapping[str, Any]) -> None:
    """Entries that name nothing would silently stop making deps: refuse them."""
    unknown = sorted(set(STAGE_INPUTS) - set(stages))
    if unknown:
        raise DepsError(f"pipeline.paths.STAGE_INPUTS names stages that dvc.yaml lacks: {unknown}")
    for module_path, data in PACKAGE_DATA.items():
        for path in (module_path, *data):
            if not (root / path).exists():
                raise DepsError(f"pipeline.deps.PACKAGE_DATA names {path}, which does not exist under {root}")


def all_derived_deps(root: Path, stages: Mapping[str, Any]) -> dict[str, list[str]]:
    """``{stage: derived deps}`` for every stage of dvc.yaml's ``stages`` mapping."""
    _check_tables(root, stages)
    return {name: derived_deps(root, name, stage) for name, stage in stages.items()}


def drift(root: Path, stages: Mapping[str, Any]) -> dict[str, Drift]:
    """The stages whose deps in dvc.yaml differ from the derived ones (order is not compared)."""
    found = {}
    for name, expected in all_derived_deps(root, stages).items():
        listed = {str(dep) for dep in stages[name].get("deps") or ()}
        missing = tuple(dep for dep in expected if dep not in listed)
        extra = tuple(sorted(listed - set(expected)))
        if missing or extra:
            found[name] = Drift(missing, extra)
    return found


def _yaml() -> YAML:
    """Round-trip YAML in dvc.yaml's own layout, so that a rewrite changes nothing but the deps."""
    yaml = YAML()
    yaml.width = 4096  # never fold a long cmd
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.preserve_quotes = True
    return yaml


def load(path: Path) -> Any:
    """dvc.yaml as a round-trip document (comments kept)."""
    return _yaml().load(path.read_text())


def rewrite(document: Any, root: Path) -> str:
    """``document`` (a loaded dvc.yaml) with every stage's deps replaced by the derived ones, as text."""
    stages = document["stages"]
    for name, deps in all_derived_deps(root, stages).items():
        current = stages[name].get("deps")
        if current is None:
            stages[name]["deps"] = deps
            continue
        # In place, so the comment on the `deps:` key stays; comments on single entries described the old
        # hand-written list and go with it.
        current.ca.items.clear()
        del current[:]
        current.extend(deps)
    buffer = io.StringIO()
    _yaml().dump(document, buffer)
    return buffer.getvalue()


def report(found: Mapping[str, Drift], path: Path) -> str:
    lines = [f"{path}: deps differ from the stages' import closures and inputs "
             f"(fix with `python -m pipeline.deps --write`):"]
    for name, difference in found.items():
        lines += [f"  {name}: missing {dep}" for dep in difference.missing]
        lines += [f"  {name}: extra {dep}" for dep in difference.extra]
    return "\n".join(lines)


def main(
    check: Annotated[bool, typer.Option("--check", help="exit 1 if any stage's deps differ")] = False,
    write: Annotated[bool, typer.Option("--write", help="rewrite the deps of every stage")] = False,
    dvc_yaml: Annotated[Path, typer.Option("--dvc-yaml", help="the pipeline file")] = DVC_YAML,
    root: Annotated[
        Path | None, typer.Option(help="project root of the deps (default: the pipeline file's folder)")
    ] = None,
) -> None:
    """Check or write the deps of dvc.yaml, derived from the stages."""
    if check == write:
        raise typer.BadParameter("pass exactly one of --check and --write")
    root = (root or dvc_yaml.parent).resolve()
    try:
        document = load(dvc_yaml)
        if write:
            dvc_yaml.write_text(rewrite(document, root))
            print(f"{dvc_yaml}: deps of {len(document['stages'])} stages written")
            return
        found = drift(root, document["stages"])
    except (DepsError, FileNotFoundError, SyntaxError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None
    if found:
        print(report(found, dvc_yaml), file=sys.stderr)
        raise typer.Exit(1)
    print(f"{dvc_yaml}: deps of {len(document['stages'])} stages match")


if __name__ == "__main__":
    typer.run(main)
