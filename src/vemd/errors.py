"""Errors a user can act on: the CLI prints them as one line and exits non-zero."""

from vemd.config import ConfigError
from vemd.structure.annotations import AnnotationFormatError


class VemdError(Exception):
    """Base of the errors reported to the user as a one-line message."""


class DataError(VemdError):
    """A missing, unreadable or invalid data file (the message names it)."""


class MissingSplit(DataError):
    """A dataset copy without the split asked for (e.g. no test split: often not distributed)."""


# Every exception type the CLI reports as one line instead of a traceback.
USER_ERRORS: tuple[type[Exception], ...] = (VemdError, ConfigError, AnnotationFormatError)
