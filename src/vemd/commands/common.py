"""Arguments shared by the commands: configs, datasets, the device a model runs on."""

from __future__ import annotations

import argparse


def add_config_arguments(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    """``--config`` and repeatable ``--set KEY=VALUE`` overrides (VALUE parsed as YAML)."""
    parser.add_argument("--config", required=required, help="recipe YAML file or registered name (e.g. tiny)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="dotted override"
    )
    parser.add_argument(
        "--skip-bad",
        action="store_true",
        help="log and skip unreadable or invalid items (data.skip_bad=true)",
    )


def add_device_arguments(parser: argparse.ArgumentParser) -> None:
    """``--device`` and ``--precision`` of the commands that run a model (:mod:`vemd.device`)."""
    parser.add_argument(
        "--device", default="cpu", help="where the model runs: cpu, cuda, cuda:N, mps or auto (default: cpu)"
    )
    parser.add_argument(
        "--precision",
        default="auto",
        choices=("auto", "fp32", "bf16", "fp16"),
        help="auto: bf16 (else fp16) autocast on a GPU, fp32 elsewhere",
    )


def config_overrides(args: argparse.Namespace) -> list[str]:
    """The ``--set`` overrides plus those implied by flags."""
    return [*args.overrides, *(["data.skip_bad=true"] if args.skip_bad else [])]


def add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    """``--config`` and repeatable ``--set`` of the commands that also take ``NAME ROOT``."""
    parser.add_argument("--config", help="recipe name or YAML file whose data.* section describes the copy")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="dotted config override"
    )


def dataset_config(name: str | None, root: str | None, recipe: str | None, overrides: list[str]):
    """The config of ``NAME ROOT`` (the dataset at ROOT with its loader's frame sampling) or of
    ``--config RECIPE``, with ``--set`` overrides on top; exactly one of the two must be given."""
    from vemd.config import load_config
    from vemd.data.coverage import name_root_overrides
    from vemd.errors import VemdError

    if (name is None) == (recipe is None) or (name is None) != (root is None):
        raise VemdError("give either NAME ROOT or --config FILE")
    if recipe is not None:
        return load_config(recipe, overrides)
    return load_config(None, name_root_overrides(name, root) + list(overrides))


def refuse_file_as_folder(path, option: str = "--out") -> None:
    """One line, before any work, when ``option`` names an existing file where a command writes a
    folder, or a folder that cannot be made or written (:func:`refuse_unwritable`)."""
    from pathlib import Path

    from vemd.errors import VemdError

    if Path(path).exists() and not Path(path).is_dir():
        raise VemdError(f"{path}: {option} names an existing file; it must be a folder (new or existing)")
    refuse_unwritable(Path(path) if Path(path).is_dir() else Path(path).parent, path, option)


def refuse_unwritable(folder, path, option: str) -> None:
    """One line naming ``path`` when files cannot be made in ``folder`` (created if missing, as the
    command would): the nearest existing folder above it must take a new entry, which is tried
    (a folder made and removed at once), since permission bits do not tell for root, /proc or a
    read-only mount. Checked before a run, not found out after it."""
    import os
    import tempfile
    from pathlib import Path

    from vemd.errors import VemdError

    base = Path(os.path.abspath(folder))
    while not base.exists() and base != base.parent:
        base = base.parent
    if not base.is_dir():
        raise VemdError(f"{path}: {option} cannot be made: {base} is a file, not a folder")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".vemd-probe-", dir=base))
    except OSError as err:
        raise VemdError(f"{path}: {option} cannot be written ({err.strerror or err})") from None
