"""Every public output of vemd is group level: the Python API's result, ``vemd predict --json``
lines and its ``--out`` files, and ``vemd serve``'s ``/v1/predict`` and ``/v1/model``.

Each output's key paths (:func:`tests.privacy.helpers.key_paths`) must be within an allow-list
written out here, not imported from vemd: a new key fails these tests until someone decides it
is group level and adds it. No key may name a person-level quantity either (a box, a face, a
track, an embedding, a latent, an SR, a heatmap, ...), whatever the allow-lists say.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math

import numpy as np
import pytest
from tests.data import bad_media
from tests.inference.helpers import printed
from tests.privacy.helpers import CLASS, class_keys, key_paths, per_person_keys

from vemd.cli import main
from vemd.inference.predictor import GroupEmotionPredictor
from vemd.inference.report import RESULTS, TIMELINE
from vemd.inference.results import GroupEmotion, WindowPrediction

CLASSES = ["a", "b", "c"]
FPS = 10

# A span's group emotion: its time span, the label and class probabilities of a classifier,
# the valence of a valence head, valence and arousal of a regression system, and whether the
# window's audio reached a multimodal fusion.
WINDOW = {"start", "end", "label", "probs", f"probs.{CLASS}", "valence", "arousal", "audio_present"}
# A whole input's: its name, seconds read, the mean over its windows, the modalities a
# multimodal model used, and the windows.
RESULT = {"input", "duration", "label", "probs", f"probs.{CLASS}", "valence", "arousal"}
RESULT |= {"modalities", "modalities[]", "windows", "windows[]"} | {f"windows[].{k}" for k in WINDOW}
# vemd predict --json: each line says whether it is a window or an input's result
WINDOW_LINE = {"type", "input", "window"} | {f"window.{k}" for k in WINDOW}
RESULT_LINE = {"type"} | RESULT
PREDICTIONS_FILE = {"[]"} | {f"[].{k}" for k in RESULT}  # --out predictions.json
TIMELINE_COLUMNS = {"input", "start", "end", "label", "valence", "arousal"} | {f"prob_{c}" for c in CLASSES}
# /v1/model: what the model predicts and how it reads its input, the server's limits, the card
MODEL_INFO = {"class_names", "class_names[]", "system", "mode", "image_size", "frames", "sampling"}
MODEL_INFO |= {
    "window",
    "stride",
    "valence",
    "arousal",
    "audio",
    "vemd_version",
    "max_upload_mb",
    "max_duration_s",
}
MODEL_INFO |= {"model_card", "model_card_html"}  # the same card, as Markdown and as HTML
# where and how it computes (the device, the precision chosen and why) and what its training
# data was ("trained on drawn scenes"): facts of the model and the server, none of a person
MODEL_INFO |= {"device", "precision", "precision_reason", "caveat"}
# ``caveat``: one line about the model's training data, the same for every result it gives
GROUP_EMOTION_FIELDS = {"input", "label", "probs", "duration", "windows", "valence", "modalities", "arousal"}
GROUP_EMOTION_FIELDS |= {"caveat"}
WINDOW_FIELDS = {"start", "end", "label", "probs", "valence", "audio_present", "arousal"}


def check_group_level(value, allowed: set[str]) -> set[str]:
    """``value``'s key paths: within ``allowed``, none person level, leaves scalars, every class-keyed
    mapping over the model's classes."""
    paths = key_paths(value)
    assert paths <= allowed, f"not in the group-level allow-list: {sorted(paths - allowed)}"
    assert per_person_keys(paths) == []
    assert all(keys == CLASSES for keys in class_keys(value))
    _check_leaves(value)
    return paths


def _check_leaves(value) -> None:
    """Scalars only, and numbers finite: no array, no tensor, no bytes."""
    if isinstance(value, dict):
        for item in value.values():
            _check_leaves(item)
    elif isinstance(value, list):
        for item in value:
            _check_leaves(item)
    else:
        assert value is None or isinstance(value, str | bool | int | float), type(value)
        assert not isinstance(value, float) or math.isfinite(value)


def _check_result(result: dict, *, valence: bool, allowed: set[str] = RESULT) -> None:
    paths = check_group_level(result, allowed)
    core = {"input", "duration", "label", "probs", "windows", "windows[].start", "windows[].probs"}
    assert core | ({"valence", "windows[].valence"} if valence else set()) <= paths


@pytest.fixture()
def inputs(tmp_path):
    """An image and a 2-s video."""
    return [bad_media.good_jpeg(tmp_path), bad_media.video(tmp_path, 2 * FPS, fps=FPS)]


def test_the_result_types_have_group_level_fields_only():
    assert {f.name for f in dataclasses.fields(GroupEmotion)} == GROUP_EMOTION_FIELDS
    assert {f.name for f in dataclasses.fields(WindowPrediction)} == WINDOW_FIELDS
    assert per_person_keys(GROUP_EMOTION_FIELDS | WINDOW_FIELDS) == []


def test_the_python_api_result_is_group_level(ve_md_sr, inputs):
    """A VE-MD-SR model: its structural maps feed the classifier and stay inside."""
    predictor = GroupEmotionPredictor(ve_md_sr.model, window=1)
    frames = np.random.default_rng(0).integers(0, 256, (6, 48, 64, 3), np.uint8)
    results = [predictor.predict(path) for path in inputs] + [predictor.predict(frames, fps=FPS)]
    results.append(GroupEmotionPredictor(ve_md_sr.model, window=1, smoothing=0.5).predict(inputs[1]))
    for result in results:
        _check_result(result.to_dict(), valence=True)
    assert len(results[1].windows) == 2


def test_vemd_predict_json_lines_and_out_files_are_group_level(ve_md, inputs, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["predict", *map(str, inputs), "--ckpt", str(ve_md.model), "--window", "1", "--json"]
    assert main([*args, "--out", str(out)]) == 0
    windows, results = printed(capsys.readouterr().out)
    assert len(windows) == 3 and len(results) == 2
    for line in windows:
        assert {"window.start", "window.probs"} <= check_group_level(line, WINDOW_LINE)
    for result in results:
        _check_result(result, valence=True, allowed=RESULT_LINE)

    entries = json.loads((out / RESULTS).read_text())
    assert len(entries) == 2 and check_group_level(entries, PREDICTIONS_FILE)
    rows = list(csv.reader(io.StringIO((out / TIMELINE).read_text())))
    header = rows[0]
    assert set(header) <= TIMELINE_COLUMNS and per_person_keys(header) == []
    assert {"input", "start", "end", "label", "valence"} <= set(header) and len(rows) == 1 + 3
    assert sorted(p.suffix for p in out.iterdir()) == [".csv", ".json", ".png"]  # no lock file left


def test_vemd_serve_answers_are_group_level(ve_md_sr, inputs):
    pytest.importorskip("fastapi", reason="fastapi is not installed (extra 'serve')")
    from fastapi.testclient import TestClient

    from vemd.serve.app import create_app

    app = create_app(ve_md_sr.model, max_concurrent=1, window=1)
    with TestClient(app) as client:
        for path in inputs:
            response = client.post("/v1/predict", files={"file": (path.name, path.read_bytes())})
            assert response.status_code == 200, response.text
            _check_result(response.json(), valence=True, allowed=RESULT_LINE)  # the result line
        info = client.get("/v1/model").json()
    paths = check_group_level(info, MODEL_INFO)
    assert {"class_names", "mode", "window"} <= paths and info["class_names"] == CLASSES


BAD_KEYS = [
    "boxes",
    "windows[].bbox",
    "faces[]",
    "num_faces",
    "person_count",
    "people",
    "track_id",
    "identity",
    "clip_embedding",
    "latent",
    "sr_body",
    "pred_heatmaps",
    "crops",
    "keypoints",
    "windows[].landmarks",
    "persons[].probs",
    "faceBoxes",
    "frame_tokens",
]


def test_the_checks_refuse_a_person_level_or_unlisted_key():
    assert per_person_keys(BAD_KEYS) == sorted(BAD_KEYS)
    assert per_person_keys(RESULT | WINDOW_LINE | PREDICTIONS_FILE | TIMELINE_COLUMNS | MODEL_INFO) == []
    result = {"input": "x.jpg", "duration": 0.0, "label": "a", "probs": dict.fromkeys(CLASSES, 1 / 3)}
    check_group_level({**result, "windows": []}, RESULT)
    for extra in ({"faces": 2}, {"windows": [{"start": 0, "bbox": [0, 0, 1, 1]}]}, {"timing": 0.1}):
        with pytest.raises(AssertionError):
            check_group_level({**result, **extra}, RESULT)
    with pytest.raises(AssertionError):  # an array where a scalar belongs
        check_group_level({**result, "valence": [0.1, 0.2]}, RESULT)
    with pytest.raises(AssertionError):  # probabilities over something else than the classes
        check_group_level({**result, "probs": {"person 1": 1.0}}, RESULT)
