"""The ``umtfss`` command: what the library does for a user outside the pipeline.

``predict`` segments images with a trained checkpoint, ``report`` prints the tables of an `evaluate` result.
The pipeline's stages are the project's, not the library's: ``dvc repro`` runs them, ``python -m stages
<name>`` runs one by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Few-shot semantic segmentation meta-trained on unlabeled images (UMTFSS).\n\n"
    "Segment images with a trained checkpoint (`umtfss predict`), or tabulate an evaluate result "
    "(`umtfss report`). The pipeline itself runs with `dvc repro`.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command("predict", context_settings={"allow_extra_args": True})
def predict(
    ctx: typer.Context,
    checkpoint: Annotated[Path, typer.Option(help="model checkpoint (.pt) written by a training stage")],
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
    from umtfss.errors import UmtfssError  # imported here: `umtfss --help` and `report` need no torch
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


@app.command("report")
def report(
    evaluate_json: Annotated[Path, typer.Argument(help="an `evaluate` stage result (its metrics JSON)")],
) -> None:
    """Print the mIoU and FB-IoU tables (markdown) of an evaluate result."""
    from umtfss.evaluation.report import evaluation_tables

    print(evaluation_tables(evaluate_json))


if __name__ == "__main__":
    app()
