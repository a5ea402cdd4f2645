"""A model trained on the built-in drawn scenes says so wherever it is applied: the model file
records its training data, and ``vemd predict``, the API's result, ``GET /v1/model`` and the page
carry one line ("trained on drawn scenes (SynthGroups), not a model of real people")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.data import bad_media
from tests.models.helpers import tiny_model
from tests.models.helpers import write_model_file as write_old_file

from vemd import model_file as files
from vemd.cli import main
from vemd.config import to_dict
from vemd.model_file import read_model_file, write_model_file

CAVEAT = "trained on drawn scenes (SynthGroups), not a model of real people"


def _write(path: Path, **data) -> Path:
    cfg, model = tiny_model(*(f"data.{k}={v}" for k, v in data.items()))
    return write_model_file(
        path,
        system="ve-md",
        config=to_dict(cfg),
        class_names=["a", "b", "c"],
        state_dict=model.inference_state_dict(),
    )


def _synth_root(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "dataset.json").write_text(json.dumps({"format": "vemd-synthgroups", "version": 1}))
    return folder


@pytest.fixture(scope="module")
def synthetic_model(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("synthetic")
    return _write(folder / "model.pt", name="synth", root=_synth_root(folder / "data"))


def test_the_model_file_records_its_training_data(synthetic_model, tmp_path):
    from vemd.data.loaders.generic import SYNTH_FORMAT

    assert files.SYNTHETIC_CAVEAT == CAVEAT and files._SYNTH_FORMAT == SYNTH_FORMAT
    file = read_model_file(synthetic_model)
    assert file.training_data == {"dataset": "synth", "synthetic": True} and file.caveat == CAVEAT
    own = tmp_path / "own"  # the generic layout holding the user's own media: no dataset.json
    own.mkdir()
    for name, root in (
        ("synth", own),
        ("folder", _synth_root(tmp_path / "drawn")),
        ("dfew", tmp_path / "gone"),
    ):
        record = read_model_file(_write(tmp_path / f"{name}.pt", name=name, root=root)).training_data
        assert record == {"dataset": name, "synthetic": name == "folder"}, (name, record)


def test_a_model_trained_on_composites_of_face_photos_says_so(tmp_path):
    from vemd.data.loaders.generic import COMPOSITES_FORMAT

    assert files._COMPOSITES_FORMAT == COMPOSITES_FORMAT
    root = tmp_path / "composites"
    root.mkdir()
    (root / "dataset.json").write_text(json.dumps({"format": COMPOSITES_FORMAT, "version": 1}))
    file = read_model_file(_write(tmp_path / "model.pt", name="synth", root=root))
    assert file.training_data == {"dataset": "synth", "synthetic": True, "source": "composites"}
    assert file.caveat == files.COMPOSITES_CAVEAT != CAVEAT


def test_a_file_written_without_the_record_has_it_inferred_from_its_config(tmp_path):
    for name, synthetic in (("synth", True), ("vgaf", False)):
        cfg, model = tiny_model(f"data.name={name}")
        path = tmp_path / f"{name}.pt"
        write_old_file(path, to_dict(cfg), model.inference_state_dict())  # format 1: no record
        file = read_model_file(path)
        assert file.training_data == {"dataset": name, "synthetic": synthetic}
        assert file.caveat == (CAVEAT if synthetic else None)


def test_predict_says_it_once_on_stderr_and_the_api_result_carries_it(synthetic_model, tmp_path, capsys):
    from vemd.inference.predictor import PUBLIC_KEYS, GroupEmotionPredictor

    images = [bad_media.good_png(tmp_path, "a.png"), bad_media.good_jpeg(tmp_path, "b.jpg")]
    assert main(["predict", *map(str, images), "--ckpt", str(synthetic_model), "--json"]) == 0
    assert capsys.readouterr().err.strip().splitlines() == [f"vemd predict: note: {CAVEAT}"]
    predictor = GroupEmotionPredictor(synthetic_model)
    result = predictor.predict(images[0])
    assert predictor.caveat == result.caveat == CAVEAT
    assert set(result.to_dict()) == PUBLIC_KEYS  # a fact about the model, not part of the input's result


def test_a_model_of_other_data_says_nothing(model_file, tmp_path, capsys):
    from vemd.inference.predictor import GroupEmotionPredictor

    image = bad_media.good_png(tmp_path)
    assert main(["predict", str(image), "--ckpt", str(model_file)]) == 0
    assert capsys.readouterr().err == ""
    assert GroupEmotionPredictor(model_file).predict(image).caveat is None


def test_the_service_and_its_page_show_it(synthetic_model, model_file):
    pytest.importorskip("fastapi", reason="fastapi is not installed (extra 'serve')")
    from fastapi.testclient import TestClient

    from vemd.serve.app import STATIC, create_app

    with TestClient(create_app(synthetic_model)) as client:
        assert client.get("/v1/model").json()["caveat"] == CAVEAT
    with TestClient(create_app(model_file)) as client:
        assert client.get("/v1/model").json()["caveat"] is None
    page, script = (STATIC / "index.html").read_text(), (STATIC / "app.js").read_text()
    assert 'id="caveat"' in page and "info.caveat" in script  # one visible line, filled from /v1/model
