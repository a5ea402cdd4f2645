"""What a ``ve-md`` model gives away when exported holds no structural decoder (paper §3.3:
auxiliary tasks of training only): ``model.pt`` has none of their weights, and its ONNX graph
none of their weights, operators or names; the graph's outputs are group level only.

Each absence is checked beside a presence that shows the check can see: the training file
holds the decoders, the graph keeps the names and the values of the weights it does hold.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from tests.privacy.helpers import model_files

from vemd.inference.export import export_model
from vemd.io import load_weights_only

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import numpy_helper  # noqa: E402

TRAINING_ONLY = ("struct_decoders.", "recon_decoder.")
# Names in a graph that would betray a structural or reconstruction decoder: module paths of the
# model, and the modules their classes live in (node metadata records both).
DECODER_NAMES = (
    "struct_decoders",
    "recon_decoder",
    "heatmap_decoder",
    "personquery",
    "stgcn",
    "vae_decoder",
    "HeatmapDecoder",
    "LimbsDecoder",
    "UNetResUpsample",
    "PersonQuery",
    "VAEDecoder",
)
GROUP_OUTPUTS = ["probs", "valence"]  # export.py: probs (batch, classes), valence (batch,)
METADATA_KEYS = {
    "class_names",
    "mode",
    "stage",
    "image_size",
    "frames",
    "sampling",
    "frame_interval",
    "vemd_version",
    "input_layout",
    "outputs",
}


def _state(path) -> dict:
    return load_weights_only(path)["state_dict"]


def test_model_pt_of_ve_md_has_no_training_only_weight(ve_md, tmp_path):
    vae = model_files(tmp_path / "vae", "model.mode=ve-md", "model.variational=vae")
    for files in (ve_md, vae):
        training = _state(files.training)
        assert any(k.startswith("struct_decoders.") for k in training)  # fit's file holds them
        exported = _state(files.model)
        assert not [k for k in exported if k.startswith(TRAINING_ONLY)]
        assert set(exported) == {k for k in training if not k.startswith(TRAINING_ONLY)}
    assert any(k.startswith("recon_decoder.") for k in _state(vae.training))


def test_model_pt_of_ve_md_sr_keeps_its_decoders_inside(ve_md_sr):
    """The SR decoders are part of the classifier: they stay in the file, which outputs no map."""
    assert any(k.startswith("struct_decoders.") for k in _state(ve_md_sr.model))


@pytest.fixture(scope="module")
def graph(ve_md, tmp_path_factory):
    """The ONNX export of the ve-md model, and the outputs :func:`export_model` reports."""
    out = tmp_path_factory.mktemp("onnx") / "model.onnx"
    result = export_model(ve_md.model, out)
    return onnx.load(str(out)), result.outputs


def _texts(proto) -> list[str]:
    """Every name and text a graph holds: tensors, values, nodes and their metadata, functions."""
    g = proto.graph
    texts = [t.name for t in g.initializer] + [v.name for v in [*g.input, *g.output, *g.value_info]]
    for node in g.node:
        texts += [node.name, node.op_type, node.domain, *node.input, *node.output]
        texts += [p.value for p in node.metadata_props]
    texts += [f"{f.domain}.{f.name}" for f in proto.functions]
    return texts


def test_the_onnx_graph_of_ve_md_names_no_decoder(graph):
    texts = _texts(graph[0])
    assert [t for t in texts if any(name in t for name in DECODER_NAMES)] == []
    # the exporter keeps module names, so their absence means something
    assert any("emotion_decoder" in t for t in texts) and any("vit_branch" in t for t in texts)


def _digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array, dtype=np.float32).tobytes()).hexdigest()


def test_the_onnx_graph_of_ve_md_holds_no_decoder_weight(graph, ve_md):
    """No initializer or constant has the values of a decoder weight (as is or transposed), under
    whatever name; the values of the weights it does hold are found the same way."""
    proto = graph[0]
    held = {_digest(numpy_helper.to_array(t)) for t in proto.graph.initializer}
    for node in proto.graph.node:
        held |= {_digest(numpy_helper.to_array(a.t)) for a in node.attribute if a.HasField("t")}

    def found(tensor) -> bool:
        array = tensor.float().numpy()
        return _digest(array) in held or (array.ndim == 2 and _digest(array.T) in held)

    weights = {k: v for k, v in _state(ve_md.training).items() if v.is_floating_point() and v.numel() >= 64}
    decoders = [k for k in weights if k.startswith(TRAINING_ONLY)]
    assert decoders and [k for k in decoders if found(weights[k])] == []
    kept = [k for k in weights if not k.startswith(TRAINING_ONLY) and found(weights[k])]
    assert any(k.startswith("emotion_decoder.") for k in kept)


def test_the_onnx_graph_takes_pixels_and_gives_group_outputs_only(graph):
    proto, reported = graph
    assert [i.name for i in proto.graph.input] == ["pixels"]
    outputs = {o.name: o.type.tensor_type.shape.dim for o in proto.graph.output}
    assert list(outputs) == list(reported) == GROUP_OUTPUTS
    assert [d.dim_param or d.dim_value for d in outputs["probs"]] == ["batch", 3]
    assert [d.dim_param or d.dim_value for d in outputs["valence"]] == ["batch"]
    meta = {p.key: p.value for p in proto.metadata_props}
    assert set(meta) == METADATA_KEYS and meta["mode"] == "ve-md"


def test_the_onnx_graph_names_no_file_of_the_exporting_machine(graph):
    """The exporter's per-node source traces name the exporting machine's folders (and so its
    user); a model file to share keeps none of them."""
    from pathlib import Path

    import vemd

    package = str(Path(vemd.__file__).resolve().parent)
    keys = {p.key for node in graph[0].graph.node for p in node.metadata_props}
    assert not [k for k in keys if "stack_trace" in k]
    assert [t for t in _texts(graph[0]) if package in t or "site-packages" in t] == []
