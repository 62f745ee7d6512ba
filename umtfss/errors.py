"""Errors a user can act on. Stages print their message (no traceback) and exit non-zero."""


class UmtfssError(Exception):
    """Base of every error that explains bad input or state rather than a bug."""


class InputError(UmtfssError, ValueError):
    """A dataset, image, mask or artifact is missing, unreadable or inconsistent; the message names it."""


class CheckpointError(UmtfssError):
    """A checkpoint is unreadable, of another model or architecture, or of an unsupported format version."""
