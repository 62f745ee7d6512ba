"""Where every artifact of the pipeline lives: the one place dvc.yaml's paths are spelled in Python.

Paths are relative to the project root (where dvc.yaml is); stages run there.
"""

from __future__ import annotations

from pathlib import Path

DATA = Path("data")
ARTIFACTS = Path("artifacts")
MODELS = Path("models")
METRICS = Path("metrics")
PLOTS = Path("plots")
CHECKPOINTS = Path("checkpoints")  # resumable training state: not a DVC output, so a kill keeps it

# prepare
DATASET = DATA / "dataset"  # the generated embedded benchmark, or a descriptor of an external dataset
MANIFEST = DATA / "manifest.parquet"
FRACTIONS = DATA / "fractions"  # train_<percent>.txt + manifest.json

# selfsup: the backbone that extract and the few-shot model load
BACKBONE = MODELS / "backbone.pt"
SELFSUP_LIVE = Path("dvclive") / "selfsup"
SELFSUP_CHECKPOINTS = CHECKPOINTS / "selfsup"

# extract -> cluster -> assign -> episodes
FEATURES = ARTIFACTS / "features.zarr"
CENTROIDS = ARTIFACTS / "centroids.npy"
LABELS = ARTIFACTS / "labels.zarr"
REGIONS = ARTIFACTS / "regions.parquet"
CANDIDATES = ARTIFACTS / "candidates.parquet"
CLUSTER_METRICS = METRICS / "cluster.json"
ASSIGN_METRICS = METRICS / "assign.json"
EPISODES_METRICS = METRICS / "episodes.json"
CLUSTERS_PLOT = PLOTS / "clusters.png"

# pretrain -> evaluate
PRETRAINED = MODELS / "pretrain.pt"
PRETRAIN_LIVE = Path("dvclive") / "pretrain"
PRETRAIN_CHECKPOINTS = CHECKPOINTS / "pretrain"
EVALUATE_METRICS = METRICS / "evaluate.json"
EVALUATE_PLOT = PLOTS / "evaluate_overlays.png"

# finetune -> summarize
FINETUNE_MODELS = MODELS / "finetune"
FINETUNE_METRICS = METRICS / "finetune"
FINETUNE_CHECKPOINTS = CHECKPOINTS / "finetune"
SUMMARY_METRICS = METRICS / "summary.json"
SUMMARY_TABLE = METRICS / "summary.md"
FRACTION_PLOT = PLOTS / "fraction_miou.csv"


def fraction_list(percent: int) -> Path:
    return FRACTIONS / f"train_{percent}.txt"


def finetune_name(fold: int, fraction: int, init: str, seed: int) -> str:
    return f"fold{fold}-{fraction}pct-{init}-seed{seed}"


def finetuned_model(fold: int, fraction: int, init: str, seed: int) -> Path:
    return FINETUNE_MODELS / f"{finetune_name(fold, fraction, init, seed)}.pt"


def finetune_metrics(fold: int, fraction: int, init: str, seed: int) -> Path:
    return FINETUNE_METRICS / f"{finetune_name(fold, fraction, init, seed)}.json"


# The stage list, in DAG order: one entry per stage of dvc.yaml (`python -m pipeline.deps --check` fails on a
# stage missing on either side), whose module is stages/<name>.py. With each stage, the pipeline's files it
# reads besides its code and params: its data deps in dvc.yaml, which
# `python -m pipeline.deps --write` writes from here (the code deps it derives from imports). Images are read
# through MANIFEST, which holds their MD5s. A backbone's weights are a param (`<section>.backbone.weights`):
# BACKBONE, their default, is listed for the stages that build a backbone so that DVC runs selfsup first.
STAGE_INPUTS: dict[str, tuple[Path, ...]] = {
    "prepare": (),
    "selfsup": (MANIFEST,),
    "extract": (MANIFEST, BACKBONE),
    "cluster": (FEATURES,),
    "assign": (FEATURES, CENTROIDS, MANIFEST),
    "episodes": (FEATURES, LABELS, MANIFEST),
    "pretrain": (MANIFEST, LABELS, REGIONS, CANDIDATES, BACKBONE),  # in the order pretrain hashes them
    "evaluate": (PRETRAINED, BACKBONE, MANIFEST),
    "finetune": (PRETRAINED, BACKBONE, MANIFEST, FRACTIONS),
    "summarize": (FINETUNE_METRICS, EVALUATE_METRICS),
}

STAGES: tuple[str, ...] = tuple(STAGE_INPUTS)
