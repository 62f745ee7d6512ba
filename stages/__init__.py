"""Thin DVC entry points: each module is a typer command that reads params.yaml and calls the umtfss library;
``python -m stages`` offers them all (the list: ``pipeline.paths.STAGES``)."""
