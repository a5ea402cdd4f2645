"""Reading what `vemd predict --json` prints: window lines, then one result line per input."""

from __future__ import annotations

import json


def printed(stdout: str) -> tuple[list[dict], list[dict]]:
    """(window lines, result lines) of ``--json`` output; every line is one or the other."""
    lines = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    windows = [line for line in lines if set(line) == {"input", "window"}]
    results = [line for line in lines if "windows" in line]
    assert len(windows) + len(results) == len(lines), lines
    return windows, results


def printed_results(stdout: str) -> list[dict]:
    """The result lines of ``--json`` output."""
    return printed(stdout)[1]
