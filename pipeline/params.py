"""params.yaml schema: one section per stage, validated before any work.

Every section is a config model of the library; this module composes them, checks the rules that span
sections, and turns validation errors into one message per bad key, naming the key and what it allows.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError, model_validator

from pipeline import paths
from umtfss.clustering.config import AssignConfig, ClusterConfig
from umtfss.config import Config
from umtfss.data.config import PrepareConfig
from umtfss.episodes.config import EpisodesConfig
from umtfss.evaluation.config import EvaluateConfig
from umtfss.features.config import ExtractConfig
from umtfss.model.config import ModelConfig
from umtfss.selfsup.config import SelfSupConfig
from umtfss.training.config import FinetuneConfig, TrainConfig

DEFAULT_PARAMS = Path("params.yaml")


class ParamsError(ValueError):
    """params.yaml is missing, unreadable or invalid; the message names every bad key."""


class Params(Config):
    prepare: PrepareConfig = PrepareConfig()
    selfsup: SelfSupConfig = SelfSupConfig()
    extract: ExtractConfig = ExtractConfig()
    cluster: ClusterConfig = ClusterConfig()
    assign: AssignConfig = AssignConfig()
    episodes: EpisodesConfig = EpisodesConfig()
    model: ModelConfig = ModelConfig()
    pretrain: TrainConfig = TrainConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    finetune: FinetuneConfig = FinetuneConfig()

    @model_validator(mode="after")
    def _check_across_sections(self) -> "Params":
        unknown = sorted(set(self.finetune.fractions) - set(self.prepare.fractions.percents))
        if unknown:
            raise ValueError(
                f"finetune.fractions {unknown} are not prepared; allowed: prepare.fractions.percents "
                f"= {self.prepare.fractions.percents}"
            )
        trained = self.selfsup.backbone.arch
        readers = {"extract.backbone": self.extract.backbone, "model.backbone": self.model.backbone}
        for key, backbone in readers.items():
            if backbone.weights == str(paths.BACKBONE) and backbone.arch != trained:
                raise ValueError(
                    f"{key}.arch is {backbone.arch}, but its weights {paths.BACKBONE} are the selfsup "
                    f"stage's {trained}; allowed: {trained}"
                )
        return self


def _format_error(error: dict[str, Any]) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "<top level>"
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key"
    message = error["msg"].removeprefix("Value error, ")
    if isinstance(error.get("input"), dict):  # a check across a section's keys: the message names them
        return f"{key}: {message}"
    return f"{key}: {message} (got {error.get('input')!r})"


def parse_params(raw: dict[str, Any], source: str = "params.yaml") -> Params:
    """Validate an already-parsed params mapping."""
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        lines = "\n".join(f"  - {_format_error(e)}" for e in exc.errors())
        raise ParamsError(f"{source} is invalid:\n{lines}") from None


def load_params(path: str | os.PathLike[str] | None = None) -> Params:
    """Read and validate params.yaml (or ``$UMTFSS_PARAMS``, or ``path``)."""
    path = Path(path or os.environ.get("UMTFSS_PARAMS", DEFAULT_PARAMS))
    return parse_params(read_sections(path, "(run from the project root, or pass --params)"), source=str(path))


def read_sections(path: Path, hint: str = "") -> dict[str, Any]:
    """The YAML mapping of stage sections in ``path`` (a params file or a params set), not yet validated."""
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ParamsError(f"{path} not found {hint}".rstrip()) from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ParamsError(f"{path} must be a mapping of stage sections, got {type(raw).__name__}")
    return raw
