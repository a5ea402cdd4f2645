"""Model files that torch reads without a word but that must not give an answer: bytes changed
after writing (the zip's CRC-32s), NaN or infinite weights, a class named twice; outputs that are
not finite; windows and batches larger than memory."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from tests.data import bad_media
from tests.faults.cases import flip_bytes, rewrite_model
from tests.models.helpers import tiny_model, write_model_file

from vemd.cli import main
from vemd.config import to_dict
from vemd.errors import VemdError
from vemd.model_file import CheckpointError, read_model_file
from vemd.models.checkpoint import load_model


@pytest.fixture()
def model_copy(model_file, tmp_path):
    copy = tmp_path / "model.pt"
    copy.write_bytes(model_file.read_bytes())
    return copy


def test_bytes_changed_inside_a_tensor_are_one_line_naming_the_file(model_copy):
    before = {k: v.clone() for k, v in torch.load(model_copy, weights_only=True)["state_dict"].items()}
    flip_bytes(model_copy)
    after = torch.load(model_copy, weights_only=True)["state_dict"]  # torch itself reads it silently
    assert any(not torch.equal(before[k], after[k]) for k in before)
    with pytest.raises(
        CheckpointError, match=f"^{model_copy}: damaged file: the bytes of its member .* CRC-32"
    ):
        read_model_file(model_copy)


def test_a_file_that_is_not_a_zip_is_left_to_torch(tmp_path):
    from vemd.io import verify_zip

    plain = tmp_path / "plain.bin"
    plain.write_bytes(b"not a zip at all")
    verify_zip(plain)  # nothing to check: torch.load says what it makes of it


@pytest.mark.parametrize("fill", [math.nan, math.inf, -math.inf])
def test_non_finite_weights_are_refused_where_a_model_is_loaded(model_copy, fill, capsys):
    rewrite_model(model_copy, fill=fill)
    with pytest.raises(CheckpointError, match=f"^{model_copy}: unusable: 1 of its .* NaN or infinite"):
        load_model(model_copy)
    image = bad_media.good_png(model_copy.parent / "in")
    assert main(["predict", str(image), "--ckpt", str(model_copy), "--json"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""  # no label with NaN probabilities, no bare NaN
    [line] = captured.err.strip().splitlines()
    assert line.startswith(f"vemd predict: error: {model_copy}: unusable")


def test_a_model_with_non_finite_weights_is_never_written(tmp_path):
    from vemd.model_file import write_model_file as write

    cfg, model = tiny_model()
    state = model.inference_state_dict()
    name = next(iter(state))
    state[name] = torch.full_like(state[name], math.nan)
    out = tmp_path / "model.pt"
    with pytest.raises(CheckpointError, match=f"^{out}: not written: 1 of its .* weight tensors hold NaN"):
        write(out, system="ve-md", config=to_dict(cfg), class_names=["a", "b", "c"], state_dict=state)
    assert list(tmp_path.iterdir()) == []  # no file, no temporary file


def test_a_buffer_left_out_of_the_weights_may_hold_a_nan_sentinel(tmp_path):
    """A fitted part's not-fitted marker (the ABAW 2024 KELM's gamma of a linear kernel) is NaN by design."""
    from vemd.model_file import write_model_file as write

    cfg, _ = tiny_model()
    state = {"w": torch.ones(2, 2), "gamma": torch.tensor(math.nan)}
    out = write(
        tmp_path / "m.pt",
        system="x",
        config=to_dict(cfg),
        class_names=["a", "b"],
        state_dict=state,
        weights=["w"],
    )
    assert math.isnan(read_model_file(out).state_dict["gamma"])


def test_a_class_named_twice_is_a_damaged_file(model_copy):
    rewrite_model(model_copy, classes=["a", "a", "c"])
    with pytest.raises(CheckpointError, match=f"^{model_copy}: damaged vemd model file .*class named twice"):
        read_model_file(model_copy)


def test_non_finite_outputs_give_no_label_and_no_bare_nan(model_file, tmp_path, monkeypatch, capsys):
    """Finite weights can still overflow (fp16 autocast on a GPU): no confident label, valid JSON."""
    from vemd.systems.base import Artifact, Clips

    monkeypatch.setattr(
        Artifact, "predict_clips", lambda self, frames, *a: Clips(probs=np.full((len(frames), 3), np.nan))
    )
    image = bad_media.good_png(tmp_path)
    assert main(["predict", str(image), "--ckpt", str(model_file), "--json"]) == 1
    captured = capsys.readouterr()
    assert "NaN" not in captured.out and captured.out == ""
    [line] = captured.err.strip().splitlines()
    assert "NaN or infinite outputs" in line and line.startswith("vemd predict: error:")


def test_a_window_or_batch_larger_than_the_limit_is_one_line(model_file, tmp_path):
    from vemd.inference.predictor import GroupEmotionPredictor, check_window

    with pytest.raises(VemdError, match="^batch size 100000: .* over the limit of .*; give at most"):
        GroupEmotionPredictor(model_file, batch_size=100_000)
    with pytest.raises(
        ValueError, match="^window 1e\\+308: expected a number of seconds > 0 and at most 86400"
    ):
        check_window(1e308)
    assert check_window(86400) == 86400
    cfg, model = tiny_model()
    big = to_dict(cfg)
    big["data"]["frames"] = 100_000  # a file written before the limit: refused when read
    path = tmp_path / "big.pt"
    write_model_file(path, big, model.inference_state_dict())
    with pytest.raises(CheckpointError, match=f"^{path}: bad config in model file: data.frames=100000"):
        GroupEmotionPredictor(path)
