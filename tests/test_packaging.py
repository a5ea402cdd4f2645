"""Packaging: ``pyproject.toml`` states ranges and ``constraints.txt`` the tested pins, the two
agree, the core holds everything a prediction imports, the version is one everywhere, and the
wheel carries the package data (recipes, the web page, ``py.typed``) and the licence."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from tests.data import bad_media
from tests.models.helpers import tiny_model, write_model_file

from vemd.config import to_dict
from vemd.version import __version__

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
NAME = canonicalize_name(PROJECT["name"])
# Extras whose packages are not installed by `make` (they need weights from the hub): not pinned.
UNPINNED_EXTRAS = {"vitpose"}


def _requirements(extra: str | None = None) -> list[Requirement]:
    lines = PROJECT["dependencies"] if extra is None else PROJECT["optional-dependencies"][extra]
    return [Requirement(line) for line in lines]


def _third_party(extra: str | None = None) -> list[Requirement]:
    return [r for r in _requirements(extra) if canonicalize_name(r.name) != NAME]


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        name, _, version = line.partition("==")
        assert version and re.fullmatch(r"[\w.+-]+", version), (
            f"constraints.txt: {line!r} is not NAME==VERSION"
        )
        assert canonicalize_name(name) not in pins, f"constraints.txt: {name} pinned twice"
        pins[canonicalize_name(name)] = version
    return pins


def test_pyproject_states_ranges_and_constraints_pin_versions_that_satisfy_them():
    pins = _pins()
    extras = [None, *PROJECT["optional-dependencies"]]
    for extra in extras:
        for req in _third_party(extra):
            where = f"pyproject.toml [{extra or 'dependencies'}] {req}"
            assert not any(spec.operator in ("==", "===") for spec in req.specifier), (
                f"{where}: a pin, not a range"
            )
            if extra in UNPINNED_EXTRAS:
                continue
            pinned = pins.get(canonicalize_name(req.name))
            assert pinned is not None, f"{where}: no pin in constraints.txt"
            assert req.specifier.contains(pinned, prereleases=True), (
                f"{where}: the pin {pinned} is outside it"
            )
    assert pins["opencv-python-headless"] == pins["opencv-contrib-python"]  # one cv2 module, one version


def test_all_holds_every_extra_the_commands_use():
    (everything,) = _requirements("all")
    assert canonicalize_name(everything.name) == NAME
    tools = {"all", "dev", "docs", *UNPINNED_EXTRAS}
    assert everything.extras == set(PROJECT["optional-dependencies"]) - tools


def _core_closure() -> set[str]:
    """The distributions the core requirements bring, as installed here (markers evaluated, and
    the extras a requirement asks for followed: torch's ``cuda-toolkit[cufile, …]``)."""
    seen: set[tuple[str, str]] = set()
    todo = [(req.name, extra) for req in _third_party() for extra in ("", *req.extras)]
    while todo:
        name, extra = todo.pop()
        name = canonicalize_name(name)
        if (name, extra) in seen:
            continue
        seen.add((name, extra))
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for line in requires:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": extra}):
                todo += [(req.name, wanted) for wanted in ("", *req.extras)]
    return {name for name, _ in seen}


# Records the top-level modules that vemd's own modules import (what third-party packages import
# themselves, optional imports included, is their packaging's business).
_RECORD_IMPORTS = """
import builtins, json, sys
imported, _import = set(), builtins.__import__
def _recording(name, globals=None, locals=None, fromlist=(), level=0):
    if level == 0 and str((globals or {}).get("__name__", "")).startswith("vemd"):
        imported.add(name.partition(".")[0])
    return _import(name, globals, locals, fromlist, level)
builtins.__import__ = _recording
"""


def test_a_prediction_imports_only_what_the_core_installs(tmp_path):
    """``vemd predict VIDEO --out DIR`` (its timeline plot included), in a fresh interpreter:
    every package vemd's modules import on the way comes with the core's requirements."""
    cfg, model = tiny_model("data.name=folder", "model.vit.enabled=false")  # the quickstart's kind: no timm
    write_model_file(tmp_path / "model.pt", to_dict(cfg), model.inference_state_dict())
    video = bad_media.video(tmp_path, 30, fps=10)
    code = _RECORD_IMPORTS + (
        "from vemd.cli import main\n"
        f"assert main(['predict', {str(video)!r}, '--ckpt', 'model.pt', '--window', '1', '--out', 'out']) == 0\n"
        "print(json.dumps(sorted(imported)))"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert list((tmp_path / "out").glob("timeline-*.png"))
    imported = set(json.loads(done.stdout.strip().splitlines()[-1]))
    owners = metadata.packages_distributions()
    assert {"torch", "numpy", "av", "matplotlib"} <= imported  # the recording sees vemd's imports
    core = _core_closure()
    outside = {
        module: owners[module]
        for module in sorted(imported)
        if module in owners
        and canonicalize_name(owners[module][0]) != NAME
        and not any(canonicalize_name(d) in core for d in owners[module])
    }
    assert outside == {}, f"packages a prediction imports from outside the core: {outside}"


def test_the_version_is_one_everywhere():
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    # the newest released entry first, below an optional "Unreleased" section (Keep a Changelog)
    released = re.findall(r"^## \[?([\w.]+)", changelog, re.M)
    assert [v for v in released if v.lower() != "unreleased"][0] == __version__
    assert all(v.lower() != "unreleased" for v in released[1:])  # only on top
    citation = (ROOT / "CITATION.cff").read_text(encoding="utf-8")
    assert re.search(r"^version: ([\w.]+)$", citation, re.M).group(1) == __version__


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """vemd's wheel, built from a copy of the sources (a build writes beside them), fetching nothing."""
    pytest.importorskip("setuptools", minversion="77")
    tmp_path = tmp_path_factory.mktemp("wheel")
    source = tmp_path / "source"
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    build = ["wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), "."]
    done = subprocess.run(
        [sys.executable, "-m", "pip", *build], cwd=source, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (built,) = tmp_path.glob("vemd-*.whl")
    return built


def test_the_wheel_carries_the_package_data_and_the_licence(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"vemd/py.typed", "vemd/configs/tiny.yaml", "vemd/serve/static/index.html"} <= names
    assert any(n.startswith("vemd/configs/paper/") and n.endswith(".yaml") for n in names)
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert (ROOT / "src" / "vemd" / "py.typed").exists()


def _link_distributions(names: set[str], site: Path) -> int:
    """Links every file that pip recorded for the installed distributions ``names`` into ``site``:
    the same packages as a fresh install of them would give, without unpacking them again."""
    linked = 0
    for dist in metadata.distributions():
        if canonicalize_name(dist.metadata["Name"]) not in names:
            continue
        for file in dist.files or []:
            if file.parts[0] == "..":  # console scripts, outside site-packages
                continue
            source, target = Path(dist.locate_file(file)), site / file
            if source.exists() and not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.symlink_to(source)
                linked += 1
    return linked


@pytest.mark.slow
def test_the_core_alone_installs_and_predicts(tmp_path, wheel):
    """A fresh virtual environment that holds the core's distributions and nothing else (no
    Lightning, no extras), vemd installed into it from the wheel without fetching anything:
    ``pip check`` finds every requirement met and ``vemd predict VIDEO --ckpt model.pt`` runs."""
    venv = tmp_path / "core"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    core = _core_closure()
    assert "pytorch-lightning" not in core and "torch" in core
    assert _link_distributions(core, Path(purelib)) > 1000
    pip = [sys.executable, "-m", "pip", "--python", str(python)]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(HF_HUB_OFFLINE="1", PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    done = subprocess.run(
        [*pip, "install", "-q", "--no-deps", str(wheel)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    done = subprocess.run([*pip, "check"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"the core's requirements are not met: {done.stdout}{done.stderr}"
    isolated = subprocess.run(
        [python, "-c", "import pytorch_lightning"], env=env, capture_output=True, timeout=60
    )
    assert isolated.returncode != 0  # the training stack is not there to be imported by accident

    cfg, model = tiny_model("data.name=folder", "model.vit.enabled=false")
    write_model_file(tmp_path / "model.pt", to_dict(cfg), model.inference_state_dict())
    video = bad_media.video(tmp_path, 30, fps=10)
    predict = [venv / "bin" / "vemd", "predict", str(video), "--ckpt", "model.pt", "--window", "1", "--json"]
    done = subprocess.run(
        [*predict, "--out", "out"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["type"] == "result" and len(result["probs"]) == cfg.model.num_classes
    assert list((tmp_path / "out").glob("timeline-*.png"))
