"""Models by name (``hf://ORG/NAME[@REVISION]``) and ``vemd export --format hf``.

Every test reads a Hugging Face cache laid out in a temporary folder as ``huggingface_hub``
lays it out (``models--ORG--NAME/refs/<branch>`` holding a commit hash,
``models--ORG--NAME/snapshots/<commit>/model.pt``), with ``HF_HUB_OFFLINE=1``: nothing
touches the network.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard
from tests.models.helpers import tiny_model

from vemd.card import add_evaluation, fit_facts, read_facts, write_model_card
from vemd.cli import main
from vemd.config import to_dict
from vemd.hub import parse
from vemd.model_file import CheckpointError, read_model_file, write_model_file
from vemd.systems import load_artifact

CLI = "import sys; from vemd.cli import main; sys.exit(main(sys.argv[1:]))"


def cache_model(cache: Path, repo_id: str, folder: Path, revision: str = "main") -> Path:
    """Lay out the files of ``folder`` as the snapshot of ``repo_id`` at branch ``revision``;
    returns the snapshot folder."""
    commit = hashlib.sha1(f"{repo_id}@{revision}".encode()).hexdigest()
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / commit
    shutil.copytree(folder, snapshot)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / revision).write_text(commit)
    return snapshot


@pytest.fixture
def hub_cache(tmp_path, monkeypatch) -> Path:
    """An empty Hugging Face cache, offline: for this process (huggingface_hub reads its
    environment once, at import) and for subprocesses."""
    import huggingface_hub.constants as constants

    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return cache


def _folder_of(model_file: Path, folder: Path) -> Path:
    folder.mkdir()
    shutil.copy(model_file, folder / "model.pt")
    return folder


def test_a_cached_model_loads_by_name_offline(model_file, hub_cache, tmp_path):
    snapshot = cache_model(hub_cache, "org/tiny", _folder_of(model_file, tmp_path / "repo"))
    artifact = load_artifact("hf://org/tiny")
    assert artifact.path == snapshot / "model.pt"
    assert artifact.class_names == ["a", "b", "c"]


def test_a_revision_picks_its_snapshot(model_file, hub_cache, tmp_path):
    main_snapshot = cache_model(hub_cache, "org/tiny", _folder_of(model_file, tmp_path / "main"))
    tagged = cache_model(hub_cache, "org/tiny", _folder_of(model_file, tmp_path / "v1"), revision="v1")
    assert load_artifact("hf://org/tiny@v1").path == tagged / "model.pt"
    assert load_artifact(f"hf://org/tiny@{main_snapshot.name}").path == main_snapshot / "model.pt"


def test_a_model_neither_cached_nor_reachable_is_one_line(hub_cache, capsys):
    with pytest.raises(
        CheckpointError, match=r"hf://org/missing: model.pt of org/missing .*HF_HUB_OFFLINE=1"
    ):
        load_artifact("hf://org/missing")
    assert (
        main(["export", "--ckpt", "hf://org/missing", "--format", "hf", "--out", str(hub_cache / "x")]) != 0
    )
    err = capsys.readouterr().err
    assert "org/missing" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("name", ["hf://tiny", "hf://org/tiny@", "hf://org/a/b", "hf://"])
def test_a_malformed_name_is_refused(name):
    with pytest.raises(CheckpointError, match="expected hf://ORG/NAME"):
        parse(name)


def test_predict_cli_reads_the_environment(model_file, hub_cache, tmp_path):
    """The real entry point in a fresh process: HF_HUB_CACHE and HF_HUB_OFFLINE from the environment."""
    cache_model(hub_cache, "org/tiny", _folder_of(model_file, tmp_path / "repo"))
    image = tmp_path / "scene.png"
    from PIL import Image

    Image.new("RGB", (32, 32), (90, 120, 150)).save(image)
    run = subprocess.run(
        [sys.executable, "-c", CLI, "predict", str(image), "--ckpt", "hf://org/tiny", "--json"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert '"type": "result"' in run.stdout


def _with_card(model_file: Path, folder: Path) -> Path:
    """The model file trained on ``folder/datasets/meetings``, with a MODEL_CARD.md as vemd fit
    and vemd test --record leave it."""
    cfg, _ = tiny_model("data.name=folder", f"data.root={folder / 'datasets' / 'meetings'}")
    folder.mkdir()
    file = read_model_file(model_file)
    path = write_model_file(
        folder / "model.pt", config=to_dict(cfg), class_names=file.class_names, state_dict=file.state_dict,
        system=file.system, extra=file.extra,
    )  # fmt: skip
    validation = {"monitor": "val/accuracy", "score": 0.5, "ci95": [0.3, 0.7]}
    write_model_card(
        path, fit_facts(cfg, ["a", "b", "c"], sizes={"train": 8, "val": 4}, validation=validation)
    )
    add_evaluation(path, "test", {"num_items": 4, "accuracy": 0.75, "uar": 0.7, "f1_weighted": 0.7}, "report")
    return path


def test_export_hf_writes_a_folder_that_loads_back_by_name(model_file, hub_cache, tmp_path, capsys):
    model = _with_card(model_file, tmp_path / "run")
    out = tmp_path / "upload"
    assert (
        main(["export", "--ckpt", str(model), "--format", "hf", "--out", str(out), "--license", "mit"]) == 0
    )
    assert "hf upload" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "model.pt"]
    # the same model, without the folders of the machine that trained it
    exported, original = read_model_file(out / "model.pt"), read_model_file(model)
    assert exported.config["data"]["root"] == "meetings" and str(tmp_path) not in repr(exported.config)
    assert exported.config == {**original.config, "data": {**original.config["data"], "root": "meetings"}}
    assert exported.state_dict.keys() == original.state_dict.keys()
    assert all(torch.equal(exported.state_dict[k], v) for k, v in original.state_dict.items())
    assert (exported.system, exported.class_names, exported.extra, exported.training_data) == (
        original.system, original.class_names, original.extra, original.training_data
    )  # fmt: skip

    card = ModelCard.load(out / "README.md")
    meta = card.data.to_dict()
    assert meta["license"] == "mit" and meta["library_name"] == "vemd"
    assert {"vemd", "group-emotion-recognition", "ve-md"} <= set(meta["tags"])
    assert meta["datasets"] == ["folder"]
    assert meta["metrics"] == ["accuracy", "uar", "f1_weighted"]
    facts = read_facts(model)
    assert facts["dataset"]["root"] == str(tmp_path / "run" / "datasets" / "meetings")
    # the card's own metadata, carried over, without the folders of the machine that trained it
    assert meta["vemd"] == {**facts, "dataset": {**facts["dataset"], "root": "meetings"}}
    assert str(tmp_path) not in (out / "README.md").read_text()
    assert "Dataset `folder` at `meetings`" in card.text
    assert "## Intended use" in card.text and "75.0 %" in card.text  # vemd's card body, its evaluation
    assert "library_name" not in card.text  # one front matter: the card's is not repeated in the body

    cache_model(hub_cache, "org/exported", out)
    assert load_artifact("hf://org/exported").class_names == ["a", "b", "c"]


def test_export_hf_without_a_card_and_into_a_used_folder(model_file, tmp_path):
    from vemd.errors import VemdError
    from vemd.inference.export import export_model

    out = tmp_path / "upload"
    result = export_model(model_file, out, format="hf")
    meta = ModelCard.load(out / "README.md").data.to_dict()
    assert meta["license"] == "other" and "metrics" not in meta
    assert result.path == out and result.format == "hf"
    export_model(model_file, out, format="hf")  # its own files are written over

    (out / "notes.txt").write_text("mine")
    with pytest.raises(VemdError, match=r"upload: holds other files \(notes.txt\)"):
        export_model(model_file, out, format="hf")
    with pytest.raises(VemdError, match="--license applies to --format hf only"):
        export_model(model_file, tmp_path / "m.onnx", format="onnx", license="mit")
