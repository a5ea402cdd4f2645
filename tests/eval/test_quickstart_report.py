"""The quickstart's report text and its demo timeline, without running the quickstart."""

from __future__ import annotations

import json
import re

import pytest

import vemd.eval.plots
from vemd.config import load_config
from vemd.inference.report import write_prediction_report
from vemd.quickstart import _report

CLASSES = ["Negative", "Neutral", "Positive"]


def _window(i: int, label: str) -> dict:
    probs = {c: 0.8 if c == label else 0.1 for c in CLASSES}
    return {"start": 5.0 * i, "end": 5.0 * i + 5, "label": label, "probs": probs}


def _prediction(path: str) -> dict:
    windows = [_window(i, label) for i, label in enumerate(["Negative", "Negative", "Positive"])]
    return {"input": path, "label": "Negative", "probs": windows[0]["probs"], "windows": windows}


@pytest.mark.parametrize(("modalities", "shown"), [("[body]", "body"), ("[body,face]", "body, face")])
def test_report_lists_are_text_not_python(modalities, shown):
    cfg = load_config("quickstart", [f"model.sr.modalities={modalities}"])
    metrics = {
        "accuracy": 0.5,
        "accuracy_ci95": [0.3, 0.7],
        "uar": 0.5,
        "f1_weighted": 0.5,
        "per_class": {c: {"recall": 0.5} for c in CLASSES},
    }
    summary = {
        "num_val_items": 9,
        "num_test_items": 9,
        "test_accuracy": 0.4,
        "test_accuracy_ci95": [0.2, 0.6],
        "demo_video": {"truth": ["Negative", "Neutral", "Positive"]},
        "timings_s": {"synth_s": 1, "fit_s": 2, "audit_s": 0, "total_s": 3},
        "model": "run/model.pt",
        "privacy": None,
    }
    report = _report(cfg, summary, metrics, _prediction("demo_video.mp4"), has_sr_figure=False)
    assert f"SR fed to the emotion decoder: {shown}," in report
    assert not re.search(r"\[['\"]|\{['\"]", report)  # no list or dict repr anywhere


@pytest.fixture
def figures(monkeypatch) -> list:
    """The figures the plots module saves from now on."""
    saved, save = [], vemd.eval.plots._save
    monkeypatch.setattr(
        vemd.eval.plots, "_save", lambda figure, path: saved.append(figure) or save(figure, path)
    )
    return saved


def test_demo_timeline_has_a_truth_band(tmp_path, figures):
    video = str(tmp_path / "demo_video.mp4")
    scenes = [{"start": 5 * i, "end": 5 * i + 5, "label": c} for i, c in enumerate(CLASSES)]
    write_prediction_report([_prediction(video)], CLASSES, tmp_path / "predict", truth={video: scenes})
    (figure,) = figures
    assert [ax.get_ylabel() for ax in figure.axes] == ["truth", "probability", "pred"]
    (entry,) = json.loads((tmp_path / "predict" / "predictions.json").read_text())
    assert set(entry) == set(_prediction(video))  # the truth is drawn, written nowhere

    # vemd predict: no truth, no band
    write_prediction_report([_prediction(video)], CLASSES, tmp_path / "other")
    assert [ax.get_ylabel() for ax in figures[-1].axes] == ["probability", "pred"]
