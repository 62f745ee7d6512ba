"""Backbones with their checkpoint loading, and dense feature extraction into a sharded Zarr store."""
