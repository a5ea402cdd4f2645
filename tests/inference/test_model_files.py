"""Model files that vemd cannot use are refused at load with one line naming the file."""

from __future__ import annotations

import os
import pickle

import pytest
import torch
from tests.faults.cases import payload
from tests.models.helpers import tiny_config, tiny_model, write_model_file

from vemd.cli import main
from vemd.config import to_dict
from vemd.models.checkpoint import CheckpointError, load_model


def _payload(model_file) -> dict:
    return torch.load(model_file, weights_only=True)


def _refused(path, *words: str) -> str:
    with pytest.raises(CheckpointError) as caught:
        load_model(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and len(message.splitlines()) == 1, message
    for word in words:
        assert word in message, message
    return message


@pytest.mark.parametrize("names", [["a", "b"], ["a", "b", "c", "d"]])
def test_a_class_list_other_than_the_output_size_is_refused(model_file, tmp_path, names):
    data = _payload(model_file)
    data["class_names"] = names  # the head still has 3 outputs, model.num_classes says 3
    torch.save(data, tmp_path / "model.pt")
    _refused(tmp_path / "model.pt", f"{len(names)} class names", "num_classes=3")


def test_num_classes_in_the_config_must_fit_the_weights(tmp_path):
    cfg, model = tiny_model("model.num_classes=4")
    config = to_dict(tiny_config())  # says 3 classes, as the class list; the weights have 4
    write_model_file(tmp_path / "model.pt", config, model.inference_state_dict())
    message = _refused(tmp_path / "model.pt", "(4,", "(3,", "in the file", "in the model")
    key = message.split(": ")[2].split(" has shape")[0]
    assert key in model.inference_state_dict()  # the first mismatching key, by name


@pytest.mark.parametrize(
    "edit",
    [
        lambda c: c["model"].update(no_such_key=1),
        lambda c: c["model"].update(latent_dim=-4),
        lambda c: c["model"].update(mode="nonsense"),
        lambda c: c.update(model="not a mapping"),
        lambda c: c["train"].update(lr="fast"),
    ],
    ids=["unknown-key", "negative-size", "unknown-mode", "not-a-mapping", "bad-type"],
)
def test_a_bad_config_inside_a_model_file_names_the_file(model_file, tmp_path, edit):
    data = _payload(model_file)
    edit(data["config"])
    torch.save(data, tmp_path / "model.pt")
    _refused(tmp_path / "model.pt", "bad config in model file")


def _damaged(kind: str, model_file, path, marker):
    good = model_file.read_bytes()
    if kind == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif kind == "zero-byte":
        path.write_bytes(b"")
    elif kind == "random-bytes":
        path.write_bytes(os.urandom(4096))
    elif kind == "pickled-payload":
        with path.open("wb") as handle:
            pickle.dump({"format": "vemd-model", "config": payload(marker)}, handle)
    elif kind == "torch-payload":
        torch.save({**_payload(model_file), "extra": payload(marker)}, path)
    elif kind == "no-state-dict":
        torch.save({k: v for k, v in _payload(model_file).items() if k != "state_dict"}, path)
    elif kind == "names-not-a-list":
        torch.save({**_payload(model_file), "class_names": "abc"}, path)
    elif kind == "a-list":
        torch.save([1, 2, 3], path)


DAMAGED = [
    "truncated",
    "zero-byte",
    "random-bytes",
    "pickled-payload",
    "torch-payload",
    "no-state-dict",
    "names-not-a-list",
    "a-list",
]


@pytest.mark.parametrize("kind", DAMAGED)
def test_a_damaged_model_file_is_one_line_and_runs_nothing(model_file, tmp_path, kind, capsys):
    path, marker = tmp_path / "model.pt", tmp_path / "marker"
    _damaged(kind, model_file, path, marker)
    _refused(path)
    image = tmp_path / "x.png"
    image.write_bytes(b"")  # never read: the model is refused first
    assert main(["predict", str(image), "--ckpt", str(path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"vemd predict: error: {path}: ")
    assert not marker.exists()  # the payload never ran


def test_a_folder_or_a_missing_file_as_ckpt_is_one_line(tmp_path, capsys):
    from tests.data.bad_media import good_png

    with pytest.raises(CheckpointError, match="is a folder"):
        load_model(tmp_path)
    image = good_png(tmp_path / "media")
    for command in (["test"], ["predict", str(image)]):
        for ckpt, words in ((tmp_path, "is a folder"), (tmp_path / "gone.pt", "no such model file")):
            assert main([*command, "--ckpt", str(ckpt)]) == 1
            err = capsys.readouterr().err.strip().splitlines()
            assert len(err) == 1 and str(ckpt) in err[0] and words in err[0], err
