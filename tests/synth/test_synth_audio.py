"""SynthGroups with audio: the WAV files, the audio-visual label rule, the sound's cues and shortcuts,
and the manifest's optional ``audio`` / ``text`` columns."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from vemd.cli import main
from vemd.data.manifest import ClipRecord, read_manifest, write_manifest
from vemd.errors import DataError
from vemd.synth import generate_dataset
from vemd.synth.audio import AUDIO_SECONDS, SAMPLE_RATE, synthesize_audio
from vemd.synth.generate import SPLITS, SynthOptions, clip_carriers, make_audio, make_clip
from vemd.synth.group import sample_audio_visual
from vemd.synth.render import render_scene
from vemd.synth.scene import sample_scene

OPTIONS = {"n_train": 6, "n_val": 3, "frames": 2, "seed": 5, "image_size": 64, "max_people": 4}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return generate_dataset(tmp_path_factory.mktemp("audio") / "sg", progress=False, audio=True, **OPTIONS)


def _files(root: Path, folder: str) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted((root / folder).rglob("*")) if p.is_file()
    }


def test_every_clip_has_a_16khz_mono_wav_named_in_the_manifest(dataset):
    records, _ = read_manifest(dataset)
    assert len(records) == 9
    header = (dataset / "manifest.csv").read_text().splitlines()[0]
    assert header == "clip_id,split,label,path,audio"
    for record in records:
        assert record.audio == f"audio/{record.clip_id}.wav" and record.text is None
        info = soundfile.info(dataset / record.audio)
        assert (info.samplerate, info.channels, info.subtype) == (SAMPLE_RATE, 1, "PCM_16")
        assert info.frames == round(AUDIO_SECONDS * SAMPLE_RATE) == 32_000
    assert sorted(p.name for p in (dataset / "audio").iterdir()) == [f"{r.clip_id}.wav" for r in records]
    assert json.loads((dataset / "dataset.json").read_text())["options"]["audio"] is True


def test_audio_is_the_same_with_two_workers_and_changes_with_the_seed(dataset, tmp_path):
    again = generate_dataset(tmp_path / "parallel", workers=2, progress=False, audio=True, **OPTIONS)
    assert _files(again, "audio") == _files(dataset, "audio")
    assert _files(again, "frames") == _files(dataset, "frames")
    options = SynthOptions(**OPTIONS, audio=True)
    saved, _ = soundfile.read(dataset / "audio" / "val-000001.wav", dtype="int16")
    assert np.array_equal(np.round(make_audio(options, "val", 1, 0) * 32767).astype(np.int16), saved)
    other = SynthOptions(**{**OPTIONS, "seed": 6}, audio=True)
    assert not np.array_equal(make_audio(other, "val", 1, 0), make_audio(options, "val", 1, 0))


def test_a_killed_run_resumes_to_the_same_audio(dataset, tmp_path):
    partial = tmp_path / "partial"
    shutil.copytree(dataset, partial)
    (partial / "manifest.csv").unlink()
    (partial / "audio" / "train-000003.wav").unlink()
    (partial / "audio" / ".partial-train-000003.wav").write_bytes(b"RIFF")  # killed while writing
    generate_dataset(partial, progress=False, audio=True, **OPTIONS)
    assert _files(partial, "audio") == _files(dataset, "audio")
    assert (partial / "manifest.csv").read_bytes() == (dataset / "manifest.csv").read_bytes()


def test_without_audio_the_scenes_are_drawn_as_before_and_with_it_only_the_shown_class_changes(
    dataset, tmp_path
):
    plain = SynthOptions(**OPTIONS)
    with_audio = SynthOptions(**OPTIONS, audio=True)
    # The draws of a dataset without audio, as written before audio existed.
    seq = np.random.SeedSequence([plain.seed, SPLITS.index("train"), 2]).spawn(2)[0]
    before = [f for f, _ in render_scene(sample_scene(np.random.default_rng(seq), 1, plain.scene))]
    assert all(np.array_equal(a, b) for a, b in zip(make_clip(plain, "train", 2, 1)[0], before))

    records, _ = read_manifest(dataset)
    hidden = 0
    for record in records:
        split, index = record.split, int(record.clip_id.split("-")[1])
        label = ["Negative", "Neutral", "Positive"].index(record.label)
        shown, affect = clip_carriers(with_audio, split, index, label)
        assert shown == label or (shown == 1 and affect == label - 1)
        hidden += shown != label
        frames, annotations = make_clip(with_audio, split, index, label)
        same_frames, same_annotations = make_clip(plain, split, index, shown)
        assert all(np.array_equal(a, b) for a, b in zip(frames, same_frames))
        assert [p.body.tobytes() for a in annotations for p in a.persons] == [
            p.body.tobytes() for a in same_annotations for p in a.persons
        ]
    assert hidden >= 1  # some clips here carry their class in the sound only

    root = generate_dataset(tmp_path / "plain", progress=False, **OPTIONS)
    assert (root / "manifest.csv").read_text().splitlines()[0] == "clip_id,split,label,path"
    assert "audio" not in json.loads((root / "dataset.json").read_text())["options"]
    assert not (root / "audio").exists()
    plain_records, _ = read_manifest(root)
    assert [(r.clip_id, r.label) for r in plain_records] == [(r.clip_id, r.label) for r in records]
    with pytest.raises(DataError, match="dataset.json"):
        generate_dataset(root, progress=False, audio=True, **OPTIONS)


def _bayes_accuracy(observed: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy of the best guess of the label from each observed value (plug-in Bayes rule)."""
    table = np.zeros((observed.max() + 1, 3))
    np.add.at(table, (observed, labels), 1)
    return table.max(axis=1).sum() / len(labels)


def test_the_rule_gives_two_thirds_to_each_modality_and_eight_ninths_to_both():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 30_000)
    shown, affect = np.array([sample_audio_visual(rng, int(y)) for y in labels]).T
    audio = affect + 1
    assert abs(_bayes_accuracy(shown, labels) - 2 / 3) < 0.015
    assert abs(_bayes_accuracy(audio, labels) - 2 / 3) < 0.015
    assert abs(_bayes_accuracy(3 * shown + audio, labels) - 8 / 9) < 0.015
    assert abs(np.mean(shown != labels) - 1 / 3) < 0.015  # audio carrier (1/2) of a non-neutral class (2/3)


def _sounds(n: int = 150) -> tuple[list[np.ndarray], np.ndarray]:
    affects = np.arange(n) % 3 - 1
    sounds = [
        synthesize_audio(np.random.default_rng([21, i]), int(a), seconds=1.0) for i, a in enumerate(affects)
    ]
    return sounds, affects


def _accuracy(model, features: np.ndarray, affects: np.ndarray) -> float:
    return float(cross_val_score(model, features, affects, cv=5).mean())


def _linear():
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))


def test_loudness_says_nothing_of_the_affect_but_pitch_contour_and_timbre_do():
    librosa = pytest.importorskip("librosa")
    sounds, affects = _sounds()
    loudness = np.array([[10 * np.log10(np.mean(s.astype(np.float64) ** 2))] for s in sounds])
    assert _accuracy(_linear(), loudness, affects) < 0.45
    assert _accuracy(DecisionTreeClassifier(max_depth=2), loudness, affects) < 0.45  # best thresholds

    def pitch_slope(sound):
        f0 = librosa.yin(sound, fmin=80, fmax=500, sr=SAMPLE_RATE, frame_length=512, hop_length=256)
        steps = np.diff(12 * np.log2(f0))  # semitones per 16 ms
        return [np.mean(steps[np.abs(steps) < 1.5])]  # leave out jumps between voices and noise

    slopes = np.array([pitch_slope(s) for s in sounds])
    assert _accuracy(_linear(), slopes, affects) > 0.70
    mfcc = [librosa.feature.mfcc(y=s, sr=SAMPLE_RATE, n_mfcc=13) for s in sounds]
    statistics = np.array([np.concatenate([m.mean(axis=1), m.std(axis=1)]) for m in mfcc])
    assert _accuracy(_linear(), statistics, affects) > 0.70


def test_an_affect_outside_minus_one_to_one_is_refused():
    with pytest.raises(ValueError, match="affect must be -1, 0 or \\+1"):
        synthesize_audio(np.random.default_rng(0), 2)


def test_synth_help_names_the_audio_option(capsys):
    with pytest.raises(SystemExit):
        main(["synth", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--audio" in text and f"({AUDIO_SECONDS:g} s, 16 kHz mono" in text


# The manifest's optional columns.


def test_audio_and_text_columns_round_trip_with_commas_quotes_and_newlines(tmp_path):
    records = [
        ClipRecord("a", "train", "pos", "a.mp4", audio="a.wav", text='Well, "yes",\nof course'),
        ClipRecord("b", "train", "neg", "b.mp4", text="fine"),
        ClipRecord("c", "val", "neg", "c.mp4", audio="c.wav"),
    ]
    write_manifest(tmp_path, records, ["neg", "pos"])
    assert (tmp_path / "manifest.csv").read_text().splitlines()[0] == "clip_id,split,label,path,audio,text"
    assert read_manifest(tmp_path)[0] == records
    write_manifest(tmp_path, [ClipRecord("b", "train", "neg", "b.mp4", text="one, two")], ["neg"])
    assert (
        tmp_path / "manifest.csv"
    ).read_text() == 'clip_id,split,label,path,text\nb,train,neg,b.mp4,"one, two"\n'


def test_without_optional_fields_the_manifest_is_the_four_columns_as_before(tmp_path):
    write_manifest(
        tmp_path,
        [ClipRecord("a", "train", "pos", "x/a b.png"), ClipRecord("b", "val", "neg", "b")],
        ["neg", "pos"],
    )
    assert (
        tmp_path / "manifest.csv"
    ).read_bytes() == b"clip_id,split,label,path\na,train,pos,x/a b.png\nb,val,neg,b\n"
    records, _ = read_manifest(tmp_path)
    assert all(r.audio is None and r.text is None for r in records)


def test_commas_are_still_refused_outside_the_transcript(tmp_path):
    for record in (
        ClipRecord("a", "train", "pos", "a,b.png"),
        ClipRecord("a", "train", "pos", "a.png", audio="a,b.wav"),
    ):
        with pytest.raises(DataError, match="comma or newline"):
            write_manifest(tmp_path, [record], ["pos"])


def test_a_row_after_a_multiline_transcript_is_named_by_its_own_line(tmp_path):
    (tmp_path / "classes.json").write_text('{"class_names": ["neg", "pos"]}')
    (tmp_path / "manifest.csv").write_text(
        'clip_id,split,label,path,audio,text\na,train,pos,a.mp4,,"one\ntwo\nthree"\nb,train,angry,b.mp4,,\n'
    )
    with pytest.raises(DataError, match=r"manifest.csv:5: label 'angry'"):
        read_manifest(tmp_path)
    problems = []
    records, _ = read_manifest(tmp_path, problems)
    assert records == [ClipRecord("a", "train", "pos", "a.mp4", text="one\ntwo\nthree")]
