import json

import numpy as np
import pytest

from vemd.errors import DataError
from vemd.eval.report import read_predictions_csv, write_metrics_json, write_predictions_csv

CLASSES = ["Negative", "Neutral, calm", "Positive"]


def test_predictions_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(3), size=4)
    path = write_predictions_csv(
        tmp_path / "run" / "predictions.csv",
        ["a", "b/1", "c", "d"],
        [0, 1, 2, 1],
        probs.argmax(1),
        probs,
        CLASSES,
    )
    ids, true, pred, read_probs, classes = read_predictions_csv(path)
    assert ids == ["a", "b/1", "c", "d"]
    assert true == ["Negative", "Neutral, calm", "Positive", "Neutral, calm"]
    assert pred == [CLASSES[i] for i in probs.argmax(1)]
    assert classes == CLASSES
    np.testing.assert_array_equal(read_probs, probs)
    assert not list(path.parent.glob(".*tmp"))


def test_unlabelled_predictions_have_empty_true_label(tmp_path):
    path = write_predictions_csv(tmp_path / "p.csv", ["a"], None, [2], np.array([[0.1, 0.2, 0.7]]), CLASSES)
    assert read_predictions_csv(path)[1] == [""]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id,true_label,pred_label,prob_a\n", "header must be"),
        ("item_id,true_label,pred_label,prob_a,prob_b\nx,a,c,0.5,0.5\n", r":2: label 'c' is not one of"),
        ("item_id,true_label,pred_label,prob_a,prob_b\nx,a,b,0.5\n", r":2: expected 5 fields"),
        ("item_id,true_label,pred_label,prob_a,prob_b\nx,a,b,0.5,high\n", r":2: unreadable probability"),
        (
            "item_id,true_label,pred_label,prob_a,prob_b\nx,a,b,0.5,0.5\nx,a,a,1,0\n",
            r":3: duplicate item_id 'x'",
        ),
        ("", "empty predictions file"),
    ],
)
def test_bad_predictions_file_names_the_file(tmp_path, text, message):
    path = tmp_path / "predictions.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=message) as err:
        read_predictions_csv(path)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)


def test_missing_predictions_file(tmp_path):
    with pytest.raises(DataError, match="missing"):
        read_predictions_csv(tmp_path / "nope.csv")


def test_metrics_json_is_plain_and_sorted(tmp_path):
    metrics = {"accuracy": np.float32(0.5), "confusion": np.array([[1, 0], [1, 0]]), "uar": float("nan")}
    path = write_metrics_json(
        tmp_path / "metrics.json", metrics, extra={"checkpoint": tmp_path / "last.ckpt"}
    )
    text = path.read_text()
    data = json.loads(text)
    assert data == {
        "accuracy": 0.5,
        "checkpoint": str(tmp_path / "last.ckpt"),
        "confusion": [[1, 0], [1, 0]],
        "uar": None,
    }
    assert isinstance(data["accuracy"], float)
    assert list(data) == sorted(data)
    with pytest.raises(ValueError, match="overwrite"):
        write_metrics_json(tmp_path / "m.json", {"a": 1}, extra={"a": 2})
