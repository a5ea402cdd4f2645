"""The ABAW 2024 system (system.kind: abaw24) through vemd fit / test / predict on tiny
SynthGroups with valence/arousal: fit's summary, the reports of ``vemd test``, a prediction
without classes, the fusion and the KELM's windows by hand, a random-forest fusion refitted on
loading, and the per-frame targets and CCC on hand-computed examples."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from tests.data import audio_media
from tests.inference.helpers import printed_results
from tests.systems.conftest import ABAW24_RECIPE, abaw24_config, fit_keeping_model, split_frames

import vemd
from vemd.cli import main
from vemd.config import ConfigError, load_config
from vemd.model_file import read_model_file
from vemd.models.checkpoint import weights_digest
from vemd.systems.abaw24.evaluate import ccc_scores, frame_targets
from vemd.systems.common import load_system

MODELS = ("static", "dynamic", "kelm", "fused")
GRID = (0.1, 1.0, 10.0, 100.0)  # kelm_C of the built-in recipe


@pytest.fixture(scope="module")
def fitted(va_root, tmp_path_factory):
    """(run folder, fit summary, the in-memory model fit wrote)."""
    run = tmp_path_factory.mktemp("abaw24") / "run"
    summary, model = fit_keeping_model(abaw24_config(va_root, run))
    return run, summary, model


@pytest.fixture(scope="module")
def loaded(fitted):
    return load_system(fitted[0] / "model.pt")


@pytest.fixture(scope="module")
def test_split(loaded):
    """(test ClipDataset, its frames, every model's per-frame predictions (N, T, 2) on it)."""
    model, cfg, _ = loaded
    dataset, frames = split_frames(cfg, "test")
    return dataset, frames, model.all_predictions(frames)


def _targets(dataset) -> np.ndarray:
    from vemd.data.dataset import collate

    return frame_targets(collate([dataset[i] for i in range(len(dataset))])).double().numpy()


def _ccc(x: np.ndarray, y: np.ndarray) -> float:
    """Lin's CCC with population moments, written out."""
    cov = ((x - x.mean()) * (y - y.mean())).mean()
    return 2 * cov / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)


def test_fit_summary_scores_every_model_and_picks_c_from_the_grid(fitted, loaded):
    run, summary, _ = fitted
    assert read_model_file(run / "model.pt").system == "abaw24"
    saved = json.loads((run / "fit.json").read_text())
    assert saved == json.loads(json.dumps(summary))
    assert saved["system"] == "abaw24" and saved["sizes"] == {"train": 24, "val": 12}
    assert set(saved["val_mean_ccc"]) == set(MODELS)
    assert all(-1 <= v <= 1 for v in saved["val_mean_ccc"].values())
    assert saved["best_val_score"] == saved["val_mean_ccc"]["fused"] == saved["val_fused"]["mean_ccc"]
    assert saved["kelm_C"] in GRID
    model, cfg, _ = loaded
    assert saved["kelm_C"] == float(model.kelm_C) == model.kelm.C
    np.testing.assert_array_equal(model.fusion_weights.numpy(), np.array(saved["fusion_weights"]))
    # the fused validation score is that of the model in the file
    dataset, frames = split_frames(cfg, "val")
    fused = model.all_predictions(frames)["fused"].reshape(-1, 2)
    again = ccc_scores(fused, _targets(dataset).reshape(-1, 2))
    assert again["mean_ccc"] == pytest.approx(saved["val_fused"]["mean_ccc"], abs=1e-9)
    card = (run / "MODEL_CARD.md").read_text()
    assert "\n---\n\n# ABAW 2024 valence/arousal system" in card  # title below the metadata
    assert f"C={saved['kelm_C']:g}" in card and "test_efficientnet per frame" in card


def test_the_model_file_predicts_as_the_model_fit_made(fitted, loaded, test_split):
    _, _, in_memory = fitted
    model = loaded[0]
    assert weights_digest(model) == weights_digest(in_memory)
    _, frames, predictions = test_split
    mine = in_memory.eval().all_predictions(frames)
    for name in MODELS:
        np.testing.assert_array_equal(predictions[name], mine[name])


def test_the_fusion_is_the_weighted_sum_of_the_dynamic_and_kelm_predictions(loaded, test_split):
    model = loaded[0]
    _, _, p = test_split
    w = model.fusion_weights.numpy()  # (models, dimensions): dynamic, kelm
    assert w.shape == (2, 2)
    np.testing.assert_allclose(w.sum(0), 1.0, atol=1e-12)
    assert not np.allclose(w, 0.5)  # the search moved them from the uniform start
    by_hand = np.empty_like(p["fused"])
    for d in range(2):
        by_hand[..., d] = w[0, d] * p["dynamic"][..., d] + w[1, d] * p["kelm"][..., d]
    np.testing.assert_allclose(p["fused"], np.clip(by_hand, -1, 1), rtol=0, atol=1e-12)
    assert p["fused"].shape == (12, 4, 2) and np.abs(p["fused"]).max() <= 1


def test_the_kelm_predicts_each_window_from_its_functionals(loaded, test_split):
    """4 frames 0.5 s apart, 1-s windows: frames 0-1 and 2-3 each share their window's KELM
    prediction, that of the mean / min / max of their embeddings."""
    model = loaded[0]
    _, frames, p = test_split
    kelm = p["kelm"]
    np.testing.assert_array_equal(kelm[:, 0], kelm[:, 1])
    np.testing.assert_array_equal(kelm[:, 2], kelm[:, 3])
    assert np.abs(kelm[:, 0] - kelm[:, 2]).max() > 1e-6  # two windows, two predictions
    with torch.no_grad():
        embeddings = model.embed(frames).double().numpy()  # (N, T, D)
    for start in (0, 2):
        part = embeddings[:, start : start + 2]
        features = np.concatenate([part.mean(1), part.min(1), part.max(1)], axis=1)
        np.testing.assert_allclose(kelm[:, start], np.clip(model.kelm.predict(features), -1, 1), atol=1e-9)


def test_vemd_test_reports_the_ccc_of_every_model(fitted, test_split, tmp_path, capsys):
    run = fitted[0]
    out = tmp_path / "report"
    assert main(["test", "--ckpt", str(run / "model.pt"), "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["system"] == "abaw24" and metrics["items"] == 12
    dataset, _, p = test_split
    target = _targets(dataset).reshape(-1, 2)
    assert np.isfinite(target).all() and metrics["labelled_frames"] == 48
    table = (out / "va.md").read_text()
    for name in MODELS:
        scores = metrics["models"][name]
        assert set(scores) == {"valence_ccc", "arousal_ccc", "mean_ccc"}
        pred = p[name].reshape(-1, 2)
        valence, arousal = _ccc(pred[:, 0], target[:, 0]), _ccc(pred[:, 1], target[:, 1])
        assert scores["valence_ccc"] == pytest.approx(valence, abs=1e-9)
        assert scores["arousal_ccc"] == pytest.approx(arousal, abs=1e-9)
        assert scores["mean_ccc"] == pytest.approx((valence + arousal) / 2, abs=1e-9)
        assert printed["models"][name]["mean_ccc"] == pytest.approx(scores["mean_ccc"])
        assert f"| {name} | {valence:.4f} | {arousal:.4f} |" in table
    assert metrics["mean_ccc"] == metrics["models"]["fused"]["mean_ccc"]
    rows = (out / "predictions.csv").read_text().splitlines()
    assert rows[0] == "clip_id,valence,arousal,valence_target,arousal_target" and len(rows) == 13


def test_predict_gives_valence_and_arousal_and_no_class(
    fitted, loaded, va_root, test_split, tmp_path, capsys
):
    run = fitted[0]
    model = loaded[0]
    dataset, frames, p = test_split
    clip = va_root / "frames" / dataset.records[0].clip_id
    result = vemd.load(run / "model.pt").predict(clip).to_dict()
    assert "label" not in result and "probs" not in result
    fused = p["fused"][0].mean(0)  # the clip's frames averaged
    assert result["valence"] == pytest.approx(fused[0], abs=1e-5)
    assert result["arousal"] == pytest.approx(fused[1], abs=1e-5)
    assert model.predict_clips(frames[:1])["valence"][0] == pytest.approx(fused[0])
    video = audio_media.video(tmp_path, "scene.mp4", seconds=2.0, audio=False)
    model_file = str(run / "model.pt")
    assert main(["predict", str(clip), str(video), "--ckpt", model_file, "--window", "0.5", "--json"]) == 0
    results = printed_results(capsys.readouterr().out)
    # the frame folder is one clip, as vemd.load(...).predict(clip) reads it above, and the video
    assert [r["input"] for r in results] == [str(clip), str(video)]
    assert results[0]["valence"] == pytest.approx(result["valence"], abs=1e-5)
    timeline = [r for r in results if r["input"] == str(video)][0]["windows"]
    assert len(timeline) == 4  # 0.5-s windows, smoothed over 0.5 s
    for r in results:
        assert "label" not in r and "probs" not in r
        assert -1 <= r["valence"] <= 1 and -1 <= r["arousal"] <= 1
        assert all("label" not in w and "probs" not in w and "arousal" in w for w in r["windows"])


def test_predict_out_writes_valence_and_arousal_timelines(fitted, tmp_path, capsys):
    import csv

    video = audio_media.video(tmp_path, "scene.mp4", seconds=2.0, audio=False)
    out = tmp_path / "report"
    model_file = str(fitted[0] / "model.pt")
    assert main(["predict", str(video), "--ckpt", model_file, "--window", "0.5", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "valence" in printed and "arousal" in printed
    rows = list(csv.reader((out / "timeline.csv").open()))
    assert rows[0] == ["input", "start", "end", "valence", "arousal"]
    assert len(rows) == 1 + 4
    entries = json.loads((out / "predictions.json").read_text())
    assert [float(r[3]) for r in rows[1:]] == [w["valence"] for w in entries[0]["windows"]]
    assert len(list(out.glob("timeline-*.png"))) == 1
    # a classifier's predictions cannot be mixed into this folder, nor these into a classifier's
    from vemd.inference.report import check_out

    with pytest.raises(Exception, match="predicts"):
        check_out(out, ["Negative", "Neutral", "Positive"])


def test_a_killed_fit_resumes_to_the_model_of_an_uninterrupted_one(fitted, va_root, tmp_path, monkeypatch):
    import vemd.train.epochs as trainer

    original = trainer.save_state
    saves: list[str] = []

    def save_then_die(path, payload):
        original(path, payload)
        saves.append(path.parent.name)
        if len(saves) == 2:  # the first of the dynamic model's two epochs
            raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "save_state", save_then_die)
    cfg = abaw24_config(va_root, tmp_path / "killed")
    with pytest.raises(KeyboardInterrupt):
        fit_keeping_model(cfg)
    saves.clear()
    monkeypatch.setattr(
        trainer, "save_state", lambda path, payload: (original(path, payload), saves.append(path.parent.name))
    )
    fit_keeping_model(cfg, resume=True)
    assert saves == ["dynamic"]
    whole, _, _ = load_system(fitted[0] / "model.pt")
    resumed, _, _ = load_system(tmp_path / "killed" / "model.pt")
    assert weights_digest(resumed) == weights_digest(whole)
    # and a resume under another KELM grid is refused before the run's config is rewritten
    before = (tmp_path / "killed" / "config.yaml").read_text()
    with pytest.raises(ConfigError, match="other settings"):
        fit_keeping_model(
            abaw24_config(va_root, tmp_path / "killed", "system.abaw24.kelm_C=[1.0]"), resume=True
        )
    assert (tmp_path / "killed" / "config.yaml").read_text() == before


def test_a_random_forest_fusion_is_refitted_on_loading_to_the_same_predictions(va_root, tmp_path):
    summary, in_memory = fit_keeping_model(
        abaw24_config(va_root, tmp_path / "run", "system.abaw24.fusion=random_forest")
    )
    assert summary["fusion_weights"] is None
    model, cfg, _ = load_system(tmp_path / "run" / "model.pt")
    assert model.forest is not None and model.forest is not in_memory.forest
    assert model.rf_preds.shape == (2, 48, 2) and model.rf_targets.shape == (48, 2)  # 12 val items x 4 frames
    _, frames = split_frames(cfg, "test")
    mine, theirs = in_memory.eval().all_predictions(frames), model.all_predictions(frames)
    np.testing.assert_array_equal(theirs["fused"], mine["fused"])
    # the forest, not the (uniform) weights, fuses
    uniform = 0.5 * (theirs["dynamic"] + theirs["kelm"])
    assert np.abs(theirs["fused"] - uniform).max() > 1e-6


# ---- per-frame targets and CCC, by hand ---------------------------------------------------------


def test_frame_targets_fall_back_to_the_clip_values_only_for_items_without_per_frame_values():
    nan = math.nan
    batch = {
        "va": torch.tensor(
            [
                [[0.1, 0.2], [nan, nan], [0.3, nan]],  # a frame unlabelled, a frame without arousal
                [[nan, nan], [nan, nan], [nan, nan]],  # no per-frame file
                [[nan, nan], [0.5, -0.5], [nan, nan]],  # unlabelled frames stay unlabelled
            ]
        ),
        "valence": torch.tensor([-0.4, 0.6, nan]),
        "arousal": torch.tensor([0.7, -0.2, 0.9]),
    }
    expected = torch.tensor(
        [
            [[0.1, 0.2], [nan, nan], [0.3, nan]],
            [[0.6, -0.2], [0.6, -0.2], [0.6, -0.2]],
            [[nan, nan], [0.5, -0.5], [nan, nan]],
        ]
    )
    before = batch["va"].clone()
    torch.testing.assert_close(frame_targets(batch), expected, equal_nan=True)
    torch.testing.assert_close(batch["va"], before, equal_nan=True)  # the batch is left as it was


def test_ccc_scores_on_a_hand_computed_example():
    """valence: p = 1, 2, 3, 4 and t = p + 1: cov = var = 5/4, bias 1 → 2·(5/4)/(5/4 + 5/4 + 1) = 5/7;
    arousal: t = 4, 3, NaN, 1 leaves out frame 3: p = 1, 2, 4 and t = 4, 3, 1 have var 14/9,
    cov −14/9, mean difference −1/3 → 2·(−14/9)/(28/9 + 1/9) = −28/29."""
    pred = np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0], [4.0, 4.0]])
    target = np.array([[2.0, 4.0], [3.0, 3.0], [4.0, np.nan], [5.0, 1.0]])
    scores = ccc_scores(pred, target)
    assert scores["valence_ccc"] == pytest.approx(5 / 7)
    assert scores["arousal_ccc"] == pytest.approx(-28 / 29)
    assert scores["mean_ccc"] == pytest.approx((5 / 7 - 28 / 29) / 2)
    # a dimension without any valid target is NaN and left out of the mean
    target[:, 1] = np.nan
    scores = ccc_scores(pred, target)
    assert math.isnan(scores["arousal_ccc"]) and scores["mean_ccc"] == pytest.approx(5 / 7)


# ---- a trained VE-MD as the static backbone -----------------------------------------------------


@pytest.fixture(scope="module")
def vemd_backbone_file(tmp_path_factory):
    """A stage-2 tiny VE-MD (random weights, 64-px frames) saved as vemd fit saves model.pt."""
    from tests.models.helpers import write_model_file

    from vemd.config import load_config as load
    from vemd.config import to_dict
    from vemd.models.build import build_model

    cfg = load("tiny", ["model.mode=ve-md", "model.image_size=64", "model.vit.kwargs.img_size=64"])
    torch.manual_seed(0)
    model = build_model(cfg.model, inference=True, load_weights=False)
    path = tmp_path_factory.mktemp("vemd_backbone") / "model.pt"
    write_model_file(path, to_dict(cfg), model.inference_state_dict())
    return path


def test_a_vemd_backbone_stays_frozen_and_the_model_file_stands_alone(va_root, vemd_backbone_file, tmp_path):
    from vemd.models.checkpoint import load_model, weights_digest

    cfg = abaw24_config(
        va_root,
        tmp_path / "run",
        "system.abaw24.backbone=vemd",
        f"system.abaw24.weights={vemd_backbone_file}",
    )
    summary, model = fit_keeping_model(cfg)
    video, _, _ = load_model(vemd_backbone_file)
    assert weights_digest(model.backbone.video) == weights_digest(video)  # not trained
    assert set(summary["val_mean_ccc"]) == {"static", "dynamic", "kelm", "fused"}
    moved = tmp_path / "elsewhere.pt"
    (tmp_path / "run" / "model.pt").rename(moved)
    vemd_backbone_file.rename(vemd_backbone_file.with_suffix(".gone"))  # the file needs no VE-MD beside it
    try:
        loaded_model, _, _ = load_system(moved)
    finally:
        vemd_backbone_file.with_suffix(".gone").rename(vemd_backbone_file)
    _, frames = split_frames(cfg, "test")
    ours, theirs = model.all_predictions(frames[:4]), loaded_model.all_predictions(frames[:4])
    for name in ours:
        np.testing.assert_allclose(theirs[name], ours[name], atol=1e-6)
    # each frame is embedded on its own: a frame's embedding does not depend on its neighbours
    with torch.no_grad():
        one = loaded_model.embed(frames[:1, :1])
        np.testing.assert_allclose(loaded_model.embed(frames[:1])[:, :1].numpy(), one.numpy(), atol=1e-5)


def test_a_vemd_backbone_needs_its_weights():
    with pytest.raises(ConfigError, match="system.abaw24.weights"):
        load_config(ABAW24_RECIPE, ["system.abaw24.backbone=vemd"])


def test_the_service_answers_valence_and_arousal(fitted, tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient
    from tests.data import bad_media

    from vemd.serve.app import create_app

    client = TestClient(create_app(fitted[0] / "model.pt"))
    info = client.get("/v1/model").json()
    assert info["class_names"] == [] and info["system"] == "abaw24" and info["arousal"] is True
    image = bad_media.good_png(tmp_path)
    with image.open("rb") as handle:
        answer = client.post("/v1/predict", files={"file": ("scene.png", handle, "image/png")})
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"type", "input", "duration", "valence", "arousal", "windows"}
    assert -1 <= body["valence"] <= 1 and -1 <= body["arousal"] <= 1
