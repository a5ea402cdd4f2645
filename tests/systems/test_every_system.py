"""Every registered system through the same steps: fit → test → predict (CLI and API) → serve
``/v1/model`` → audit → export, each decided by the loaded model's capabilities, never its kind."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from tests.data import audio_media
from tests.multimodal.conftest import TINY_MM
from tests.systems.conftest import ABAW24_RECIPE, ABAW24_TINY, EMOTIW20_RECIPE, EMOTIW20_TINY
from tests.train.conftest import TINY

import vemd
from vemd.cli import main
from vemd.systems import SYSTEMS, load_artifact

KINDS = ("ve-md", "multimodal", "emotiw20", "abaw24")


def test_the_test_covers_every_registered_system():
    assert set(KINDS) == set(SYSTEMS)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """SynthGroups with audio and valence/arousal (every system reads what it needs of it)."""
    from vemd.synth import generate_dataset

    root = tmp_path_factory.mktemp("every_system") / "data"
    return generate_dataset(
        root,
        n_train=24,
        n_val=12,
        n_test=12,
        frames=4,
        seed=0,
        max_people=3,
        image_size=64,
        audio=True,
        va=True,
        progress=False,
    )


@pytest.fixture(scope="module")
def identities(tmp_path_factory) -> Path:
    """3 identities × 4 images, told apart by their colour."""
    root = tmp_path_factory.mktemp("ids")
    rng = np.random.default_rng(0)
    for k, colour in enumerate(rng.integers(0, 255, (3, 3))):
        folder = root / f"p{k:03d}"
        folder.mkdir()
        for j in range(4):
            image = (rng.integers(0, 40, (64, 64, 3)) + 0.8 * colour).clip(0, 255).astype(np.uint8)
            cv2.imwrite(str(folder / f"{j:03d}.png"), image)
    return root


def _recipe(kind: str, data: Path, out: Path, models: dict) -> list[str]:
    common = [f"data.root={data}", f"train.out_dir={out}"]
    if kind == "ve-md":
        return ["--config", "tiny", *_sets([*TINY, "data.frames=2", "train.stage=2", *common])]
    if kind == "multimodal":
        video = models["ve-md"]
        return [
            "--config",
            "tiny",
            *_sets([*TINY, "data.frames=2", *TINY_MM, f"multimodal.video_model={video}", *common]),
        ]
    if kind == "emotiw20":
        return ["--config", EMOTIW20_RECIPE, *_sets([*EMOTIW20_TINY, *common])]
    return ["--config", ABAW24_RECIPE, *_sets([*ABAW24_TINY, *common])]


def _sets(overrides: list[str]) -> list[str]:
    return [arg for item in overrides for arg in ("--set", item)]


@pytest.fixture(scope="module")
def models(data, tmp_path_factory) -> dict:
    """kind → model.pt, fitted on first use through ``vemd fit`` (the multimodal one over the VE-MD)."""
    fitted: dict[str, Path] = {}

    def get(kind: str) -> Path:
        if kind not in fitted:
            if kind == "multimodal":
                get("ve-md")
            out = tmp_path_factory.mktemp(kind)
            assert main(["fit", *_recipe(kind, data, out, fitted)]) == 0
            fitted[kind] = out / "model.pt"
        return fitted[kind]

    return get


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err and len(err.splitlines()) == 1, err
    return err


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_every_system_goes_through_every_step(kind, models, data, identities, tmp_path, capsys):
    path = models(kind)
    artifact = load_artifact(path)
    can = artifact.capabilities
    assert artifact.system.kind == kind
    capsys.readouterr()

    # vemd test with the common options, on the CPU in fp32
    report = tmp_path / "test"
    args = ["test", "--ckpt", str(path), "--precision", "fp32", "--device", "cpu", "--out", str(report)]
    card = path.with_name("MODEL_CARD.md").read_bytes()
    assert main(args) == 0
    assert path.with_name("MODEL_CARD.md").read_bytes() == card  # written only into --out (no --record)
    printed = json.loads(capsys.readouterr().out)
    assert printed["split"] == "test" and Path(printed["report"]) == report
    assert (report / "metrics.json").is_file() and (report / "predictions.csv").is_file()
    metrics = json.loads((report / "metrics.json").read_text())
    assert ("group_size" in metrics) == can.classes  # people are counted wherever classes are scored
    assert (report / "group_size.csv").is_file() == can.classes

    # vemd predict and the Python API give the same group-level result
    clip = audio_media.video(tmp_path, "meeting.mp4", seconds=3.0)  # a video with a sound track
    assert main(["predict", str(clip), "--ckpt", str(path), "--json"]) == 0
    cli = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    api = vemd.load(path).predict(clip).to_dict()
    assert cli.get("label") == api.get("label") and ("label" in cli) == can.classes
    assert ("valence" in cli) == can.valence and ("arousal" in cli) == can.arousal
    assert cli.get("valence") == api.get("valence") and cli.get("arousal") == api.get("arousal")
    assert ("audio" in (api.get("modalities") or ())) == can.audio  # its sound was heard, where it hears

    # vemd serve says what the model gives
    from fastapi.testclient import TestClient

    from vemd.serve.app import create_app

    with TestClient(create_app(path)) as client:
        info = client.get("/v1/model").json()
    assert info["system"] == kind and info["valence"] == can.valence and info["arousal"] == can.arousal
    assert info["audio"] == can.audio and bool(info["class_names"]) == can.classes

    # vemd audit where the system can be audited, else one line saying why
    audit = [
        "audit",
        "--ckpt",
        str(path),
        "--identities",
        str(identities),
        "--no-ceiling",
        "--out",
        str(tmp_path / "audit"),
    ]
    if can.audit is None:
        assert main(audit) == 0
        assert (tmp_path / "audit" / "audit.json").is_file()
    else:
        assert main(audit) != 0
        assert can.audit in _one_line_error(capsys)

    # vemd export where the system can be exported, else one line saying why
    onnx = tmp_path / "model.onnx"
    if can.export is None:
        assert main(["export", "--ckpt", str(path), "--out", str(onnx)]) == 0
        assert onnx.is_file()
    else:
        assert main(["export", "--ckpt", str(path), "--out", str(onnx)]) != 0
        assert can.export in _one_line_error(capsys) and not onnx.exists()
