"""The EmotiW 2020 system (system.kind: emotiw20) through vemd fit / test / predict on tiny
SynthGroups with audio: what fit writes, the model file against the model fit made, the SVM's
out-of-fold scores, the reports of ``vemd test``, predictions of a clip and of a video with
sound, and an exact resume after a kill."""

from __future__ import annotations

import json
import math
import shutil
from collections import Counter
from dataclasses import asdict

import numpy as np
import pytest
import torch
from sklearn.model_selection import StratifiedKFold
from tests.data import audio_media
from tests.inference.helpers import printed_results
from tests.systems.conftest import (
    emotiw20_config,
    emotiw20_split_probs,
    fit_keeping_model,
    split_frames,
)

import vemd
from vemd.cli import main
from vemd.config import ConfigError
from vemd.data.manifest import annotation_key
from vemd.eval.group_size import bucket_of
from vemd.io import load_weights_only
from vemd.model_file import read_model_file
from vemd.models.checkpoint import weights_digest
from vemd.structure.annotations import AnnotationStore
from vemd.systems import TestOptions, load_artifact
from vemd.systems.common import load_system
from vemd.systems.emotiw20.svm_fusion import search_svm, svm_grid

pytest.importorskip("librosa", reason="the audio branch needs the 'audio' extra")

CLASSES = ["Negative", "Neutral", "Positive"]


@pytest.fixture(scope="module")
def fitted(av_root, tmp_path_factory):
    """(run folder, fit summary, the in-memory model fit wrote)."""
    run = tmp_path_factory.mktemp("emotiw20") / "run"
    summary, model = fit_keeping_model(emotiw20_config(av_root, run))
    yield run, summary, model
    shutil.rmtree(run / "emotiw20")  # the stage states: a few hundred MB


@pytest.fixture(scope="module")
def loaded(fitted):
    """(model, config, class names) of the run's model file."""
    return load_system(fitted[0] / "model.pt")


@pytest.mark.slow
def test_fit_writes_the_model_its_summary_and_its_card(fitted, loaded):
    run, summary, _ = fitted
    assert read_model_file(run / "model.pt").system == "emotiw20"
    saved = json.loads((run / "fit.json").read_text())
    assert saved == json.loads(json.dumps(summary))
    assert saved["system"] == "emotiw20" and saved["sizes"] == {"train": 24, "val": 12}
    assert set(saved["val_accuracy"]) == {"video", "audio", "fused"}
    for value in saved["val_accuracy"].values():  # accuracies over 12 validation clips
        assert 0 <= value <= 1 and math.isclose(value * 12, round(value * 12), abs_tol=1e-5)
    assert saved["best_val_score"] == saved["val_accuracy"]["fused"]
    # the scores are those of the model in the file, on the validation split
    model, cfg, names = loaded
    assert names == CLASSES
    video, audio, labels = emotiw20_split_probs(model, cfg, "val")
    assert saved["val_accuracy"]["video"] == pytest.approx((video.argmax(1) == labels).mean(), abs=1e-6)
    assert saved["val_accuracy"]["audio"] == pytest.approx((audio.argmax(1) == labels).mean(), abs=1e-6)
    assert saved["val_accuracy"]["fused"] == pytest.approx(
        (model.fused_labels(video, audio) == labels).mean()
    )
    card = (run / "MODEL_CARD.md").read_text()
    assert "\n---\n\n# EmotiW 2020 audio-video group emotion system" in card  # title below the metadata
    assert "resnet10t inflated to 3D (whole network trained; time padding replicate)" in card
    assert saved["video_time_padding"] == "replicate"  # no 3D checkpoint: an inflated 2D network
    # §III-D: the SVM's C, kernel and degree by grid search over the stored out-of-fold scores
    e, scores = cfg.system.emotiw20, model.svm_scores.numpy()
    grid = svm_grid(e.svm_grid_C, e.svm_grid_kernel, e.svm_grid_degree)
    choice = search_svm(
        [scores[:, :3], scores[:, 3:]], model.svm_labels.numpy(), grid, folds=5, seed=cfg.train.seed
    )
    fitted_on = "2-fold out-of-fold probabilities of the training split"
    assert saved["svm"] == {**asdict(choice), "fitted_on": fitted_on} and choice.candidates == 25
    assert model.svm_choice == choice
    assert (
        f"SVM ({choice.describe()}; grid search of 25 settings, CV accuracy {choice.cv_accuracy:.4f}) "
        f"on {fitted_on}" in card
    )
    assert f"- fused accuracy: {round(saved['val_accuracy']['fused'], 4)}" in card


def test_the_model_file_predicts_as_the_model_fit_made(fitted, loaded):
    """Same weights, same branch probabilities and, with the SVM refitted on loading from the
    stored scores, the same fused probabilities and labels."""
    _, _, in_memory = fitted
    model, cfg, _ = loaded
    assert weights_digest(model) == weights_digest(in_memory)
    mine = emotiw20_split_probs(in_memory.eval(), cfg, "test")
    theirs = emotiw20_split_probs(model, cfg, "test")
    for a, b in zip(mine, theirs):
        np.testing.assert_array_equal(a, b)
    video, audio, _ = theirs
    fused = model.fused_probs(video, audio)
    assert fused.shape == (12, 3)
    np.testing.assert_allclose(fused.sum(1), 1.0, atol=1e-9)
    np.testing.assert_allclose(fused, in_memory.fused_probs(video, audio), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(model.fused_labels(video, audio), in_memory.fused_labels(video, audio))


def test_the_svm_is_fitted_on_out_of_fold_scores(fitted, loaded):
    """Each training clip's stored scores are those of the fold branches that did not see it,
    not those of the branches trained on the whole split."""
    run = fitted[0]
    model, cfg, _ = loaded
    scores = model.svm_scores.numpy()
    assert scores.shape == (24, 6) and scores.dtype == np.float64 and np.isfinite(scores).all()
    np.testing.assert_allclose(scores[:, :3].sum(1), 1.0, atol=1e-6)
    np.testing.assert_allclose(scores[:, 3:].sum(1), 1.0, atol=1e-6)
    video, audio, labels = emotiw20_split_probs(model, cfg, "train")
    np.testing.assert_array_equal(model.svm_labels.numpy(), labels)
    assert np.abs(scores[:, :3] - video).max() > 1e-3
    assert np.abs(scores[:, 3:] - audio).max() > 1e-3
    splitter = StratifiedKFold(n_splits=2, shuffle=True, random_state=cfg.train.seed)
    for k, (rest, held) in enumerate(splitter.split(np.zeros(len(labels)), labels)):
        fold, _, _ = load_system(run / "model.pt")
        for part in ("video", "audio"):
            state = load_weights_only(run / "emotiw20" / f"fold{k}-{part}" / "state.pt")
            getattr(fold, part).load_state_dict(state["best_state"])
        fold_video, fold_audio, _ = emotiw20_split_probs(fold, cfg, "train")
        np.testing.assert_allclose(scores[held, :3], fold_video[held], atol=1e-5)
        np.testing.assert_allclose(scores[held, 3:], fold_audio[held], atol=1e-5)
        # and a fold's branches score their own training clips otherwise than the stored scores
        assert np.abs(scores[rest, :3] - fold_video[rest]).max() > 1e-3


def test_vemd_test_reports_each_branch_and_the_fusion(fitted, loaded, av_root, tmp_path, capsys):
    run = fitted[0]
    out = tmp_path / "report"
    assert main(["test", "--ckpt", str(run / "model.pt"), "--out", str(out), "--record"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["split"] == "test" and set(printed["modalities"]) == {"video", "audio", "fused"}
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["system"] == "emotiw20" and metrics["without_audio"] == 0
    model, cfg, _ = loaded
    video, audio, labels = emotiw20_split_probs(model, cfg, "test")
    by_hand = {
        "video": (video.argmax(1) == labels).mean(),
        "audio": (audio.argmax(1) == labels).mean(),
        "fused": (model.fused_labels(video, audio) == labels).mean(),
    }
    for name, accuracy in by_hand.items():
        assert metrics["modalities"][name]["accuracy"] == pytest.approx(accuracy)
        assert metrics["modalities"][name]["num_items"] == 12
        assert printed["modalities"][name]["accuracy"] == pytest.approx(accuracy)
    assert set(metrics["mcnemar"]) == {"fused_vs_video", "fused_vs_audio"}
    table = (out / "modalities.md").read_text()
    for name, accuracy in by_hand.items():
        assert f"| {name} | {accuracy * 100:.1f} % |" in table
    # Table VI: faces per frame averaged over the clip (here from the store), < 5 vs >= 5, each branch
    dataset, _ = split_frames(cfg, "test")
    store = AnnotationStore(av_root / "annotations")
    faces = [
        np.mean([store[annotation_key(r.clip_id, t)].num_faces for t in range(4)]) for r in dataset.records
    ]
    small = np.array(faces) < 5
    group = metrics["group_size"]
    assert (group["people"], group["edges"], group["source"]) == ("mean_faces", [5], "annotations")
    correct = {n: p == labels for n, p in (("video", video.argmax(1)), ("audio", audio.argmax(1)))}
    correct["fused"] = model.fused_labels(video, audio) == labels
    for name, rows in {**group["others"], "fused": group["buckets"]}.items():
        assert rows[0]["bucket"] == "0–4" and rows[0]["clips"] == small.sum() == 12  # SynthGroups: 3 at most
        assert rows[0]["accuracy"] == pytest.approx(correct[name][small].mean())
        assert rows[-1]["bucket"] == "5+" and rows[-1]["clips"] == 0
    assert (
        "Accuracy by group size (faces per frame averaged over the clip, from the annotation store)" in table
    )
    assert f"| audio | {correct['audio'].mean() * 100:.1f} % | – |" in table
    assert (out / "group_size.csv").read_text().splitlines()[1].startswith("0–4,12,")
    predictions = (out / "predictions.csv").read_text().splitlines()
    assert len(predictions) == 13
    card = (run / "MODEL_CARD.md").read_text()
    assert "## Test on split 'test'" in card
    assert f"- fused accuracy: {round(by_hand['fused'], 4)}" in card


def test_vemd_test_gives_vemds_group_size_buckets_when_the_recipe_asks(fitted, av_root, tmp_path):
    artifact = load_artifact(fitted[0] / "model.pt")
    artifact.cfg.system.emotiw20.group_sizes = "buckets"
    artifact.evaluate(TestOptions(out_dir=tmp_path, group_sizes=(1, 2, 3)))
    group = json.loads((tmp_path / "metrics.json").read_text())["group_size"]
    assert (group["people"], group["edges"]) == ("most", [1, 2, 3])
    dataset, _ = split_frames(artifact.cfg, "test")
    store = AnnotationStore(av_root / "annotations")
    most = [
        max(max(f.num_bodies, f.num_faces) for f in (store[annotation_key(r.clip_id, t)] for t in range(4)))
        for r in dataset.records
    ]
    clips = {b["bucket"]: b["clips"] for b in group["buckets"]}
    assert clips == {**dict.fromkeys(["1", "2", "3+"], 0), **Counter(bucket_of(n, (1, 2, 3)) for n in most)}


def _clip_of_video(path, window, size: int) -> torch.Tensor:
    """A window's frames of a video at the model's size: (1, T, 3, S, S) uint8."""
    from vemd.data.media import read_frames_at
    from vemd.structure.transforms import ClipTransform

    resize = ClipTransform(None, False, (size, size))
    frames = np.stack([resize(f, {})[0] for f in read_frames_at(path, window.indices)])
    return torch.from_numpy(frames[None]).permute(0, 1, 4, 2, 3)


def test_predict_a_clip_folder_and_a_video_with_sound(fitted, loaded, av_root, tmp_path, capsys):
    from vemd.data.audio import SAMPLE_RATE, read_audio

    run = fitted[0]
    model, cfg, _ = loaded
    predictor = vemd.load(run / "model.pt")
    # a frame folder is one clip, heard as silence: the model on the test clip's frames
    dataset, frames = split_frames(cfg, "test")
    clip = av_root / "frames" / dataset.records[0].clip_id
    result = predictor.predict(clip).to_dict()
    silence = np.zeros((1, round(cfg.system.emotiw20.audio_seconds * SAMPLE_RATE)), np.float32)
    expected = model.predict_clips(frames[:1], silence, np.array([False]))["probs"][0]
    assert result["modalities"] == ["video"]
    np.testing.assert_allclose([result["probs"][c] for c in CLASSES], expected, atol=1e-6)
    assert result["label"] == CLASSES[int(np.argmax(expected))]
    # a video with sound: its frames and its first audio_seconds reach the SVM
    video = audio_media.video(tmp_path, "group.mp4", seconds=2.0)
    result = predictor.predict(video).to_dict()
    (window,), _ = predictor.windows(video)
    heard = read_audio(video, start=window.start, end=min(window.end, window.start + 2.0)).samples
    waves = np.zeros_like(silence)
    waves[0, : len(heard)] = heard
    expected = model.predict_clips(_clip_of_video(video, window, 64), waves, np.array([True]))["probs"][0]
    assert result["modalities"] == ["video", "audio"] and result["windows"][0]["audio_present"] is True
    np.testing.assert_allclose([result["probs"][c] for c in CLASSES], expected, atol=1e-6)
    # the CLI: one result per input (a folder's images each), probabilities summing to 1
    image = clip / "00.png"
    assert main(["predict", str(video), str(image), "--ckpt", str(run / "model.pt"), "--json"]) == 0
    results = {r["input"]: r for r in printed_results(capsys.readouterr().out)}
    assert set(results) == {str(video), str(image)}
    assert results[str(video)]["modalities"] == ["video", "audio"]
    assert results[str(image)]["modalities"] == ["video"]
    for r in results.values():
        # each probability printed to 4 decimals
        assert set(r["probs"]) == set(CLASSES)
        assert math.isclose(sum(r["probs"].values()), 1.0, abs_tol=len(CLASSES) * 5e-5)
        assert r["label"] == max(r["probs"], key=r["probs"].get)
        assert "arousal" not in r


@pytest.mark.slow
def test_a_killed_fit_resumes_to_the_weights_of_an_uninterrupted_one(fitted, av_root, tmp_path, monkeypatch):
    import vemd.train.epochs as trainer

    original = trainer.save_state
    saves: list[str] = []

    def save_then_die(path, payload):
        original(path, payload)
        saves.append(path.parent.name)
        if len(saves) == 5:  # in the middle of fold 0's video branch
            raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "save_state", save_then_die)
    cfg = emotiw20_config(av_root, tmp_path / "killed")
    with pytest.raises(KeyboardInterrupt):
        fit_keeping_model(cfg)
    assert saves == ["video", "video", "audio", "audio", "fold0-video"]
    assert not (tmp_path / "killed" / "model.pt").exists()
    saves.clear()
    monkeypatch.setattr(
        trainer, "save_state", lambda path, payload: (original(path, payload), saves.append(path.parent.name))
    )
    fit_keeping_model(cfg, resume=True)
    # only what the kill lost is trained again
    assert saves == ["fold0-video", *["fold0-audio"] * 2, *["fold1-video"] * 2, *["fold1-audio"] * 2]
    whole, _, _ = load_system(fitted[0] / "model.pt")
    resumed, _, _ = load_system(tmp_path / "killed" / "model.pt")
    assert weights_digest(resumed) == weights_digest(whole)
    np.testing.assert_array_equal(resumed.svm_scores.numpy(), whole.svm_scores.numpy())
    shutil.rmtree(tmp_path / "killed" / "emotiw20")


@pytest.mark.parametrize("changed", ["system.emotiw20.svm_C=2.0", "system.emotiw20.audio.lr=0.01"])
def test_resume_under_other_settings_is_refused_and_leaves_the_run_as_it_was(
    fitted, av_root, tmp_path, changed
):
    from vemd.systems import fit

    run = tmp_path / "run"  # the run's files, and its stage states where they are
    run.mkdir()
    for name in ("config.yaml", "model.pt", "fit.json"):
        shutil.copy(fitted[0] / name, run / name)
    (run / "emotiw20").symlink_to(fitted[0] / "emotiw20")
    before = {p.name: p.read_bytes() for p in (run / "config.yaml", run / "model.pt", run / "fit.json")}
    with pytest.raises(ConfigError, match="other settings") as info:
        fit(emotiw20_config(av_root, run, changed), resume=True)
    assert "\n" not in str(info.value) and "state.pt" in str(info.value)
    assert {
        p.name: p.read_bytes() for p in (run / "config.yaml", run / "model.pt", run / "fit.json")
    } == before
