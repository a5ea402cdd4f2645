"""vemd test on inputs it cannot use: one line each and nothing written."""

from __future__ import annotations

import json
import shutil

import pytest

from vemd.cli import main


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from vemd.synth import generate_dataset

    root = tmp_path_factory.mktemp("synth") / "data"
    return generate_dataset(root, n_train=3, n_val=3, frames=2, seed=0, max_people=2, progress=False)


def _test(model_file, dataset, *extra) -> int:
    return main(
        ["test", "--ckpt", str(model_file), "--config", "tiny", "--set", f"data.root={dataset}", *extra]
    )


def _one_error_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vemd test: error: "), lines
    return lines[0]


def test_a_good_run_writes_its_report(model_file, dataset, tmp_path, capsys):
    assert _test(model_file, dataset, "--split", "val", "--out", str(tmp_path / "report")) == 0
    assert json.loads(capsys.readouterr().out)["num_items"] == 3


def test_bf16_evaluation_agrees_with_fp32(model_file, dataset, tmp_path, capsys):
    probs = {}
    for precision in ("fp32", "bf16"):
        out = tmp_path / precision
        assert _test(model_file, dataset, "--split", "val", "--out", str(out), "--precision", precision) == 0
        capsys.readouterr()
        lines = (out / "predictions.csv").read_text().splitlines()
        header = lines[0].split(",")
        columns = [i for i, name in enumerate(header) if name.startswith("prob_")]
        probs[precision] = [[float(row.split(",")[i]) for i in columns] for row in lines[1:]]
    assert len(probs["fp32"]) == 3
    assert all(a == pytest.approx(b, abs=0.03) for a, b in zip(probs["bf16"], probs["fp32"]))
    assert probs["bf16"] != probs["fp32"]  # the precision asked for was used


def test_an_unknown_split_is_one_line_naming_it(model_file, dataset, tmp_path, capsys):
    out = tmp_path / "report"
    assert _test(model_file, dataset, "--split", "bogus", "--out", str(out)) == 1
    assert "'bogus'" in _one_error_line(capsys)
    assert not out.exists()


def test_out_naming_an_existing_file_is_refused_before_any_work(model_file, dataset, tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.write_text("mine")
    assert _test(model_file, dataset, "--split", "val", "--out", str(taken)) == 1
    line = _one_error_line(capsys)
    assert str(taken) in line and "--out" in line
    assert taken.read_text() == "mine"


def test_overrides_without_a_config_are_refused_not_ignored(model_file, dataset, tmp_path, capsys):
    out = tmp_path / "report"
    args = ["test", "--ckpt", str(model_file), "--set", f"data.root={dataset}", "--out", str(out)]
    assert main(args) == 1
    assert "--config" in _one_error_line(capsys)
    assert not out.exists()


def test_a_split_with_no_readable_item_is_one_line(model_file, dataset, tmp_path, capsys):
    root = tmp_path / "data"
    shutil.copytree(dataset, root)
    for frame in (root / "frames").glob("val-*/*"):
        frame.write_bytes(b"not an image")
    out = tmp_path / "report"
    assert _test(model_file, root, "--split", "val", "--skip-bad", "--out", str(out)) == 1
    line = _one_error_line(capsys)
    assert str(root) in line and "no readable item" in line
    assert not out.exists()
