"""umtfss: few-shot semantic segmentation meta-trained on pseudo tasks built from unlabeled images.

The library knows nothing of DVC: every stage is a typed function over paths and config models, and the
project's ``stages/`` modules call them with the values of ``params.yaml``.
"""

__version__ = "0.1.0"
