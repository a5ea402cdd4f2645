"""vemd fit / vemd test with multimodal.enabled: branches over a frozen VE-MD, then their fusion."""

from __future__ import annotations

import json

import pytest
import torch
from tests.multimodal.conftest import mm_overrides

from vemd.config import ConfigError, load_config
from vemd.errors import DataError
from vemd.model_file import read_model_file
from vemd.models.checkpoint import load_multimodal, weights_digest


def _fit(av_root, video_model_file, out, *extra, resume=False):
    from vemd.systems import fit

    cfg = load_config("tiny", mm_overrides(av_root, video_model_file, out, *extra))
    return fit(cfg, resume=resume)


@pytest.fixture(scope="module")
def fitted(av_root, video_model_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("mm") / "run"
    return out, _fit(av_root, video_model_file, out)


def test_fit_then_test_reports_each_modality_and_fused(fitted, video_model_file, tmp_path):
    from vemd.systems import evaluate

    run, summary = fitted
    assert set(summary["val_accuracy"]) == {"video", "audio", "fused"}
    model_path = run / "model.pt"
    assert read_model_file(model_path).system == "multimodal"
    assert read_model_file(video_model_file).system == "ve-md"
    model, cfg, names = load_multimodal(model_path)
    assert names == ["Negative", "Neutral", "Positive"]
    # the video model inside is the frozen one it was given, unchanged
    from vemd.models.checkpoint import load_model

    original, _, _ = load_model(video_model_file)
    assert weights_digest(model.video) == weights_digest(original)
    result = evaluate(model_path, split="test", out_dir=tmp_path / "test", record=True)
    assert set(result["modalities"]) == {"video", "audio", "fused"}
    assert all(m["num_items"] == 12 for m in result["modalities"].values())
    assert set(result["mcnemar"]) == {"fused_vs_video", "fused_vs_audio"}
    table = (tmp_path / "test" / "modalities.md").read_text()
    assert "| audio |" in table and "| fused |" in table
    saved = json.loads((tmp_path / "test" / "metrics.json").read_text())
    assert saved["modalities"]["fused"]["num_items"] == 12
    card = (run / "MODEL_CARD.md").read_text()
    assert "Multimodal (paper §7)" in card and "`mel_cnn`" in card and "speaker identity" in card
    assert "| test (`vemd test`) | 12 |" in card


def test_fused_logits_reproduce_from_the_model_file(fitted):
    """Reloading gives the same logits, and a clip's audio marked absent does not reach them."""
    run, _ = fitted
    a, _, _ = load_multimodal(run / "model.pt")
    b, _, _ = load_multimodal(run / "model.pt")
    frames = torch.randint(0, 255, (3, 1, 3, 64, 64), dtype=torch.uint8)
    wave = torch.randn(3, 32000) * 0.1
    present = torch.tensor([True, False, True])
    with torch.no_grad():
        out_a = a(frames, waveforms=wave, audio_present=present)
        out_b = b(frames, waveforms=wave, audio_present=present)
        # a clip without audio: its waveform does not reach the fused logits
        other = wave.clone()
        other[1] = 0.5
        out_c = a(frames, waveforms=other, audio_present=present)
    assert set(out_a) == {"video", "audio", "fused"}
    for key in out_a:
        torch.testing.assert_close(out_a[key], out_b[key])
    torch.testing.assert_close(out_a["fused"][1], out_c["fused"][1])


def test_killed_fit_resumes_to_the_weights_of_an_uninterrupted_one(
    fitted, av_root, video_model_file, tmp_path, monkeypatch
):
    import vemd.train.epochs as trainer

    original = trainer.save_state
    calls = []

    def save_then_die(path, *args):
        original(path, *args)
        calls.append(path)
        if len(calls) == 3:  # audio epochs 1-2 saved, fusion epoch 1 saved: killed
            raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "save_state", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        _fit(av_root, video_model_file, tmp_path / "killed")
    resumed_saves = []

    def count(path, *args):
        original(path, *args)
        resumed_saves.append(path.parent.name)

    monkeypatch.setattr(trainer, "save_state", count)
    _fit(av_root, video_model_file, tmp_path / "killed", resume=True)
    assert resumed_saves == ["fusion"]  # only the epoch the kill lost is trained again
    whole, _, _ = load_multimodal(fitted[0] / "model.pt")
    resumed, _, _ = load_multimodal(tmp_path / "killed" / "model.pt")
    assert weights_digest(whole.fusion) == weights_digest(resumed.fusion)
    assert weights_digest(whole.audio) == weights_digest(resumed.audio)


def test_resume_with_other_settings_is_refused(fitted, av_root, video_model_file, tmp_path):
    import shutil

    shutil.copytree(fitted[0], tmp_path / "run")
    with pytest.raises(ConfigError, match="trained with other settings"):
        _fit(av_root, video_model_file, tmp_path / "run", "multimodal.lr=0.01", resume=True)


def _strip_audio(av_root, tmp_path, *, corrupt: bool = False):
    """A copy of the dataset's manifest where two training clips lose their audio (or get a broken file)."""
    import shutil

    root = tmp_path / "data"
    shutil.copytree(av_root, root)
    lines = (root / "manifest.csv").read_text().splitlines()
    for i in (1, 2):
        if corrupt:
            audio = lines[i].split(",")[-1]
            (root / audio).write_bytes(b"RIFF not really a wave file")
        else:
            lines[i] = lines[i].rsplit(",", 1)[0] + ","
    (root / "manifest.csv").write_text("\n".join(lines) + "\n")
    return root


def _split(root, video_model_file, split="train", *extra):
    from vemd.data.multimodal import split_inputs
    from vemd.models.checkpoint import load_model
    from vemd.models.multimodal import FrozenVideo

    cfg = load_config("tiny", mm_overrides(root, video_model_file, "unused", *extra))
    video, video_cfg, _ = load_model(video_model_file)
    return split_inputs(cfg, split, FrozenVideo(video), video_cfg, folder=None)


def test_clips_without_audio_are_kept_with_a_mask_or_skipped(av_root, video_model_file, tmp_path):
    root = _strip_audio(av_root, tmp_path)
    kept = _split(root, video_model_file)
    assert len(kept) == 24 and kept.counts == {"audio: no audio file": 2}
    assert kept.audio_present.tolist() == [i not in (0, 1) for i in range(24)]
    assert not kept.waveforms[:2].any() and kept.waveforms[2:].abs().amax(1).gt(0).all()
    skipped = _split(root, video_model_file, "train", "multimodal.audio.missing=skip")
    assert len(skipped) == 22 and skipped.counts["skipped_without_audio"] == 2
    assert skipped.clip_ids == kept.clip_ids[2:]
    torch.testing.assert_close(skipped.video.clip, kept.video.clip[2:])


def test_corrupt_audio_is_one_line_naming_the_file(av_root, video_model_file, tmp_path):
    root = _strip_audio(av_root, tmp_path, corrupt=True)
    with pytest.raises(DataError) as err:
        _split(root, video_model_file)
    assert "train-000000.wav" in str(err.value) and "\n" not in str(err.value)
    # with data.skip_bad the clip is kept without audio
    kept = _split(root, video_model_file, "train", "data.skip_bad=true")
    assert kept.audio_present.tolist()[:3] == [False, False, True]


def test_text_branch_from_an_embeddings_file(av_root, video_model_file, tmp_path):
    import numpy as np

    from vemd.data.manifest import read_manifest
    from vemd.models.text import write_text_embeddings

    records, _ = read_manifest(av_root)
    ids = [r.clip_id for r in records][:-3]  # three clips have no text
    path = tmp_path / "text.safetensors"
    write_text_embeddings(path, ids, np.random.default_rng(0).normal(size=(len(ids), 12)).astype("float32"))
    summary = _fit(
        av_root,
        video_model_file,
        tmp_path / "run",
        "multimodal.text.enabled=true",
        f"multimodal.text.embeddings={path}",
        "multimodal.fusion.modalities=[video,audio,text]",
    )
    assert set(summary["val_accuracy"]) == {"video", "audio", "text", "fused"}
    model, _, _ = load_multimodal(tmp_path / "run" / "model.pt")
    assert model.text.text_dim == 12


@pytest.mark.parametrize("kind", ["late", "afg", "late+afg", "cross_attention"])
def test_every_fusion_kind_learns_and_leaves_absent_audio_out(video_model_file, kind):
    from tests.multimodal.conftest import TINY_MM

    from vemd.models.checkpoint import load_model
    from vemd.models.multimodal import MultimodalVEMD

    cfg = load_config("tiny", [*TINY_MM, f"multimodal.fusion.kind={kind}"])
    video, _, _ = load_model(video_model_file)
    torch.manual_seed(0)
    model = MultimodalVEMD(cfg, video)
    frames = torch.randint(0, 255, (4, 1, 3, 64, 64), dtype=torch.uint8)
    wave = torch.randn(4, 32000) * 0.1
    present = torch.tensor([True, True, False, True])
    labels = torch.tensor([0, 1, 2, 1])
    features = model.branch_features(frames, waveforms=wave, audio_present=present)
    features = {
        k: type(f)(*(t.detach() for t in (f.clip, f.tokens, f.token_mask, f.present, f.logits)))
        for k, f in features.items()
    }
    optimizer = torch.optim.Adam(model.fusion.parameters(), lr=1e-2)
    model.train()
    losses = []
    for _ in range(30):
        loss = torch.nn.functional.cross_entropy(model.fuse(features), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0]
    model.eval()
    with torch.no_grad():
        base = model.fuse(features)[2]
        features["audio"].clip[2] += 100.0  # the absent clip's audio, however large, stays out
        features["audio"].tokens[2] += 100.0
        torch.testing.assert_close(model.fuse(features)[2], base)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["multimodal.audio.encoder=none"], "names audio, but multimodal.audio.encoder=none"),
        (["multimodal.fusion.modalities=[video,text]"], "names text, but multimodal.text.enabled=false"),
        (
            [
                "multimodal.fusion.kind=afg",
                "multimodal.fusion.modalities=[video,audio,text]",
                "multimodal.text.enabled=true",
                "multimodal.text.embeddings=x.npy",
            ],
            "modalities must be",
        ),
        (["multimodal.fusion.modalities=[video,smell]"], "expected distinct names"),
        (
            ["multimodal.text.enabled=true", "multimodal.fusion.modalities=[video,audio,text]"],
            "exactly one of",
        ),
        (["multimodal.audio.missing=drop"], "multimodal.audio.missing"),
    ],
)
def test_bad_multimodal_settings_are_one_line(overrides, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("+", r"\+")):
        load_config("tiny", ["multimodal.enabled=true", "multimodal.audio.encoder=mel_cnn", *overrides])


def test_vemd_output_carries_the_clip_embedding_the_classifier_reads():
    from tests.models.helpers import frames, tiny_model

    cfg, model = tiny_model()
    model.eval()
    with torch.no_grad():
        out = model(frames(cfg))
        logits = model.emotion_decoder.head(out.clip_embedding)
    torch.testing.assert_close(logits, out.logits)
    assert out.frame_tokens.shape[:2] == (2, 2)


def test_the_vision_stages_run_without_the_multimodal_settings(monkeypatch, tmp_path):
    """Changing a fusion setting must not stop the VE-MD's own run from resuming."""
    import vemd.train.fit as fit_module
    from vemd.config import MultimodalConfig

    seen = []

    class Stop(Exception):
        pass

    def record(cfg, stage, out_dir, **kwargs):
        seen.append((cfg, out_dir))
        raise Stop

    monkeypatch.setattr(fit_module, "run_stage", record)
    cfg = load_config(
        "tiny", ["multimodal.enabled=true", "multimodal.audio.encoder=mel_cnn", f"train.out_dir={tmp_path}"]
    )
    with pytest.raises(Stop):
        fit_module.fit_vemd_multimodal(cfg)
    ((vision, out_dir),) = seen
    assert vision.multimodal == MultimodalConfig() and out_dir == tmp_path / "video"


def test_export_refuses_a_multimodal_model_with_one_line(fitted, tmp_path):
    from vemd.errors import VemdError
    from vemd.inference.export import export_model

    with pytest.raises(VemdError, match="a multimodal model") as err:
        export_model(fitted[0] / "model.pt", out=tmp_path / "m.onnx")
    assert "\n" not in str(err.value) and not (tmp_path / "m.onnx").exists()
