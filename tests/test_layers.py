"""vemd's layers run downward only, no two vemd modules import each other in a circle, the
consumers of a model import no training code, and predicting (``vemd predict``, ``vemd.load``,
``vemd serve``'s model loading) imports only what the model needs: no timm, torchvision or
torch._dynamo for a model without a timm backbone, never numba, scipy, scikit-learn or matplotlib.

Layers, lowest first (a module's layer is that of the longest prefix in :data:`LAYER_OF`)::

    base        vemd.errors, vemd.io, vemd.config, vemd.structure, vemd.noise (and the small
                helpers beside them: vemd.model_file, vemd.device, vemd.progress)
    data        vemd.data                       } neither imports the other
    models      vemd.models                     }
    model files vemd.models.checkpoint          builds any model of a file: no model box imports it
    eval        vemd.eval                       } neither imports the other
    annotate    vemd.annotate                   }
    synth       vemd.synth (writes datasets: above data)
    train, then systems, then inference / privacy / serve, then commands / quickstart / cli

The first two tests parse the sources with :mod:`ast` (nothing is imported), every import
statement of every module, those inside functions too (a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"

LAYER_OF = {
    "vemd": "api",  # vemd.load; imported as `vemd` (for __version__) it is every module's parent anyway
    "vemd.errors": "base",
    "vemd.version": "base",
    "vemd.io": "base",
    "vemd.config": "base",
    "vemd.structure": "base",
    "vemd.noise": "base",
    "vemd.model_file": "base",
    "vemd.device": "base",
    "vemd.card": "base",
    "vemd.progress": "base",
    "vemd.hub": "base",
    "vemd.data": "data",
    "vemd.models": "models",
    "vemd.models.checkpoint": "model files",
    "vemd.eval": "eval",
    "vemd.annotate": "annotate",
    "vemd.synth": "synth",
    "vemd.train": "train",
    "vemd.systems": "systems",
    "vemd.inference": "consumers",
    "vemd.privacy": "consumers",
    "vemd.serve": "consumers",
    "vemd.commands": "commands",
    "vemd.quickstart": "commands",
    "vemd.cli": "commands",
}

# What the checked layers may import (their own layer included); the others are not checked yet.
MAY_IMPORT = {
    "base": {"base"},
    "data": {"base", "data"},
    "models": {"base", "models"},
    "model files": {"base", "models", "model files"},
    "eval": {"base", "data", "models", "model files", "eval"},
    "annotate": {"base", "data", "models", "model files", "annotate"},
}


@dataclass(frozen=True)
class Import:
    importer: str  # the module holding the statement
    target: str  # the vemd module (or package) it imports
    path: Path
    line: int
    top_level: bool  # runs when the importer is imported: not in a function, not for type checkers
    typing_only: bool = False  # under ``if TYPE_CHECKING``: never runs

    def where(self) -> str:
        return f"{_shown(self.path)}:{self.line}"


def _shown(path: Path) -> Path:
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def modules(src: Path = SRC) -> dict[str, Path]:
    """Every vemd module under ``src``: dotted name → file."""
    found = {}
    for path in sorted((src / "vemd").rglob("*.py")):
        parts = path.relative_to(src).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _Imports(ast.NodeVisitor):
    def __init__(self, name: str, path: Path, known: dict[str, Path]) -> None:
        self.name, self.path, self.known = name, path, known
        self.package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        self.lazy = 0  # depth of functions and TYPE_CHECKING blocks around the node
        self.typing = 0  # depth of TYPE_CHECKING blocks around the node
        self.found: list[Import] = []

    def _add(self, target: str, node: ast.AST) -> None:
        if target == "vemd" or target.startswith("vemd."):
            self.found.append(
                Import(self.name, target, self.path, node.lineno, self.lazy == 0, self.typing > 0)
            )

    def _inside(self, node: ast.AST) -> None:
        self.lazy += 1
        self.generic_visit(node)
        self.lazy -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _inside

    def visit_If(self, node: ast.If) -> None:
        if not _is_type_checking(node.test):
            return self.generic_visit(node)
        self.lazy += 1
        self.typing += 1
        for child in node.body:
            self.visit(child)
        self.typing -= 1
        self.lazy -= 1
        for child in node.orelse:
            self.visit(child)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.package.split(".")[: len(self.package.split(".")) - node.level + 1]
            module = ".".join([*base, *([node.module] if node.module else [])])
        else:
            module = node.module or ""
        self._add(module, node)
        for alias in node.names:  # `from vemd.models import checkpoint` imports a module too
            if f"{module}.{alias.name}" in self.known:
                self._add(f"{module}.{alias.name}", node)

    def visit_Call(self, node: ast.Call) -> None:  # importlib.import_module("vemd...") with a constant
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        first = node.args[0] if node.args else None
        if name in ("import_module", "__import__") and isinstance(first, ast.Constant):
            self._add(str(first.value), node)
        self.generic_visit(node)


def imports(src: Path = SRC) -> list[Import]:
    """Every import of a vemd module by a vemd module under ``src``."""
    known = modules(src)
    found = []
    for name, path in known.items():
        visitor = _Imports(name, path, known)
        visitor.visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        found += visitor.found
    return found


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    for n in range(len(parts), 1, -1):  # a module new under vemd has no layer until it is given one
        if ".".join(parts[:n]) in LAYER_OF:
            return LAYER_OF[".".join(parts[:n])]
    return LAYER_OF.get(module)


def layer_violations(src: Path = SRC) -> list[str]:
    problems = [
        f"{_shown(path)}: {name} is not in the layer table (tests/test_layers.py)"
        for name, path in modules(src).items()
        if layer_of(name) is None
    ]
    for imp in imports(src):
        mine, theirs = layer_of(imp.importer), layer_of(imp.target)
        if imp.target == "vemd" or mine not in MAY_IMPORT or theirs is None:
            continue  # the root package (for __version__): imported before any of its modules
        if theirs not in MAY_IMPORT[mine]:
            lazily = "" if imp.top_level else " (a lazy import)"
            problems.append(f"{imp.where()}: {imp.importer} ({mine}) imports {imp.target} ({theirs}){lazily}")
    return problems


def _ancestors(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:n]) for n in range(1, len(parts))]


def import_graph(src: Path = SRC, *, lazy: bool = False) -> dict[str, dict[str, Import]]:
    """module → {module it imports when it is imported: the import statement}; with ``lazy``,
    also the modules its functions import when they run (not those imported for type checkers).

    Importing ``a.b.c`` runs the packages ``a`` and ``a.b`` first: they are edges too, but not
    the importer's own packages (they ran before it).
    """
    known = modules(src)
    graph: dict[str, dict[str, Import]] = {name: {} for name in known}
    for imp in imports(src):
        runs = imp.top_level or (lazy and not imp.typing_only)
        if not runs or imp.target not in known:
            continue
        mine = set(_ancestors(imp.importer))
        for target in [imp.target, *(a for a in _ancestors(imp.target) if a not in mine)]:
            if target != imp.importer:
                graph[imp.importer].setdefault(target, imp)
    return graph


def cycles(graph: dict[str, dict[str, Import]]) -> list[list[str]]:
    """One cycle (its modules in import order, the first repeated last) per strongly connected
    component of ``graph`` that has more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    found = []
    for component in components:
        start = min(component)
        paths, queue = {start: [start]}, [start]  # shortest way back to start, within the component
        while queue:
            v = queue.pop(0)
            for w in sorted(graph[v]):
                if w == start:
                    found.append([*paths[v], start])
                    queue = []
                    break
                if w in component and w not in paths:
                    paths[w] = [*paths[v], w]
                    queue.append(w)
    return found


def describe(cycle: list[str], graph: dict[str, dict[str, Import]]) -> str:
    steps = [cycle[0]] + [f"{b} ({graph[a][b].where()})" for a, b in zip(cycle, cycle[1:])]
    return " → ".join(steps)


def test_layers_import_downward_only():
    problems = layer_violations()
    assert not problems, "imports above the importer's layer:\n" + "\n".join(problems)


def test_no_import_cycle_among_vemd_modules():
    graph = import_graph()
    found = [describe(cycle, graph) for cycle in cycles(graph)]
    assert not found, "module-level import cycles:\n" + "\n".join(found)


def test_no_import_cycle_at_runtime_either():
    """No circle through the imports functions make when they run (a lazy import hiding a cycle)."""
    graph = import_graph(lazy=True)
    found = [describe(cycle, graph) for cycle in cycles(graph)]
    assert not found, "import cycles through lazy imports:\n" + "\n".join(found)


def test_the_checks_see_lazy_imports_relative_imports_and_cycles(tmp_path):
    files = {
        "vemd/__init__.py": "__version__ = '0'\n",
        "vemd/io.py": "from vemd import __version__\n",
        "vemd/data/__init__.py": "",
        "vemd/data/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from vemd.models import m\n",
        "vemd/data/b.py": "def f():\n    from ..eval import e\n",
        "vemd/models/__init__.py": "from vemd.models.m import X\n",
        "vemd/models/m.py": "from vemd.models import checkpoint\nX = 1\n",
        "vemd/models/checkpoint.py": "import vemd.models.m\n",
        "vemd/eval/__init__.py": "",
        "vemd/eval/e.py": "import importlib\nimportlib.import_module('vemd.train')\n",
        "vemd/train.py": "",
        "vemd/elsewhere.py": "",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    problems = [p.split(": ", 1)[1] for p in layer_violations(tmp_path)]
    assert problems == [
        "vemd.elsewhere is not in the layer table (tests/test_layers.py)",
        "vemd.data.a (data) imports vemd.models (models) (a lazy import)",
        "vemd.data.a (data) imports vemd.models.m (models) (a lazy import)",
        "vemd.data.b (data) imports vemd.eval (eval) (a lazy import)",
        "vemd.data.b (data) imports vemd.eval.e (eval) (a lazy import)",
        "vemd.eval.e (eval) imports vemd.train (train)",
        "vemd.models.m (models) imports vemd.models.checkpoint (model files)",
    ]
    graph = import_graph(tmp_path)
    assert graph["vemd.data.a"] == graph["vemd.data.b"] == {}  # lazy imports: no edge
    assert [describe(c, graph).split(" (")[0] for c in cycles(graph)] == ["vemd.models → vemd.models.m"]
    assert cycles(graph)[0] == ["vemd.models", "vemd.models.m", "vemd.models"]


# The training stack: no consumer of a model imports any of it.
TRAINING = ("pytorch_lightning", "lightning", "lightning_fabric", "tensorboard", "torchmetrics", "vemd.train")
# What predicting with a model that has no timm backbone needs none of: timm (over a second, as it
# imports torchvision, which imports torch._dynamo), numba (the training targets' kernel), the
# evaluation's scipy, scikit-learn and matplotlib.
NOT_PREDICTING = ("timm", "torchvision", "torch._dynamo", "numba", "scipy", "sklearn", "matplotlib")
LEAN = TRAINING + NOT_PREDICTING
WALKED = ("vemd.data", "vemd.eval", "vemd.inference", "vemd.models")
NO_FASTAPI = importlib.util.find_spec("fastapi") is None
NEEDS_FASTAPI = pytest.mark.skipif(NO_FASTAPI, reason="no fastapi")


def loaded_in_fresh_interpreter(code: str, forbidden: tuple[str, ...], cwd: Path) -> list[str]:
    """The modules of ``forbidden`` that ``code``, run in a fresh interpreter, leaves in
    ``sys.modules`` (a package is there when any of its modules is); ``code`` must succeed."""
    report = f"""
import json as _json, sys as _sys
print(_json.dumps([name for name in {forbidden!r} if name in _sys.modules]))
"""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(SRC)}
    done = subprocess.run(
        [sys.executable, "-c", code + report], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("modules", "forbidden"),
    [
        pytest.param(["vemd"], (*LEAN, "torch"), id="vemd"),
        # what `vemd --help` imports: the parser imports every command's module
        pytest.param(["vemd.cli", "*vemd.commands"], (*LEAN, "torch", "numpy"), id="cli-every-command"),
        pytest.param(["vemd.config"], (*LEAN, "torch"), id="config"),
        pytest.param(["vemd.systems"], (*LEAN, "torch"), id="systems"),
        pytest.param(["vemd.inference.predictor"], LEAN, id="predictor"),
        pytest.param(["vemd.serve.app"], LEAN, id="serve", marks=NEEDS_FASTAPI),
        pytest.param(["vemd.privacy.audit"], TRAINING, id="audit"),
        pytest.param(["*" + p for p in WALKED], TRAINING, id="every-module-of-data-eval-inference-models"),
    ],
)
def test_consumers_import_no_training_code(modules, forbidden, tmp_path):
    """In a fresh interpreter (``*package``: every module of it), no training stack, and for the
    modules a prediction starts from, nothing a model without a timm backbone does not need."""
    code = f"""
import importlib, pkgutil
for name in {modules!r}:
    package = importlib.import_module(name.lstrip("*"))
    if name.startswith("*"):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            importlib.import_module(info.name)
"""
    assert loaded_in_fresh_interpreter(code, forbidden, tmp_path) == []


@pytest.fixture(scope="module")
def predict_files(tmp_path_factory):
    """An image and two tiny model files (random weights): ``plain``, whose backbone is vemd's own
    CNN (no ViT branch), and ``timm``, whose ViT branch is a timm model."""
    import numpy as np
    from PIL import Image

    from vemd.config import load_config, to_dict
    from vemd.model_file import write_model_file
    from vemd.models import build_model

    folder = tmp_path_factory.mktemp("predict_imports")
    files = {"image": folder / "group.jpg"}
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(
        files["image"]
    )
    for name, overrides in (("plain", ("model.vit.enabled=false", "train.stage=2")), ("timm", ())):
        cfg = load_config("tiny", overrides)
        model = build_model(cfg.model, load_weights=False)
        files[name] = write_model_file(
            folder / f"{name}.pt",
            system="ve-md",
            config=to_dict(cfg),
            class_names=["a", "b", "c"],
            state_dict=model.inference_state_dict(),
            extra={"stage": "2"},
        )
    return files


PREDICT_CODE = {
    "cli": 'from vemd.cli import main\nassert main(["predict", {image!r}, "--ckpt", {model!r}]) == 0\n',
    "api": "import vemd\nassert vemd.load({model!r}).predict({image!r}).label in ('a', 'b', 'c')\n",
    "serve": "from vemd.serve.app import create_app\ncreate_app({model!r})\n",
}


@pytest.mark.parametrize(
    ("entry", "model", "forbidden"),
    [
        pytest.param("cli", "plain", LEAN, id="vemd-predict"),
        pytest.param("api", "plain", LEAN, id="vemd.load-predict"),
        pytest.param("serve", "plain", LEAN, id="serve-loads-its-model", marks=NEEDS_FASTAPI),
        pytest.param("cli", "timm", (*TRAINING, "numba", "scipy", "sklearn", "matplotlib"), id="timm-vit"),
    ],
)
def test_predicting_imports_only_what_the_model_needs(entry, model, forbidden, predict_files):
    """``vemd predict``, ``vemd.load(...).predict`` and ``vemd serve``'s model loading, in a fresh
    interpreter: no training stack, and no timm (nor torchvision, torch._dynamo) for a model
    without a timm backbone; numba, scipy, scikit-learn and matplotlib never."""
    code = PREDICT_CODE[entry].format(image=str(predict_files["image"]), model=str(predict_files[model]))
    assert loaded_in_fresh_interpreter(code, forbidden, predict_files["image"].parent) == []


def test_summary_imports_no_training_stack(tmp_path):
    """``vemd summary`` builds a model and counts its FLOPs: no training stack, no numba, scipy,
    scikit-learn or matplotlib (timm for a model with a timm backbone, torch._dynamo for the FLOP
    counter are needed)."""
    code = 'from vemd.cli import main\nassert main(["summary", "--config", "quickstart", "--json"]) == 0\n'
    forbidden = (*TRAINING, "numba", "scipy", "sklearn", "matplotlib")
    assert loaded_in_fresh_interpreter(code, forbidden, tmp_path) == []
