"""The ``vemd`` command: one sub-command per module in :mod:`vemd.commands`.

Each command module exposes ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``; heavy imports happen inside ``run`` so ``vemd --help`` is quick.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = (
    "synth",
    "summary",
    "fit",
    "test",
    "compare",
    "predict",
    "serve",
    "export",
    "audit",
    "quickstart",
    "annotate",
    "data",
    "config",
)


def build_parser() -> argparse.ArgumentParser:
    from vemd.version import __version__

    parser = argparse.ArgumentParser(
        prog="vemd", description="Privacy-aware group emotion recognition (VE-MD)."
    )
    parser.add_argument("--version", action="version", version=f"vemd {__version__}")
    _add_verbose(parser, default=0)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"vemd.commands.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"vemd.commands.{name}":
                raise
            continue
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        _add_verbose(command, default=argparse.SUPPRESS)  # also after the command: vemd fit -v
        command.set_defaults(run=module.run)
    return parser


def _add_verbose(parser: argparse.ArgumentParser, *, default) -> None:
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=default,
        help="show every library warning and log line (-v: INFO, -vv: DEBUG); without it, known "
        "Lightning and MediaPipe noise is kept out of the terminal",
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    from vemd.errors import USER_ERRORS
    from vemd.noise import configure

    configure(args.verbose)
    try:
        return int(args.run(args) or 0)
    except USER_ERRORS as err:
        print(f"vemd {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"vemd {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of stdout went away (`vemd predict --json … | head`): end quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0
    except OSError as err:  # a disk full, a folder not writable, an odd path: one line naming it
        print(f"vemd {args.command}: error: {os_error_line(err)}", file=sys.stderr)
        return 1


def os_error_line(err: OSError) -> str:
    """``PATH: reason`` of an OSError (both paths of a rename), on one line."""
    reason = err.strerror or str(err) or type(err).__name__
    paths = [str(p) for p in (err.filename, err.filename2) if p is not None]
    line = f"{' -> '.join(paths)}: {reason}" if paths else reason
    return " ".join(line.split())  # a file name holding a newline stays one line


if __name__ == "__main__":
    sys.exit(main())
