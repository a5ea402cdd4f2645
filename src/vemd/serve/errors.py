"""The one kind of error ``vemd serve`` answers with: an HTTP status and one line of JSON."""

from __future__ import annotations


class RequestError(Exception):
    """A request the server refuses: ``status`` and a one-line ``message`` (the body's ``error``)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, one_line(message), headers


def one_line(text: object) -> str:
    """``text`` on one line: line breaks and runs of spaces become single spaces."""
    return " ".join(str(text).split()) or "error"
