"""What every stage module shares: logging, params loading and turning user errors into clean exits."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from pipeline.params import Params, ParamsError, load_params
from umtfss.errors import UmtfssError


def run_stage(body: Callable[[Params], None]) -> None:
    """Validate params.yaml, then run ``body``; a bad input ends the process with its message and code 2."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        body(load_params())
    except (ParamsError, UmtfssError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
