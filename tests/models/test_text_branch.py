"""The text branch (paper §7.2): per-clip embeddings from user files, and their projection to 1024."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file
from tests.faults.cases import payload

from vemd.config import load_config
from vemd.errors import DataError, VemdError
from vemd.models.text import (
    TextBranch,
    TextEmbeddings,
    TranscriptEncoder,
    encode_transcripts,
    text_source,
    write_text_embeddings,
)

IDS = ["clip_a", "clip_b", "clip_c"]


@pytest.fixture
def rows():
    return np.random.default_rng(0).normal(size=(3, 8)).astype(np.float32)


def one_line_error(cls, fn, *args, **kwargs) -> str:
    with pytest.raises(cls) as err:
        fn(*args, **kwargs)
    assert "\n" not in str(err.value)
    return str(err.value)


@pytest.mark.parametrize("index", ["txt", "json", "explicit"])
def test_npy_with_an_index(tmp_path, rows, index):
    np.save(tmp_path / "text.npy", rows)
    if index == "txt":
        (tmp_path / "text.txt").write_text("\n".join(IDS) + "\n\n")
    elif index == "json":
        (tmp_path / "text.json").write_text(json.dumps(IDS))
    else:
        (tmp_path / "ids.list").write_text("\n".join(IDS))
    table = TextEmbeddings.load(tmp_path / "text.npy", tmp_path / "ids.list" if index == "explicit" else None)
    embeddings, mask = table.get(["clip_c", "clip_a"])
    assert table.dim == 8 and len(table) == 3 and mask.all()
    assert torch.equal(embeddings, torch.from_numpy(rows[[2, 0]]))


def test_safetensors_round_trip(tmp_path, rows):
    write_text_embeddings(tmp_path / "text.safetensors", IDS, rows)
    embeddings, _ = TextEmbeddings.load(tmp_path / "text.safetensors").get(["clip_b"])
    assert torch.equal(embeddings[0], torch.from_numpy(rows[1]))


def test_missing_clip_is_one_line_unless_allowed(tmp_path, rows):
    write_text_embeddings(tmp_path / "text.safetensors", IDS, rows)
    table = TextEmbeddings.load(tmp_path / "text.safetensors")
    message = one_line_error(DataError, table.get, ["clip_a", "nope", "nada"])
    assert message == f"{tmp_path / 'text.safetensors'}: no text embedding for clip 'nope' (and 1 more)"
    embeddings, mask = table.get(["clip_a", "nope"], allow_missing=True)
    assert mask.tolist() == [True, False] and not embeddings[1].any()


def test_bad_files_are_one_line(tmp_path, rows):
    np.save(tmp_path / "short.npy", rows)
    (tmp_path / "short.txt").write_text("clip_a\nclip_b\n")
    assert "2 clip ids for 3 embeddings" in one_line_error(
        DataError, TextEmbeddings.load, tmp_path / "short.npy"
    )
    np.save(tmp_path / "flat.npy", rows[0])
    (tmp_path / "flat.txt").write_text("clip_a\n")
    assert "(N, D) array" in one_line_error(DataError, TextEmbeddings.load, tmp_path / "flat.npy")
    np.save(tmp_path / "lone.npy", rows)
    assert "no index of clip ids" in one_line_error(DataError, TextEmbeddings.load, tmp_path / "lone.npy")
    (tmp_path / "twice.npy").write_bytes((tmp_path / "lone.npy").read_bytes())
    (tmp_path / "twice.json").write_text(json.dumps(["clip_a", "clip_b", "clip_a"]))
    assert "'clip_a' is repeated" in one_line_error(DataError, TextEmbeddings.load, tmp_path / "twice.npy")
    (tmp_path / "noise.npy").write_bytes(b"\x93NUMPY garbage")
    assert "not a readable .npy" in one_line_error(DataError, TextEmbeddings.load, tmp_path / "noise.npy")
    save_file({"embeddings": rows}, tmp_path / "bare.safetensors")
    assert "'clip_ids'" in one_line_error(DataError, TextEmbeddings.load, tmp_path / "bare.safetensors")
    (tmp_path / "noise.safetensors").write_bytes(b"\x00" * 16)
    assert "not a readable" in one_line_error(DataError, TextEmbeddings.load, tmp_path / "noise.safetensors")
    assert "no such" in one_line_error(DataError, TextEmbeddings.load, tmp_path / "absent.npy")


def test_a_pickled_npy_never_runs(tmp_path):
    marker = tmp_path / "PAYLOAD-RAN"
    np.save(tmp_path / "evil.npy", np.array([payload(marker)], dtype=object), allow_pickle=True)
    (tmp_path / "evil.txt").write_text("clip_a\n")
    one_line_error(DataError, TextEmbeddings.load, tmp_path / "evil.npy")
    assert not marker.exists()


def test_encode_transcripts_without_sentence_transformers(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # import fails as if not installed
    message = one_line_error(VemdError, encode_transcripts, ["hello"], tmp_path)
    assert "pip install sentence-transformers" in message


def test_the_text_source_is_the_embeddings_file_else_the_transcripts_model(tmp_path, rows, monkeypatch):
    write_text_embeddings(tmp_path / "text.safetensors", IDS, rows)
    on = ["multimodal.text.enabled=true"]
    from_file = text_source(
        load_config("tiny", [*on, f"multimodal.text.embeddings={tmp_path}/text.safetensors"])
    )
    assert isinstance(from_file, TextEmbeddings) and from_file.dim == 8
    embeddings, present = from_file.embed(["clip_b", "other"], ["ignored", "ignored"])
    assert present.tolist() == [True, False] and torch.equal(embeddings[0], torch.from_numpy(rows[1]))

    calls = []

    def encode(texts, model_path):
        calls.append((list(texts), model_path))
        return np.ones((len(texts), 5), np.float32)

    monkeypatch.setattr("vemd.models.text.encode_transcripts", encode)
    encoder = text_source(load_config("tiny", [*on, f"multimodal.text.model={tmp_path}"]))
    assert isinstance(encoder, TranscriptEncoder) and encoder.dim == 5 and encoder.dim == 5  # probed once
    embeddings, present = encoder.embed(["a", "b"], ["hello", "  "])
    assert (
        embeddings.shape == (2, 5) and embeddings.dtype == torch.float32 and present.tolist() == [True, False]
    )
    assert calls == [(["dimension probe"], str(tmp_path)), (["hello", "  "], str(tmp_path))]


@pytest.mark.parametrize("num_classes", [None, 4])
def test_branch_shapes_mask_and_gradients(num_classes):
    torch.manual_seed(0)
    branch = TextBranch(text_dim=8, num_classes=num_classes, mlp_hidden=16)
    with torch.no_grad():
        branch.missing.normal_()
    text = torch.randn(3, 8)
    text[2] = float("nan")  # a placeholder row: the clip has no text
    logits, embedding = branch(text, torch.tensor([True, True, False]))
    assert embedding.shape == (3, 1024) and torch.isfinite(embedding).all()
    assert torch.equal(embedding[2], branch.missing) and not torch.equal(embedding[0], branch.missing)
    if num_classes is None:
        assert logits is None
        loss = embedding.sum()
    else:
        assert logits.shape == (3, num_classes) and torch.isfinite(logits).all()
        loss = torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2]))
    loss.backward()
    for name, p in branch.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
