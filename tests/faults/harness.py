"""Running a vemd command on a bad input and judging what the user sees.

The rule every case is held to (``check``):

- no traceback in stdout or stderr, and ``vemd.cli.main`` returns (raises nothing);
- ``ERROR``: exit 1; stderr holds exactly one line that names the bad file (its name or
  path) and that line starts with ``vemd CMD: error:``; no other stderr line looks like a
  warning or an error (``warn``, ``error``, ``exception``, ``fail`` in any case); nothing in
  the case's folder is created or changed (``partial`` may list the only files a failed run
  may leave, e.g. a run folder's logs), and no ``*.tmp`` file is left;
- ``NOTICE`` (documented "skip and say so"): exit 0 (``code`` for commands whose documented
  exit for a skipped item is another), exactly one stderr line names the bad file, no
  other stderr line looks like a warning;
- ``OK`` (an unusual but valid input): exit 0, no stderr line names the file or looks
  like a warning or an error;
- ``PROBLEM`` (``vemd data check --json``): exit 1, the report lists exactly one problem
  and it names the bad file; stderr holds no line.

Progress-bar lines (rich's bar characters) never count as lines.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sys
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ERROR, NOTICE, OK, PROBLEM = "error", "notice", "ok", "problem"
_WARNING_LIKE = re.compile(r"warn|error|exception|fail", re.IGNORECASE)
_PROGRESS = re.compile(r"[━╸╺]")


@dataclass
class Outcome:
    """What one run of the command gave the user."""

    code: int | str  # the exit code, or "raised Type: message" when main raised
    stdout: str
    stderr: str

    def lines(self) -> list[str]:
        """The stderr lines that count: not blank, not a progress bar."""
        return [
            line.strip()
            for chunk in self.stderr.splitlines()
            for line in chunk.split("\r")
            if line.strip() and not _PROGRESS.search(line)
        ]

    def describe(self) -> str:
        return f"exit {self.code}; stderr: {self.stderr.strip()[-1500:]!r}; stdout: {self.stdout.strip()[-600:]!r}"


def run_cli(argv: list[str], capfd) -> Outcome:
    """``vemd ARGV`` in this process; stdout and stderr read at the file-descriptor level."""
    from vemd.cli import main

    capfd.readouterr()
    with warnings.catch_warnings(), _plain_logging():
        _python_warning_defaults()
        try:
            code: int | str = main([str(a) for a in argv])
        except SystemExit as exit_:  # argparse refusing an option
            code = exit_.code if isinstance(exit_.code, int) else 2
        except BaseException as err:  # noqa: BLE001 - a raise is what the case must report
            code = f"raised {type(err).__name__}: {err}"
    captured = capfd.readouterr()
    return Outcome(code, captured.out, captured.err)


@contextmanager
def _plain_logging():
    """Logging as in a ``vemd`` process: without pytest's capturing handlers on the root logger,
    so records reach stderr (through logging's last-resort handler unless vemd adds its own)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    root.handlers, root.level = [], logging.WARNING
    try:
        yield
    finally:
        root.handlers, root.level = handlers, level


def _python_warning_defaults() -> None:
    """Warnings as a ``vemd`` process shows them (pytest would record them instead): Python's
    default filters, printed to stderr."""
    warnings.resetwarnings()
    warnings.simplefilter("default")
    for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
        warnings.simplefilter("ignore", category)
    warnings.showwarning = _print_warning


def _print_warning(message, category, filename, lineno, file=None, line=None) -> None:
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def snapshot(folder: Path) -> dict[str, str]:
    """``{relative path: content hash}`` of every file under ``folder`` (``/`` for a folder, the
    target for a symbolic link, which is not followed: it may be a loop)."""
    state = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        if path.is_symlink():
            state[key] = f"-> {path.readlink()}"
        else:
            state[key] = "/" if path.is_dir() else hashlib.sha1(path.read_bytes()).hexdigest()
    return state


def names(line: str, bad: Path | str) -> bool:
    """Whether ``line`` names ``bad``: its path, its file name, or (a str) the given words."""
    if isinstance(bad, str):
        return bad in line
    return str(bad) in line or bad.name in line


def check(
    outcome: Outcome,
    command: str,
    expect: str,
    bad: Path | str,
    *,
    folder: Path,
    before: dict[str, str],
    partial: tuple[str, ...] = (),
    code: int | None = None,
) -> None:
    """Assert the rule of the module docstring; ``folder`` is the case's whole workspace."""
    text = outcome.stdout + outcome.stderr
    assert "Traceback (most recent call last)" not in text, outcome.describe()
    assert not isinstance(outcome.code, str), outcome.describe()
    leftovers = [p for p in snapshot(folder) if p.endswith(".tmp")]
    assert not leftovers, f"temporary files left: {leftovers}; {outcome.describe()}"
    lines = outcome.lines()
    naming = [line for line in lines if names(line, bad)]
    if expect == ERROR:
        assert outcome.code == 1, outcome.describe()
        assert len(naming) == 1, f"expected one line naming {bad}: {outcome.describe()}"
        assert naming[0].startswith(f"vemd {command}: error:"), outcome.describe()
        others = [line for line in lines if line != naming[0] and _WARNING_LIKE.search(line)]
        assert not others, f"other error/warning lines {others}; {outcome.describe()}"
        _unchanged(folder, before, partial, outcome)
    elif expect == NOTICE:
        assert outcome.code == (0 if code is None else code), outcome.describe()
        assert len(naming) == 1, f"expected one line naming {bad}: {outcome.describe()}"
        others = [line for line in lines if line != naming[0] and _WARNING_LIKE.search(line)]
        assert not others, f"other error/warning lines {others}; {outcome.describe()}"
    elif expect == OK:
        assert outcome.code == 0, outcome.describe()
        noisy = [line for line in lines if names(line, bad) or _WARNING_LIKE.search(line)]
        assert not noisy, f"lines {noisy} for a valid input; {outcome.describe()}"
    elif expect == PROBLEM:
        assert outcome.code == 1, outcome.describe()
        assert not lines, outcome.describe()
        problems = json.loads(outcome.stdout)["problems"]
        assert len(problems) == 1, f"expected one problem naming {bad}, got {problems}"
        assert names(f"{problems[0]['path']}: {problems[0]['message']}", bad), problems
        _unchanged(folder, before, (), outcome)
    else:
        raise ValueError(expect)


def _unchanged(folder: Path, before: dict[str, str], partial: tuple[str, ...], outcome: Outcome) -> None:
    after = snapshot(folder)
    changed = sorted(
        p
        for p in set(before) | set(after)
        if before.get(p) != after.get(p) and not any(Path(p).match(g) or p.startswith(g) for g in partial)
    )
    assert not changed, f"a failed run changed or created {changed[:8]}; {outcome.describe()}"
