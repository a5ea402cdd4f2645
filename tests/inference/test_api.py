"""The Python API: ``vemd.load`` and in-memory inputs, typed group-level results, the model's own
preprocessing, and inference that imports neither Lightning nor the training package."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tests.data import bad_media

import vemd
from vemd.data import media
from vemd.errors import VemdError
from vemd.inference.results import PUBLIC_KEYS, WINDOW_KEYS, GroupEmotion, WindowPrediction

ROOT = Path(__file__).resolve().parents[2]
TRAINING = ("pytorch_lightning", "lightning", "lightning_fabric", "vemd.train")


def _frames(t: int = 6, h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (t, h, w, 3), dtype=np.uint8)


def test_load_predicts_a_file_with_typed_group_level_results(model_file, tmp_path):
    predictor = vemd.load(model_file, window=1.0)
    result = predictor.predict(bad_media.video(tmp_path, 30, fps=10))
    assert isinstance(result, GroupEmotion) and all(isinstance(w, WindowPrediction) for w in result.windows)
    assert result.label in predictor.class_names and list(result.probs) == predictor.class_names
    assert sum(result.probs.values()) == pytest.approx(1, abs=1e-4) and len(result.windows) == 3
    as_dict = result.to_dict()
    assert set(as_dict) == PUBLIC_KEYS and all(set(w) == WINDOW_KEYS for w in as_dict["windows"])
    json.dumps(as_dict)  # plain JSON


def test_in_memory_inputs_agree_with_the_file(model_file, tmp_path):
    predictor = vemd.load(model_file, window=1.0)
    video = bad_media.video(tmp_path, 30, fps=10, noise=True)
    from_file = predictor.predict(video)
    frames = media.read_video_frames(video, list(range(30)))
    from_array = predictor.predict(np.stack(frames), fps=10)  # (T, H, W, 3) with a frame rate
    from_list = predictor.predict([Image.fromarray(f) for f in frames], fps=10)
    for other in (from_array, from_list):
        assert [(w.start, w.end) for w in other.windows] == [(w.start, w.end) for w in from_file.windows]
        np.testing.assert_allclose(list(other.probs.values()), list(from_file.probs.values()), atol=1e-5)
    assert from_array.input == "<array>" and from_list.input == "<frames>"


def test_frames_without_a_rate_are_one_clip_and_an_image_is_one_frame(model_file, tmp_path):
    predictor = vemd.load(model_file)
    clip = predictor.predict(_frames())
    assert len(clip.windows) == 1 and clip.duration == 0
    image = _frames(1)[0]
    path = tmp_path / "image.png"
    Image.fromarray(image).save(path)
    np.testing.assert_allclose(
        list(predictor.predict(image).probs.values()), list(predictor.predict(path).probs.values()), atol=1e-5
    )
    np.testing.assert_allclose(
        list(predictor.predict(Image.fromarray(image)).probs.values()),
        list(predictor.predict(image).probs.values()),
        atol=1e-6,
    )


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (np.zeros((4, 8, 8, 3), np.float32), "frame 0 is float32: expected uint8"),
        (np.zeros((8, 8), np.uint8), r"shape \(8, 8\)"),
        (np.zeros((2, 3, 8, 8, 3), np.uint8), r"shape \(2, 3, 8, 8, 3\)"),
        ([], "no frame given"),
        ([np.zeros((8, 8, 4), np.uint8)], r"frame 0 has shape \(8, 8, 4\)"),
        (42, "cannot predict a int"),
    ],
)
def test_bad_in_memory_input_is_one_line(model_file, source, message):
    with pytest.raises(ValueError, match=message) as info:
        vemd.load(model_file).predict(source)
    assert "\n" not in str(info.value)


def test_the_model_owns_its_preprocessing(model_file):
    from vemd.models.build import pixel_stats
    from vemd.models.checkpoint import load_model

    model, _, _ = load_model(model_file)
    size = model.image_size
    pixels = torch.from_numpy(_frames(2, size, size)).permute(0, 3, 1, 2)[None]  # (1, T, 3, S, S)
    x = model.preprocess(pixels)
    mean, std = (
        torch.tensor(v).view(1, 1, 3, 1, 1) for v in pixel_stats(model.encoder)
    )  # the ViT's timm config
    expected = (pixels.float() / 255 - mean) / std
    torch.testing.assert_close(x, expected, atol=1e-5, rtol=1e-5)
    assert model.preprocess(torch.zeros(1, 2, 3, 40, 30)).shape == (1, 2, 3, size, size)  # resized
    assert not any("pixel" in key for key in model.state_dict())  # derived, not stored: old files load


def test_classify_dispatches_on_the_stage(model_file):
    from vemd.models.checkpoint import load_model

    model, _, _ = load_model(model_file)
    x = model.preprocess(torch.from_numpy(_frames(2, 112, 112)).permute(0, 3, 1, 2)[None])
    with torch.no_grad():
        torch.testing.assert_close(model.classify(x, stage="1").logits, model.vit_logits(x))
        torch.testing.assert_close(model.classify(x, stage="2").logits, model(x).logits)
        model.stage = "1"
        torch.testing.assert_close(model.classify(x).logits, model.vit_logits(x))
    with pytest.raises(ValueError, match="stage='3'"):
        model.stage = "3"


def test_bf16_autocast_stays_close_to_fp32(model_file, tmp_path):
    video = bad_media.video(tmp_path, 20, fps=10, noise=True)
    fp32 = vemd.load(model_file, precision="fp32").predict(video)
    bf16 = vemd.load(model_file, precision="bf16").predict(video)
    np.testing.assert_allclose(list(bf16.probs.values()), list(fp32.probs.values()), atol=0.03)
    assert vemd.load(model_file).dtype == torch.float32  # auto on a CPU
    with pytest.raises(VemdError, match="^--precision fp8: expected one of auto, fp32, bf16, fp16$"):
        vemd.load(model_file, precision="fp8")


def _python(code: str, cwd: Path) -> dict:
    """Run ``code`` in a fresh interpreter; it prints a JSON object last."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


# Importing inference and evaluation (every module) imports no training code: tests/test_layers.py.


def _readme_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Python API") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_example_runs_and_imports_no_training_code(model_file, tmp_path):
    example = _readme_example()
    assert len(example.strip().splitlines()) <= 12
    (tmp_path / "runs" / "quickstart" / "run").mkdir(parents=True)  # where `make demo` writes its model
    (tmp_path / "runs" / "quickstart" / "run" / "model.pt").symlink_to(model_file)
    bad_media.video(tmp_path, 30, "meeting.mp4", fps=10)
    code = (
        example
        + f"\nimport json, sys\nprint(json.dumps([m for m in sys.modules if m.split('.')[0] in {TRAINING!r}"
        " or m.startswith('vemd.train')]))"
    )
    assert _python(code, tmp_path) == []
