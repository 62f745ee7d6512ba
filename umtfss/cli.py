"""The ``umtfss`` command: one subcommand per pipeline stage, plus ``predict``.

Stage subcommands run the project's own stage module (``stages/<name>.py`` of the project folder, the one
``dvc repro`` runs) with the same params file, so a stage run by hand and by DVC is the same code path. The
library never imports the project's modules: they are run as scripts, by name, from the project folder.
"""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Few-shot semantic segmentation meta-trained on unlabeled images (UMTFSS).\n\n"
    "Run a whole pipeline with `dvc repro`; run one stage by hand with `umtfss <stage>` from the project folder.",
    no_args_is_help=True,
    add_completion=False,
)

ParamsOption = Annotated[Path, typer.Option("--params", help="params file of the project", show_default=True)]
ProjectOption = Annotated[
    Path, typer.Option("--project", help="project folder (holds dvc.yaml, params.yaml, stages/)")
]


def _run_stage(name: str, project: Path, params: Path, argv: list[str] | None = None) -> None:
    project = project.resolve()
    module = project / "stages" / f"{name}.py"
    if not module.is_file():
        raise typer.BadParameter(f"{module} not found: run from a umtfss project folder or pass --project")
    os.chdir(project)
    os.environ["UMTFSS_PARAMS"] = str(params)
    sys.path.insert(0, str(project))
    sys.argv = [str(module), *(argv or [])]
    runpy.run_module(f"stages.{name}", run_name="__main__")


def _stage_command(name: str, summary: str) -> None:
    def command(params: ParamsOption = Path("params.yaml"), project: ProjectOption = Path(".")) -> None:
        _run_stage(name, project, params)

    command.__doc__ = summary
    app.command(name)(command)


for _name, _summary in (
    ("prepare", "Write the image manifest and labeled fractions (and generate the embedded benchmark)."),
    ("selfsup", "Train the backbone self-supervised on the unlabeled pool (resumes after a kill)."),
    ("extract", "Extract dense, L2-normalised self-supervised features into a sharded Zarr store."),
    ("cluster", "Fit k-means (cuML on a GPU, CPU otherwise) on a random subset of images' features."),
    ("assign", "Assign every valid pixel to its nearest centroid with Dask: the pseudo-label store."),
    ("episodes", "Build the region table and support candidates (Parquet) that pseudo episodes come from."),
    ("pretrain", "Meta-train the few-shot model on pseudo episodes (resumes after a kill)."),
    ("evaluate", "Score the pretrained model, the untrained model and a training-free baseline episodically."),
    ("summarize", "Tabulate and plot mIoU against the labeled fraction, with and without pretraining."),
):
    _stage_command(_name, _summary)


@app.command("finetune")
def finetune(
    fold: Annotated[int, typer.Option(help="held-out fold (0..3)")],
    fraction: Annotated[int, typer.Option(help="labeled fraction, percent")],
    init: Annotated[str, typer.Option(help="pretrained | scratch")] = "pretrained",
    params: ParamsOption = Path("params.yaml"),
    project: ProjectOption = Path("."),
) -> None:
    """Finetune on one labeled fraction of one fold's base classes, then evaluate on its novel classes."""
    _run_stage("finetune", project, params, ["--fold", str(fold), "--fraction", str(fraction), "--init", init])


@app.command("predict", context_settings={"allow_extra_args": True})
def predict(
    ctx: typer.Context,
    checkpoint: Annotated[Path, typer.Option(help="model checkpoint (models/*.pt)")],
    query: Annotated[list[Path], typer.Option(help="query image, or folder of images; repeatable")],
    out: Annotated[Path, typer.Option(help="output folder")],
    support: Annotated[
        list[Path] | None,
        typer.Option(metavar="IMG MASK", help="a support image and its mask; repeat for K shots"),
    ] = None,
    support_dir: Annotated[
        Path | None, typer.Option(help="folder of support images, each with its <name>_mask.png beside it")
    ] = None,
    size: Annotated[int, typer.Option(help="longer side the images are resized to", min=32)] = 473,
    class_id: Annotated[
        int | None, typer.Option(help="mask value of the object; default: every non-zero value except 255")
    ] = None,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda")] = "auto",
) -> None:
    """Segment query images like the annotated supports: writes <name>_mask.png and <name>_overlay.png."""
    from umtfss.errors import UmtfssError  # imported here: stage commands need neither torch nor the model
    from umtfss.predict import predict as run_predict
    from umtfss.predict import support_pairs

    # Typer has no repeatable two-value options: each --support takes the image, and the mask after it is
    # left over as an extra argument, in the same order.
    support, masks = support or [], [Path(arg) for arg in ctx.args]
    if len(masks) != len(support):
        raise typer.BadParameter(
            f"each --support needs an image and a mask; got {len(support)} images and {len(masks)} masks "
            f"(unexpected arguments: {ctx.args})",
            param_hint="--support",
        )
    try:
        pairs = list(zip(support, masks, strict=True))
        if support_dir is not None:
            pairs += support_pairs(support_dir)
        written = run_predict(checkpoint, pairs, query, out, size=size, class_id=class_id, device=device)
    except UmtfssError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"wrote {len(written)} files to {out}")


if __name__ == "__main__":
    app()
