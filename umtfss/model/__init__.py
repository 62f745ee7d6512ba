"""The few-shot segmentation model: frozen backbone, prior mask, Transformer blocks with prototype-aware
cross-attention, and the segmentation head."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from umtfss.model.fss import FewShotSegmenter

__all__ = ["FewShotSegmenter"]


def __getattr__(name: str) -> Any:
    # Imported on first use, so that reading params (umtfss.model.config) does not load torch and torchvision.
    if name == "FewShotSegmenter":
        from umtfss.model.fss import FewShotSegmenter

        return FewShotSegmenter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
