"""Reading what `vemd predict --json` prints: window lines, then one result line per input."""

from __future__ import annotations

import json


def printed(stdout: str) -> tuple[list[dict], list[dict]]:
    """(window lines, result lines) of ``--json`` output, as printed; every line says which it is
    in its ``type``."""
    lines = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    windows = [line for line in lines if line.get("type") == "window"]
    results = [line for line in lines if line.get("type") == "result"]
    assert len(windows) + len(results) == len(lines), lines
    assert all(set(line) == {"type", "input", "window"} for line in windows), windows
    assert all("windows" in line for line in results), results
    return windows, results


def printed_results(stdout: str) -> list[dict]:
    """The result lines of ``--json`` output."""
    return printed(stdout)[1]
