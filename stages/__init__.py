"""Thin DVC entry points: each module reads params.yaml and calls the umtfss library."""
