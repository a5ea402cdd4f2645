"""Every reference to a recipe, a benchmark script or a source file resolves.

(a) every ``base:`` of every recipe under ``vemd/configs``, through the resolver that
``vemd.config`` itself uses (:func:`vemd.config._resolve_base`); (b) every path-looking reference
in the recipes' comments, in the Markdown beside them, in the package's modules (docstrings,
comments, help texts), in the benchmark scripts, in the README and in the docs pages:
``configs/….yaml`` (relative to the recipe folder, which ``configs/`` at the repository root
links to), registered recipe names ``paper/…`` and ``systems/…`` and any ``--config NAME``
(through :func:`vemd.config.resolve_recipe`), ``benchmarks/….py`` and ``vemd/….py``. A failure
lists each reference that does not resolve as ``file:line: reference``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

import vemd
from vemd.config import BASE_KEY, CONFIG_DIR, ConfigError, _resolve_base, resolve_recipe

REPO = Path(__file__).resolve().parents[2]
PACKAGE = Path(vemd.__file__).resolve().parent
BENCHMARKS = REPO / "benchmarks"

# A reference starts where no path character precedes it (so ``runs/paper/x/model.pt``, a run
# folder, is not read as the recipe ``paper/x``) and runs to the next space, quote or bracket.
_START = r"(?<![\w/.~-])"
_TOKEN = r"[^\s`'\"()\[\],;|]*"
PATTERNS = (
    ("config", re.compile(_START + r"(?:src/)?(?:vemd/)?configs/(" + _TOKEN + ")")),
    ("benchmark", re.compile(_START + r"benchmarks/(" + _TOKEN + r"\.py)\b")),
    ("source", re.compile(_START + r"(?:src/)?vemd/(" + _TOKEN + r"\.py)\b")),
    ("recipe", re.compile(_START + r"((?:paper|systems)/" + _TOKEN + ")")),
    ("recipe", re.compile(r"--config[ =]+(" + _TOKEN + ")")),
)
# Stand-ins for a name, not names: ``--config FILE``, ``paper/<dataset>/<row>``, ``{name}``.
PLACEHOLDER_CHARS = set("<>{}*$…")
PLACEHOLDER_WORDS = {"recipe", "file", "name", "path"}


def _placeholder(ref: str) -> bool:
    return bool(PLACEHOLDER_CHARS & set(ref)) or ref.isupper() or ref.lower() in PLACEHOLDER_WORDS


def _resolves(kind: str, ref: str) -> bool:
    if kind == "config":
        return (CONFIG_DIR / ref).exists()
    if kind == "benchmark":
        return not BENCHMARKS.is_dir() or (BENCHMARKS / ref).is_file()
    if kind == "source":
        return (PACKAGE / ref).is_file()
    if ref.endswith(".py"):  # a module path such as systems/abaw24/fusion.py, not a recipe
        return (PACKAGE / ref).is_file()
    try:
        resolve_recipe(ref)
    except ConfigError:
        return False
    return True


def references(text: str) -> list[tuple[int, str, str, str]]:
    """``(line, kind, name, as written)`` of every path-looking reference in ``text``."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for kind, pattern in PATTERNS:
            for match in pattern.finditer(line):
                ref = match.group(1).rstrip(".:")
                if ref and not _placeholder(ref) and all(f[:3] != (number, kind, ref) for f in found):
                    found.append((number, kind, ref, match.group(0).rstrip(".:")))
    return found


def _yaml_comments(text: str) -> str:
    """The comments of a YAML file, line for line (the rest blanked)."""
    return "\n".join(
        m.group(1) if (m := re.search(r"(?:^|\s)#(.*)$", line)) else "" for line in text.splitlines()
    )


def _documents() -> list[tuple[Path, str]]:
    """Every file whose text may name a recipe, a benchmark or a module, with that text."""
    docs = [(p, _yaml_comments(p.read_text(encoding="utf-8"))) for p in sorted(CONFIG_DIR.rglob("*.yaml"))]
    files = [*sorted(CONFIG_DIR.rglob("*.md")), *sorted(PACKAGE.rglob("*.py"))]
    files += sorted(BENCHMARKS.glob("*.py")) if BENCHMARKS.is_dir() else []
    files += [REPO / "README.md"] if (REPO / "README.md").is_file() else []
    files += sorted((REPO / "docs").glob("*.md"))  # the README's long sections live there
    docs += [(p, p.read_text(encoding="utf-8")) for p in files]
    return docs


def _where(path: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(REPO) if path.is_relative_to(REPO) else path)


@pytest.fixture(autouse=True)
def _away_from_the_repository(tmp_path, monkeypatch):
    """resolve_recipe accepts a path relative to the working directory first: run from an empty
    folder, so that only the recipe folder can resolve a name."""
    monkeypatch.chdir(tmp_path)


def test_every_base_resolves():
    recipes = sorted(CONFIG_DIR.rglob("*.yaml"))
    assert len(recipes) > 100
    dangling = []
    for recipe in recipes:
        held = yaml.safe_load(recipe.read_text(encoding="utf-8")) or {}
        bases = held.get(BASE_KEY) if isinstance(held, dict) else None
        for name in [] if bases is None else [bases] if isinstance(bases, str) else bases:
            try:
                _resolve_base(str(name), recipe)
            except ConfigError:
                dangling.append(f"{_where(recipe)}: base: {name}")
    assert not dangling, "bases that do not resolve:\n" + "\n".join(dangling)


def test_every_named_recipe_benchmark_and_module_exists():
    dangling, seen = [], 0
    for path, text in _documents():
        for line, kind, ref, written in references(text):
            seen += 1
            if not _resolves(kind, ref):
                dangling.append(f"{_where(path)}:{line}: {written}")
    assert seen > 100  # the scan does find the references (the recipes alone name well over 100)
    assert not dangling, "references that do not resolve:\n" + "\n".join(sorted(set(dangling)))


def test_the_scan_flags_what_does_not_resolve():
    text = (
        "# The paper's settings are in configs/paper/vgaf/emotiw20.yaml.\n"
        "# see configs/systems/abaw24_synth.yaml, vemd fit --config paper/gaf3/no_such_row\n"
        "base: [paper/_base]  # runs/paper/no/model.pt is a run folder; --config FILE a stand-in\n"
        "(benchmarks/bench_nothing.py) and vemd/models/no_such_module.py\n"
    )
    found = references(text)
    assert [(line, ref) for line, _, ref, _ in found] == [
        (1, "paper/vgaf/emotiw20.yaml"),
        (2, "systems/abaw24_synth.yaml"),
        (2, "paper/gaf3/no_such_row"),
        (3, "paper/_base"),
        (4, "bench_nothing.py"),
        (4, "models/no_such_module.py"),
    ]
    assert [written for _, kind, ref, written in found if not _resolves(kind, ref)] == [
        "configs/paper/vgaf/emotiw20.yaml",
        "paper/gaf3/no_such_row",
        *(["benchmarks/bench_nothing.py"] if BENCHMARKS.is_dir() else []),
        "vemd/models/no_such_module.py",
    ]
