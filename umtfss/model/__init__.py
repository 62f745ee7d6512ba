"""The few-shot segmentation model: frozen backbone, prior mask, Transformer blocks with prototype-aware
cross-attention, and the segmentation head."""
