"""Base class of every config model: unknown keys are errors, values are checked on assignment."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Config(BaseModel):
    """Strict, immutable config section. A misspelt key fails instead of silently taking a default."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)
