"""evaluate: score the pretrained model, an untrained one and a training-free baseline on the same episodes.

Writes ``metrics/evaluate.json`` (``{"fold<f>": {"<k>shot": {"pretrained" | "untrained" | "baseline":
result}}, "baseline_threshold": {"fold<f>": threshold}}``, see ``umtfss.evaluation.protocol``) and
``plots/evaluate_overlays.png`` (the pretrained model on the first episodes of the first fold, shot and seed).
The baseline's threshold is chosen per fold on base-class train episodes (``baseline_threshold: auto``).
"""

from __future__ import annotations

import logging
import time

from pipeline import paths
from pipeline.entry import run, stage_command
from pipeline.params import Params
from umtfss.data.manifest import read_manifest
from umtfss.device import resolve_device
from umtfss.evaluation.baseline import PrototypeBaseline
from umtfss.evaluation.calibration import choose_threshold
from umtfss.evaluation.overlays import overlay_rows, save_grid
from umtfss.evaluation.protocol import episode_specs, evaluate, write_json
from umtfss.evaluation.shared_features import SharedBackbones
from umtfss.model import FewShotSegmenter
from umtfss.training.checkpoint import load_model
from umtfss.training.state import seed_everything

log = logging.getLogger("stages.evaluate")


def main(params: Params) -> None:
    cfg = params.evaluate
    device = resolve_device(cfg.device)
    manifest, info = read_manifest(paths.MANIFEST)
    pretrained, _ = load_model(paths.PRETRAINED, expected=params.model)
    seed_everything(params.pretrain.seed)  # as pretrain does: the untrained model is its starting point
    untrained = FewShotSegmenter(params.model)
    baseline = PrototypeBaseline(params.model, 0.0)  # its threshold is set per fold below
    predictors = {"pretrained": pretrained, "untrained": untrained, "baseline": baseline}
    for predictor in predictors.values():
        predictor.to(device).eval()

    start = time.perf_counter()
    shared = SharedBackbones.of(predictors, cfg.feature_cache_mb)  # one cache for every fold, shot and seed
    results: dict = {"baseline_threshold": {}}
    for fold in cfg.folds:
        if cfg.baseline_threshold == "auto":
            baseline.threshold, _ = choose_threshold(baseline, manifest, info, fold, cfg, device=device)
        else:
            baseline.threshold = cfg.baseline_threshold
        results["baseline_threshold"][f"fold{fold}"] = baseline.threshold
        results.update(evaluate(predictors, manifest, info, cfg, device=device, folds=[fold], shared=shared))
    write_json(paths.EVALUATE_METRICS, results)
    log.info("scored in %.1f s (%d images through the backbone): %s", time.perf_counter() - start,
             shared.images_computed, paths.EVALUATE_METRICS)

    fold, shots, seed = cfg.folds[0], cfg.shots[0], cfg.seeds[0]
    specs = episode_specs(manifest, info, fold, shots, cfg, seed)[: cfg.overlay_episodes]
    save_grid(overlay_rows(pretrained, specs, manifest, cfg, device=device), paths.EVALUATE_PLOT)


cli = stage_command(main, __doc__)

if __name__ == "__main__":
    run(cli)
