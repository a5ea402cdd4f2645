"""Errors a user can act on: the CLI prints them as one line and exits non-zero."""


class VemdError(Exception):
    """Base of the errors reported to the user as a one-line message."""


class ConfigError(ValueError):
    """An unknown key, a wrong type or an unreadable recipe."""


class AnnotationFormatError(ValueError):
    """A store or shard that is corrupt, foreign or of an unknown version."""


class DataError(VemdError):
    """A missing, unreadable or invalid data file (the message names it)."""


class MissingSplit(DataError):
    """A dataset copy without the split asked for (e.g. no test split: often not distributed)."""


# Every exception type the CLI reports as one line instead of a traceback.
USER_ERRORS: tuple[type[Exception], ...] = (VemdError, ConfigError, AnnotationFormatError)
