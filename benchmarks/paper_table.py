"""The recipe tables of configs/paper/README.md, generated from the recipes' header comments.

A paper recipe's header is its one source: the comment lines before the first ``# paper`` line
read ``# <dataset> · <configuration>``, and every table cell the recipe reproduces has a line of
its own, ``# paper <table> · <row>: <value>`` (``<table>``: ``T9``, ``T5/T6``, ``Table 15`` or
``§7.2``; ``<value>``: ``84.38 %``, ``value unreadable in the source`` or a list of cells, then an
optional ``(note)``). The README keeps each table between two marker comments,
``<!-- generated: NAME ... -->`` and ``<!-- end generated: NAME -->``; everything outside them
is written by hand. ``tests/configs/test_paper_readme.py`` fails when the README differs from
what this script writes, so a header edited without rerunning it is caught.

    .venv/bin/python benchmarks/paper_table.py          # rewrite the tables in place
    .venv/bin/python benchmarks/paper_table.py --check  # exit 1 when the README is out of date
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from vemd.config import CONFIG_DIR
from vemd.errors import ConfigError
from vemd.io import atomic_write_text

PAPER = CONFIG_DIR / "paper"
README = PAPER / "README.md"

TITLE = re.compile(r"^# (?P<dataset>[^·]+?) · (?P<what>.+)$")
CLAIM = re.compile(
    r"^# paper (?P<table>T\d+(?:/T\d+)*|Tables? \d+|§[\d.]+) · (?P<row>.+?): "
    r"(?P<value>.+?)(?: \((?P<note>.+)\))?$"
)
BLOCK = re.compile(
    r"(?P<open><!-- generated: (?P<name>\w+) [^\n]*-->\n)(?P<body>.*?)(?P<close><!-- end generated: (?P=name) -->)",
    re.S,
)
# each generated table and the heading of its value column: "video" lists the VE-MD recipes
# (paper/<dataset>/), "multimodal" those of paper/multimodal/ (paper/systems/ has no table)
TABLES = {"video": "reported accuracy", "multimodal": "reported"}


@dataclass(frozen=True)
class Claim:
    """One ``# paper <table> · <row>: <value> (<note>)`` line of a recipe header."""

    table: str  # as the README prints it: "Table 9", "Tables 5, 6", "§7.2"
    row: str
    value: str
    note: str | None


@dataclass(frozen=True)
class Header:
    """What a recipe's header comment says: its dataset, its configuration, its table cells."""

    dataset: str
    configuration: str
    claims: tuple[Claim, ...]


def table_name(where: str) -> str:
    """``T9`` → ``Table 9``, ``T5/T6`` → ``Tables 5, 6``; ``Table 15`` and ``§7.2`` as written."""
    if not where.startswith("T") or where.startswith("Table"):
        return where
    numbers = where.replace("T", "").split("/")
    return f"Table {numbers[0]}" if len(numbers) == 1 else f"Tables {', '.join(numbers)}"


def read_header(path: Path) -> Header:
    """The header of the recipe ``path``; a header that does not read as the module docstring
    says is a one-line :class:`ConfigError` naming the file."""
    comments = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        comments.append(line)
    title = TITLE.match(comments[0]) if comments and not comments[0].startswith("# paper ") else None
    if title is None:
        raise ConfigError(f"{path}: the header's first line must read '# <dataset> · <configuration>'")
    first = next((i for i, line in enumerate(comments) if line.startswith("# paper ")), None)
    if first is None:
        raise ConfigError(f"{path}: no '# paper <table> · <row>: <value>' line in the header")
    claims = []
    for number, line in enumerate(comments[first:], start=first + 1):
        if not line.startswith("# paper "):
            continue
        claim = CLAIM.match(line)
        if claim is None:
            raise ConfigError(f"{path}:{number}: not '# paper <table> · <row>: <value> (<note>)': {line!r}")
        table = table_name(claim["table"])
        claims.append(Claim(table, claim["row"], claim["value"], claim["note"]))
    what = " ".join([title["what"], *(line.removeprefix("#").strip() for line in comments[1:first])])
    return Header(title["dataset"], what, tuple(claims))


def recipes(root: Path, name: str) -> list[Path]:
    """The recipes under ``root`` that the table ``name`` lists, in file order (bases left out)."""
    listed = []
    for path in root.rglob("*.yaml"):
        folder = path.relative_to(root).parts[0]
        table = "multimodal" if folder == "multimodal" else None if folder == "systems" else "video"
        if table == name and not path.name.startswith("_"):
            listed.append(path)
    return sorted(listed, key=lambda p: p.relative_to(root).as_posix())


def cell(text: str) -> str:
    """``text`` safe inside a Markdown table cell."""
    return text.replace("|", "\\|")


def render_table(root: Path, name: str) -> str:
    """The Markdown table ``name``: one row per table cell a recipe under ``root`` reproduces."""
    lines = [
        f"| file | table · row · dataset | configuration | {TABLES[name]} |",
        "|---|---|---|---|",
    ]
    for path in recipes(root, name):
        header = read_header(path)
        rel = path.relative_to(root).as_posix()
        for claim in header.claims:
            value = claim.value + (f" ({claim.note})" if claim.note else "")
            where = f"{claim.table} · {claim.row} · {header.dataset}"
            lines.append(f"| `{rel}` | {cell(where)} | {cell(header.configuration)} | {cell(value)} |")
    return "\n".join(lines) + "\n"


def render_readme(text: str, root: Path = PAPER, where: Path = README) -> str:
    """``text`` (the README, read from ``where``) with each generated block rewritten from the
    recipe headers under ``root``."""
    names = [m["name"] for m in BLOCK.finditer(text)]
    unknown = sorted(set(names) - set(TABLES))
    missing = sorted(set(TABLES) - set(names))
    if unknown or missing or len(names) != len(set(names)):
        raise ConfigError(
            f"{where}: expected one '<!-- generated: NAME ... -->' … '<!-- end generated: NAME -->' "
            f"block for each of {', '.join(TABLES)} (found {', '.join(names) or 'none'})"
        )
    return BLOCK.sub(lambda m: m["open"] + render_table(root, m["name"]) + m["close"], text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say whether the README is up to date")
    parser.add_argument("--readme", type=Path, default=README)
    parser.add_argument("--recipes", type=Path, default=PAPER, help="the folder of the paper recipes")
    args = parser.parse_args(argv)
    try:
        text = args.readme.read_text(encoding="utf-8")
        generated = render_readme(text, args.recipes, args.readme)
    except (OSError, ConfigError) as err:
        print(f"paper_table: {err}", file=sys.stderr)
        return 1
    if args.check:
        if generated != text:
            print(f"{args.readme}: out of date; run python benchmarks/paper_table.py", file=sys.stderr)
            return 1
        return 0
    if generated != text:
        atomic_write_text(args.readme, generated)
        print(f"{args.readme}: tables rewritten from the recipe headers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
