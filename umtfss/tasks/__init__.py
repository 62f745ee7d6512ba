"""Pseudo tasks: cluster regions per image and their support candidates, as Parquet tables."""
