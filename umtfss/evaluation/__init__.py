"""Episodic evaluation: mIoU / FB-IoU, the protocol, a training-free baseline, overlays and summaries."""
