"""`vemd export`: the ONNX graph gives the model's probabilities for any batch and frame count.

Each tiny model is written as a model file, loaded back as a user would, and exported once for
the module: VE-SD with a valence head and a stage-1 (ViT head) model through the Python API,
VE-MD-SR-PersonQuery through the Python API, VE-MD-SR-Heatmap through the CLI (default output path, ``--opset 18``).
"""

from __future__ import annotations

import contextlib
import io
import json
import sys

import numpy as np
import pytest
import torch
from tests.models.helpers import tiny_model, write_model_file

from vemd.cli import main
from vemd.config import to_dict
from vemd.errors import VemdError
from vemd.inference import export
from vemd.inference.export import export_model
from vemd.models.checkpoint import load_model

onnx = pytest.importorskip("onnx")
onnxruntime = pytest.importorskip("onnxruntime")

MODELS = {  # name: (overrides, stage)
    "ve-sd": (("model.mode=ve-sd", "model.valence_head=true"), "2"),
    "ve-md-sr": (("model.mode=ve-md-sr", "model.decoder=heatmap"), "2"),
    "stage-1": (("model.mode=ve-sd",), "1"),
    "personquery": (("model.mode=ve-md-sr", "model.decoder=personquery"), "2"),
}
# Random weights edited to look trained where it matters: class logits scaled up so that the
# probabilities spread over [0, 1] (near-uniform probabilities would hide a difference, saturated
# ones too); the last heatmap head scaled up, since a random decoder's maps are flat to 3e-4 and
# the SR LayerNorm of a flat map magnifies fp32 rounding some 300 times (to 7e-5 in probabilities);
# the SR gate opened so that the heatmaps reach the classes (it starts closed, at 0).
SHARPEN = {
    "emotion_decoder.head.4.weight": 5.0,
    "encoder.vit_branch.head.weight": 5.0,
    "struct_decoders.body.limbs.heads.1.weight": 1000.0,
}
OPEN = {"emotion_decoder.sr_gate.body": 1.0}


def _model_file(folder, name: str):
    overrides, stage = MODELS[name]
    cfg, model = tiny_model(*overrides)
    state = model.inference_state_dict()
    assert name != "ve-md-sr" or set(SHARPEN) | set(OPEN) <= set(state)  # the tiny recipe's names
    for key, factor in SHARPEN.items():
        if key in state:
            state[key] = state[key] * factor
    state.update({key: torch.tensor(value) for key, value in OPEN.items() if key in state})
    folder.mkdir(parents=True, exist_ok=True)
    write_model_file(folder / "model.pt", to_dict(cfg), state, stage=stage)
    return folder / "model.pt"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """{name: (model file, ONNX file)}, each exported once, and the line the CLI printed."""
    root = tmp_path_factory.mktemp("export")
    files = {}
    for name in ("ve-sd", "stage-1", "personquery"):
        ckpt = _model_file(root / name, name)
        files[name] = (ckpt, export_model(ckpt, root / name / "exported.onnx").path)
    ckpt = _model_file(root / "ve-md-sr", "ve-md-sr")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["export", "--ckpt", str(ckpt), "--format", "onnx", "--opset", "18"]) == 0
    files["ve-md-sr"] = (ckpt, ckpt.parent / "model.onnx")  # the default output
    return files, printed.getvalue()


@pytest.fixture(scope="module")
def files(exported):
    return exported[0]


def _pixels(size: int, batch: int, frames: int, seed: int) -> np.ndarray:
    """RGB uint8 frames as the predictor holds them, as float32 (B, T, 3, S, S): noise around a
    level of each clip's own, so that clips get different probabilities."""
    rng = np.random.default_rng(seed)
    level = rng.integers(0, 256, (batch, 1, 3, 1, 1))
    noise = rng.integers(-40, 41, (batch, frames, 3, size, size))
    return np.clip(level + noise, 0, 255).astype(np.uint8).astype(np.float32)


@pytest.fixture(scope="module")
def sessions(files):
    return {
        name: onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        for name, (_, path) in files.items()
    }


@pytest.fixture(scope="module")
def models(files):
    return {name: load_model(ckpt)[0] for name, (ckpt, _) in files.items()}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("frames", [1, 5, 16])
def test_onnxruntime_gives_the_models_probabilities(sessions, models, name, batch, frames):
    model = models[name]
    pixels = _pixels(model.image_size, batch, frames, seed=frames * 10 + batch)
    with torch.no_grad():
        expected = model.classify(model.preprocess(torch.from_numpy(pixels)))
    got = dict(
        zip([o.name for o in sessions[name].get_outputs()], sessions[name].run(None, {"pixels": pixels}))
    )
    want = expected.probs.float().numpy()
    assert got["probs"].shape == (batch, 3)
    assert np.abs(got["probs"] - want).max() <= 1e-4
    np.testing.assert_allclose(got["probs"].sum(-1), 1.0, atol=1e-5)
    if batch > 1:  # the comparison means something: the clips get different probabilities
        assert np.abs(want - want[0]).max() > 1e-2
    if name == "ve-sd":
        assert got["valence"].shape == (batch,)
        assert np.abs(got["valence"] - expected.valence.numpy()).max() <= 1e-4


@pytest.mark.parametrize("name", list(MODELS))
def test_the_graph_has_one_pixel_input_with_free_batch_and_frames_and_group_outputs_only(files, name):
    proto = onnx.load(str(files[name][1]))
    (pixels,) = proto.graph.input
    dims = pixels.type.tensor_type.shape.dim
    assert pixels.name == "pixels"
    assert pixels.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert [d.dim_param for d in dims[:2]] == ["batch", "frames"]  # symbolic, not frozen at the example's
    assert [d.dim_value for d in dims[2:]] == [3, 64, 64]
    outputs = [o.name for o in proto.graph.output]
    assert outputs == (["probs", "valence"] if name == "ve-sd" else ["probs"])


@pytest.mark.parametrize("name", list(MODELS))
def test_metadata_lets_a_consumer_use_the_file_without_vemd(files, name):
    from vemd import __version__

    proto = onnx.load(str(files[name][1]))
    meta = {entry.key: entry.value for entry in proto.metadata_props}
    assert json.loads(meta["class_names"]) == ["a", "b", "c"]
    assert meta["mode"] == MODELS[name][0][0].split("=")[1]
    assert meta["stage"] == MODELS[name][1]
    assert (meta["image_size"], meta["frames"], meta["vemd_version"]) == ("64", "4", __version__)
    assert meta["input_layout"].startswith("pixels: float32 [batch, frames, 3, 64, 64], RGB in [0, 255]")


def test_a_small_model_is_one_self_contained_file_and_no_temporary_is_left(files):
    for ckpt, path in files.values():
        proto = onnx.load(str(path), load_external_data=False)
        assert not any(onnx.external_data_helper.uses_external_data(t) for t in proto.graph.initializer)
        assert sorted(p.name for p in ckpt.parent.iterdir()) == sorted(["model.pt", path.name])


def test_the_cli_writes_the_opset_asked_for_and_says_what_it_wrote(exported):
    files, printed = exported
    path = files["ve-md-sr"][1]
    assert printed.strip().startswith(f"wrote {path} (onnx opset 18,") and "outputs probs;" in printed
    assert next(e.version for e in onnx.load(str(path)).opset_import if e.domain == "") == 18


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
def test_torchscript_keeps_batch_and_frames_free(files, models, tmp_path):
    ckpt, _ = files["ve-sd"]
    result = export_model(ckpt, tmp_path / "model.ts", format="torchscript")
    extra = {export.METADATA_FILE: ""}
    traced = torch.jit.load(str(result.path), _extra_files=extra)
    assert json.loads(json.loads(extra[export.METADATA_FILE])["class_names"]) == ["a", "b", "c"]
    model = models["ve-sd"]
    for batch, frames in ((1, 1), (3, 16)):
        pixels = torch.from_numpy(_pixels(model.image_size, batch, frames, seed=7))
        probs, valence = traced(pixels)
        with torch.no_grad():
            expected = model.classify(model.preprocess(pixels))
        assert (probs - expected.probs).abs().max() <= 1e-4
        assert (valence - expected.valence).abs().max() <= 1e-4


def test_an_export_that_differs_from_the_model_is_refused_and_not_written(files, tmp_path, monkeypatch):
    monkeypatch.setattr(export, "TOLERANCE", -1.0)  # no export can pass
    ckpt, _ = files["stage-1"]
    with pytest.raises(VemdError) as caught:
        export_model(ckpt, tmp_path / "model.ts", format="torchscript")
    message = str(caught.value)
    assert len(message.splitlines()) == 1 and "differs from the model" in message and "onnx" in message
    assert list(tmp_path.iterdir()) == []


def _cli_error(capsys, *args: str) -> str:
    assert main(["export", *args]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("vemd export: error: "), err
    return err


def test_one_line_errors(files, capsys, tmp_path, monkeypatch):
    ckpt, _ = files["ve-sd"]
    assert "no such model file" in _cli_error(capsys, "--ckpt", str(tmp_path / "missing.pt"))
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    assert "not a readable vemd model" in _cli_error(capsys, "--ckpt", str(tmp_path / "junk.pt"))
    assert "--format tflite: expected one of onnx, torchscript" in _cli_error(
        capsys, "--ckpt", str(ckpt), "--format", "tflite"
    )
    assert "onnx only" in _cli_error(capsys, "--ckpt", str(ckpt), "--format", "torchscript", "--opset", "18")
    assert "model file itself" in _cli_error(capsys, "--ckpt", str(ckpt), "--out", str(ckpt))
    assert "is a folder" in _cli_error(capsys, "--ckpt", str(ckpt), "--out", str(tmp_path))
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # as if the extra were not installed
    assert "pip install vemd[export]" in _cli_error(capsys, "--ckpt", str(ckpt))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.pt"]
