"""benchmarks/bench_structure.py: every cell of the structural-ablation grid builds, and the grid
runs end to end on a tiny scale, reports, and skips what it already ran."""

from __future__ import annotations

import json

import pytest
from benchmarks.bench_structure import CELLS, SR_BASES, chance_report, grid, main, render_table, summarise

from vemd.config import load_config
from vemd.models.build import build_model, check_buildable

# The quickstart model, 2 optimizer steps of 4 scenes, no loader processes.
TINY_RUN = ["train.max_steps=2", "train.batch_size=4", "train.num_workers=0", "train.log_every_n_steps=1"]


def _config(overrides: list[str]):
    return load_config("quickstart", ["data.root=nowhere", *overrides])  # no data is read


@pytest.mark.parametrize("name", list(CELLS))
def test_every_cell_builds_the_model_it_names(name):
    cfg = _config(CELLS[name][1])
    model = build_model(cfg.model, load_weights=False)
    m = cfg.model
    assert m.mode == ("ve-md-sr" if name.startswith("sr-") else name[:5])  # ve-sd, ve-md
    assert m.decoder == ("personquery" if "-pq" in name else "heatmap") or m.mode == "ve-sd"
    if m.mode != "ve-sd" and not name.endswith(("-face", "-bodyface")):
        assert m.sr.modalities == ["body"]  # the base cells decode the body, whatever the recipe's
    if m.mode == "ve-md-sr":
        raw = "-raw" in name
        assert (m.sr.projection is None, m.sr.gate, m.sr.norm) == (
            (True, False, "projected") if raw else (False, True, "layernorm")
        )
        assert list(model.struct_decoders) == m.sr.modalities
    assert model.emotion_decoder.frame_dim % m.emotion.num_heads == 0


@pytest.mark.parametrize("base", SR_BASES)
def test_the_modality_cells_build_on_every_base(base):
    cells = grid(base)
    assert {f"{base}-face", f"{base}-bodyface"} <= cells.keys()
    assert not {"sr-heatmap-proj-face", "sr-heatmap-proj-bodyface"} & (
        cells.keys() - {f"{base}-face", f"{base}-bodyface"}
    )
    for suffix, modalities in (("face", ["face"]), ("bodyface", ["body", "face"])):
        cfg = _config(cells[f"{base}-{suffix}"][1])
        assert cfg.model.sr.modalities == modalities
        check_buildable(cfg.model)  # on the meta device: raw body+face SR is a 160 M-parameter model


def test_a_cell_whose_reference_has_not_run_shows_a_dash_and_its_chance():
    result = {"test_accuracy": 0.5, "test_accuracy_ci95": [0.3, 0.7], "num_classes": 3, "predictions": "-"}
    rows = {"sr-pq-raw": summarise("VE-MD-SR-PersonQuery, raw SR", {0: result}, references={})}
    assert render_table(rows, [0], epochs=1).splitlines()[-1] == (
        "| VE-MD-SR-PersonQuery, raw SR | 50.0 ± 0.0 | 50.0 [30.0, 70.0] | — |"
    )
    assert chance_report(rows).endswith(": sr-pq-raw seed 0.")  # 0.30 ≤ 1/3


@pytest.mark.slow
def test_the_grid_runs_reports_and_skips_what_it_ran(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "grid"
    args = ["--out", str(out), "--n-train", "8", "--n-val", "4", "--n-test", "6", "--workers", "1"]
    args += ["--cells", "ve-sd", "sr-heatmap-proj", "--seeds", "1", "--epochs", "1"]
    for item in TINY_RUN:
        args += ["--set", item]
    assert main(args) == 0
    results = {cell: out / cell / "seed0" / "result.json" for cell in ("ve-sd", "sr-heatmap-proj")}
    for path in results.values():
        result = json.loads(path.read_text())
        assert result["num_test"] == 6 and 0 <= result["test_accuracy"] <= 1
        low, high = result["test_accuracy_ci95"]
        assert low <= result["test_accuracy"] <= high
        assert (path.parent / "test" / "predictions.csv").is_file()
        assert result["predictions"] == str(path.parent / "test" / "predictions.csv")
    report = json.loads((out / "grid.json").read_text())
    assert list(report["cells"]) == ["ve-sd", "sr-heatmap-proj"]
    assert report["cells"]["ve-sd"]["mcnemar"]["0"]["p_value"] == 1.0  # VE-SD against itself
    assert 0 <= report["cells"]["sr-heatmap-proj"]["mcnemar"]["0"]["p_value"] <= 1
    table = (out / "table.md").read_text()
    assert "| VE-SD |" in table and "| VE-MD-SR-Heatmap, projected SR |" in table
    assert "McNemar p vs VE-SD" in table and "ref." in table
    printed = capsys.readouterr().out
    assert table in printed and ("left chance" in printed or "At chance" in printed)

    written = {cell: path.stat().st_mtime_ns for cell, path in results.items()}
    model = out / "ve-sd" / "seed0" / "model.pt"
    model_written = model.stat().st_mtime_ns
    assert main(args) == 0  # everything ran: nothing is trained or tested again
    assert {cell: path.stat().st_mtime_ns for cell, path in results.items()} == written
    assert model.stat().st_mtime_ns == model_written
    assert (out / "table.md").read_text() == table
