import json

import numpy as np
import pytest

from vemd.cli import main
from vemd.errors import DataError
from vemd.eval.compare import compare_predictions, mcnemar
from vemd.eval.report import write_predictions_csv

CLASSES = ["Negative", "Neutral", "Positive"]


def _pairs(b: int, c: int, both_right: int = 3, both_wrong: int = 2) -> tuple[np.ndarray, np.ndarray]:
    a = [True] * b + [False] * c + [True] * both_right + [False] * both_wrong
    other = [False] * b + [True] * c + [True] * both_right + [False] * both_wrong
    return np.array(a), np.array(other)


def test_mcnemar_exact_small_counts():
    # b=1, c=6, n=7: P(X <= 1) = (1 + 7) / 2^7 = 0.0625, two-sided p = 0.125
    result = mcnemar(*_pairs(1, 6))
    assert (result["b"], result["c"], result["method"]) == (1, 6, "exact")
    assert result["p_value"] == pytest.approx(0.125)


def test_mcnemar_chi_square_with_continuity_correction():
    # b=30, c=10: (|30 - 10| - 1)^2 / 40 = 361 / 40 = 9.025; p = 2 * (1 - Phi(sqrt(9.025))) = 0.00266
    result = mcnemar(*_pairs(30, 10))
    assert result["method"] == "chi2-corrected"
    assert result["statistic"] == pytest.approx(9.025)
    assert result["p_value"] == pytest.approx(0.00266, abs=1e-5)


def test_mcnemar_without_discordant_pairs():
    result = mcnemar(*_pairs(0, 0))
    assert result["p_value"] == 1.0
    assert (result["b"], result["c"]) == (0, 0)


def _write(path, ids, true, pred):
    probs = np.eye(len(CLASSES))[pred]
    return write_predictions_csv(path, ids, true, pred, probs, CLASSES)


def test_compare_predictions(tmp_path):
    ids = [f"clip{i}" for i in range(10)]
    true = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    pred_a = true.copy()
    pred_a[:2] = 2  # A: 8/10
    pred_b = true.copy()
    pred_b[2:6] = 0  # B wrong on clip2, clip4, clip5 (clip3 is a 0 already): 7/10
    a = _write(tmp_path / "a.csv", ids, true, pred_a)
    # B lists the items in another order: matching is by id
    order = np.arange(10)[::-1]
    b = _write(tmp_path / "b.csv", [ids[i] for i in order], true[order], pred_b[order])
    result = compare_predictions(a, b)
    assert result["num_items"] == 10
    assert result["system_a"]["accuracy"] == pytest.approx(0.8)
    assert result["system_b"]["accuracy"] == pytest.approx(0.7)
    assert result["system_a"]["accuracy_ci95"] == pytest.approx([0.4902, 0.9433], abs=1e-4)
    # A right & B wrong: clip2, clip4, clip5 -> b = 3; A wrong & B right: clip0, clip1 -> c = 2
    assert (result["mcnemar"]["b"], result["mcnemar"]["c"]) == (3, 2)
    # exact, n = 5: P(X <= 2) = (1 + 5 + 10) / 32 = 0.5, two-sided p = 1.0
    assert result["mcnemar"]["p_value"] == pytest.approx(1.0)


def test_compare_rejects_different_items_and_labels(tmp_path):
    a = _write(tmp_path / "a.csv", ["x", "y", "z"], [0, 1, 2], [0, 1, 2])
    b = _write(tmp_path / "b.csv", ["x", "y", "w"], [0, 1, 2], [0, 1, 2])
    with pytest.raises(DataError, match="different items") as err:
        compare_predictions(a, b)
    assert str(a) in str(err.value) and str(b) in str(err.value) and "'z'" in str(err.value)
    c = _write(tmp_path / "c.csv", ["x", "y", "z"], [0, 1, 1], [0, 1, 2])
    with pytest.raises(DataError, match=r"true label of 1 items \(e.g. \['z'\]\)"):
        compare_predictions(a, c)
    unlabelled = _write(tmp_path / "u.csv", ["x", "y", "z"], None, [0, 1, 2])
    with pytest.raises(DataError, match="no true label"):
        compare_predictions(a, unlabelled)


def test_compare_cli(tmp_path, capsys):
    a = _write(tmp_path / "a.csv", ["x", "y", "z"], [0, 1, 2], [0, 1, 2])
    b = _write(tmp_path / "b.csv", ["x", "y", "z"], [0, 1, 2], [0, 0, 2])
    assert main(["compare", str(a), str(b), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["mcnemar"]["b"] == 1 and result["system_b"]["accuracy"] == pytest.approx(2 / 3)
    assert main(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "McNemar (exact)" in out and "100.00 %" in out and "66.67 %" in out

    other = _write(tmp_path / "other.csv", ["x", "y"], [0, 1], [0, 1])
    assert main(["compare", str(a), str(other)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert str(a) in err and str(other) in err


BAD_PREDICTIONS = {
    "binary.csv": bytes(range(256)) * 4,
    "nul.csv": b"item_id,true_label,pred_label,prob_Negative\x00\n",
    "empty.csv": b"",
    "columns.csv": b"item_id,label\nx,Negative\n",
    "header_only.csv": b"item_id,true_label,pred_label,prob_Negative,prob_Neutral,prob_Positive\n",
}


@pytest.mark.parametrize("name", [*sorted(BAD_PREDICTIONS), "missing.csv", "folder"])
def test_compare_cli_on_a_bad_file_is_one_line_naming_it(tmp_path, capsys, name):
    good = _write(tmp_path / "good.csv", ["x", "y", "z"], [0, 1, 2], [0, 1, 2])
    bad = tmp_path / name
    if name == "folder":
        bad.mkdir()
    elif name in BAD_PREDICTIONS:
        bad.write_bytes(BAD_PREDICTIONS[name])
    for args in ([str(bad), str(good)], [str(good), str(bad)]):
        assert main(["compare", *args]) == 1
        captured = capsys.readouterr()
        assert captured.out == ""
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("vemd compare: error: ") and str(bad) in lines[0]
        if name == "folder":
            assert "a folder, not a predictions.csv file" in lines[0]


def test_compare_files_with_no_common_item_say_so(tmp_path, capsys):
    a = _write(tmp_path / "a.csv", ["x", "y"], [0, 1], [0, 1])
    b = _write(tmp_path / "b.csv", ["p", "q"], [0, 1], [0, 1])
    assert main(["compare", str(a), str(b)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(a) in err and str(b) in err and "no item in common" in err
