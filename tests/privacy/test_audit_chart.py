"""``audit.png`` and ``audit.md`` of a made-up audit result: Wilson error bars, readable labels."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.container import BarContainer

from vemd.eval.metrics import wilson_interval
from vemd.privacy.report import audit_figure, write_report

NUM_ITEMS = 40


def _entry(name: str, correct: dict[str, int], **extra) -> dict:
    """A representation's entry as the audit writes it: each probe's accuracy and Wilson bounds."""
    probes = {
        kind: {
            "accuracy": n / NUM_ITEMS,
            "ci95": list(wilson_interval(n, NUM_ITEMS)),
            "correct": n,
            "num_items": NUM_ITEMS,
            "leakage": None,
            "leakage_ci95": None,
            "leakage_vs_input": None,
            "leakage_vs_input_ci95": None,
        }
        for kind, n in correct.items()
    }
    return {"name": name, "description": f"{name} of the model", "dim": 8, **probes, **extra}


def _result(ceiling: bool = True) -> dict:
    names = ["probs", "clip_embedding", "frame_embedding", "latent", "sr_body"]
    return {
        "model": "model.pt",
        "mode": "ve-md-sr",
        "stage": "2",
        "multimodal": False,
        "media": "visual",
        "vemd_version": "0",
        "seconds": 1.0,
        "identities": {
            "root": "identities",
            "num_identities": 5,
            "num_items": NUM_ITEMS,
            "items_per_identity": [8, 8],
        },
        "grouping": {
            "by": "near-duplicates",
            "num_groups": NUM_ITEMS,
            "groups_per_identity": [8, 8],
            "near_duplicate": {"signature": "12×12 grey thumbnails", "min_correlation": 0.96},
            "num_near_duplicate_pairs_across_groups": 0,
        },
        "chance": 0.2,
        "representations": {n: _entry(n, {"knn": 8 + i, "logreg": 9 + i}) for i, n in enumerate(names)},
        "baseline": _entry("pixels", {"knn": 10, "logreg": 14}),
        "ceiling": _entry("face_recognition", {"knn": 30, "logreg": NUM_ITEMS}, coverage=1.0)
        if ceiling
        else None,
    }


def test_audit_chart_has_the_audits_wilson_intervals_as_error_bars():
    result = _result()
    rows = [*result["representations"].values(), result["baseline"], result["ceiling"]]
    (ax,) = audit_figure(result).axes
    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert [c.orientation for c in bars] == ["horizontal", "horizontal"]  # one set per probe
    for kind, container in zip(("knn", "logreg"), bars, strict=True):
        assert container.errorbar is not None
        (segments,) = [c.get_segments() for c in container.errorbar.lines[2]]
        drawn = np.array([[seg[0][0], seg[1][0]] for seg in segments])  # (rows, 2): x of each end
        np.testing.assert_allclose(drawn, [entry[kind]["ci95"] for entry in rows])
        assert [bar.get_width() for bar in container] == [entry[kind]["accuracy"] for entry in rows]


@pytest.mark.parametrize("ceiling", [True, False])
def test_audit_chart_labels_are_horizontal_and_apart(ceiling):
    figure = audit_figure(_result(ceiling))
    renderer = FigureCanvasAgg(figure).get_renderer()
    figure.draw(renderer)
    (ax,) = figure.axes
    labels = ax.get_yticklabels()
    texts = [label.get_text() for label in labels]
    expected = ["probs", "clip_embedding", "frame_embedding", "latent", "sr_body", "pixels (input baseline)"]
    assert texts == expected + (["face_recognition (ceiling)"] if ceiling else [])
    assert all(label.get_rotation() == 0 for label in labels)
    boxes = sorted((label.get_window_extent(renderer) for label in labels), key=lambda box: box.y0)
    assert all(low.y1 <= high.y0 for low, high in zip(boxes, boxes[1:]))  # no two labels overlap
    legend = figure.legends[0].get_texts()
    assert any(t.get_text().startswith("ceiling") for t in legend) == ceiling


def test_write_report_writes_chart_and_tables(tmp_path):
    paths = write_report(_result(), tmp_path)
    assert paths["audit.png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = paths["audit.md"].read_text()
    assert "![re-identification accuracy per representation](audit.png)" in markdown
    assert "['" not in markdown and "{'" not in markdown  # no Python reprs in the tables
