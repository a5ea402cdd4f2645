"""benchmarks/bench_emodb.py: EMO-DB names → labels, leave-speakers-out folds, the SVM baseline."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from vemd.errors import DataError

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_emodb.py"
SPEAKERS = ("03", "08", "09", "10", "11", "12", "13", "14", "15", "16")


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_emodb", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_parse_name(bench):
    assert bench.parse_name("03a01Fa.wav") == ("03", bench.CLASSES.index("happiness"))
    assert bench.parse_name("16b10Wb.wav") == ("16", bench.CLASSES.index("anger"))
    letters = {"W": "anger", "L": "boredom", "E": "disgust", "A": "fear", "T": "sadness", "N": "neutral"}
    for letter, emotion in letters.items():
        assert bench.CLASSES[bench.parse_name(f"11a02{letter}c.wav")[1]] == emotion
    with pytest.raises(DataError, match=r"03a01Xa\.wav: unknown emotion letter 'X'"):
        bench.parse_name("03a01Xa.wav")
    for bad in ("3a01Fa.wav", "03a01Fa.mp3", "xxa01Fa.wav"):
        with pytest.raises(DataError, match="not an EMO-DB file name"):
            bench.parse_name(bad)


@pytest.mark.parametrize("num_folds", [2, 3, 5, 10])
def test_speaker_folds_are_disjoint_and_cover_every_speaker(bench, num_folds):
    names = [f"{s}a0{t}{e}a.wav" for s in SPEAKERS for t in range(1, 4) for e in "WLEAFTN"]
    speakers = [bench.parse_name(n)[0] for n in names]
    ids = np.asarray(speakers)
    folds = bench.speaker_folds(speakers, num_folds)
    assert len(folds) == num_folds
    tested = []
    for train, test in folds:
        assert not set(ids[train]) & set(ids[test])
        assert len(train) + len(test) == len(names)
        tested += sorted(set(ids[test]))
    assert sorted(tested) == sorted(SPEAKERS)  # each speaker tested exactly once


def test_speaker_folds_refuse_more_folds_than_speakers(bench):
    with pytest.raises(ValueError, match="--folds"):
        bench.speaker_folds(["03", "08", "09"], 4)


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_svm_on_a_few_emodb_files(bench):
    if not bench.DEFAULT_ROOT.is_dir():
        pytest.skip(f"{bench.DEFAULT_ROOT} absent")
    corpus = bench.list_corpus(bench.DEFAULT_ROOT)
    assert len(corpus) == 535
    # 5 utterances of each of 4 speakers
    chosen = [u for s in ("03", "08", "13", "16") for u in [v for v in corpus if v.speaker == s][::9][:5]]
    speakers = [u.speaker for u in chosen]
    labels = np.array([u.label for u in chosen])
    features = np.stack([bench.utterance_features(w) for w in bench.read_waveforms(chosen)])
    assert features.shape == (len(chosen), 2 * (40 + 40 + 3 + 7 + 2)) and np.isfinite(features).all()
    for train, test in bench.speaker_folds(speakers, 2):
        predictions = bench.svm_predictions(features, labels, speakers, train, test)
        assert predictions.shape == (len(test),) and set(predictions) <= set(range(len(bench.CLASSES)))
        result = bench.scores(labels[test], predictions)
        assert 0.0 <= result["uar"] <= 1.0 and 0.0 <= result["accuracy"] <= 1.0
