from pathlib import Path

import numpy as np
import pytest

from vemd.errors import DataError
from vemd.eval.plots import (
    plot_confusion,
    plot_sr_heatmaps,
    plot_timeline,
    plot_training_curves,
    timeline_figure,
    training_curves_figure,
    window_pieces,
)
from vemd.structure.skeleton import BODY, FACE_HEATMAP_SKELETON
from vemd.structure.targets import render_limb_heatmaps

CLASSES = ["Negative", "Neutral", "Positive"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures"


def _assert_png(path: Path, min_size: tuple[int, int] = (200, 150)) -> None:
    from matplotlib.image import imread

    assert path.read_bytes()[:8] == PNG_MAGIC
    image = imread(path)
    assert image.shape[1] >= min_size[0] and image.shape[0] >= min_size[1]
    assert image[..., :3].std() > 0.01  # not a blank canvas


def test_plot_confusion(tmp_path):
    path = plot_confusion([[5, 1, 0], [2, 7, 1], [0, 0, 0]], CLASSES, tmp_path / "figs" / "confusion.png")
    _assert_png(path)
    _assert_png(plot_confusion([[5, 1], [2, 7]], CLASSES[:2], tmp_path / "counts.png", normalize=False))


def _person(cx: float, cy: float, scale: float) -> np.ndarray:
    """A standing COCO-17 stick figure centred at (cx, cy), all joints visible."""
    xy = np.array(
        [[0, -3], [-0.3, -3.2], [0.3, -3.2], [-0.6, -3], [0.6, -3], [-1, -2], [1, -2], [-1.5, -1], [1.5, -1],
         [-1.8, 0], [1.8, 0], [-0.7, 0], [0.7, 0], [-0.8, 1.5], [0.8, 1.5], [-0.9, 3], [0.9, 3]]
    )  # fmt: skip
    return np.concatenate([xy * scale + [cx, cy], np.ones((17, 1))], axis=1)


def test_plot_sr_heatmaps(tmp_path):
    people = np.stack([_person(60, 110, 18), _person(150, 100, 22)])
    target = np.stack(
        [render_limb_heatmaps(people + [t * 8, 0, 0], BODY, 224, 224) for t in range(3)]
    )  # (T, L, 56, 56)
    pred = np.clip(target * 0.8 + np.random.default_rng(0).normal(0, 0.05, target.shape), 0, 1)
    path = plot_sr_heatmaps(pred, target, tmp_path / "sr.png", title="body heatmaps")
    _assert_png(path)

    frames = np.full((3, 224, 224, 3), 90, dtype=np.uint8)
    _assert_png(plot_sr_heatmaps(pred.sum(1), target.sum(1), tmp_path / "sr_frames.png", frames=frames))
    with pytest.raises(ValueError, match="share"):
        plot_sr_heatmaps(pred[:2], target, tmp_path / "bad.png")


def _real_faces() -> tuple[np.ndarray, np.ndarray]:
    """The first ground-truth photo of the fixtures: (H, W, 3) uint8 image and (N, 68, 3) landmarks."""
    import xml.etree.ElementTree as ET

    from matplotlib.image import imread

    xml = FIXTURES / "faces_gt" / "training_with_face_landmarks.xml"
    if not xml.is_file():
        pytest.skip(f"fixture landmarks missing: {xml}")
    image = ET.parse(xml).getroot().find("images/image")
    faces = [
        [
            [float(part.get("x")), float(part.get("y")), 1.0]
            for part in sorted(box, key=lambda q: q.get("name"))
        ]
        for box in image.findall("box")
    ]
    return imread(xml.parent / image.get("file")).astype(np.uint8), np.array(faces)


def test_plot_sr_heatmaps_on_real_face_landmarks(tmp_path):
    frame, faces = _real_faces()
    height, width = frame.shape[:2]
    target = render_limb_heatmaps(faces, FACE_HEATMAP_SKELETON, width, height)[None]  # (1, 83, 56, 56)
    pred = np.roll(target, 1, axis=-1) * 0.7
    path = plot_sr_heatmaps(pred, target, tmp_path / "faces.png", frames=frame[None], title="face SR")
    _assert_png(path)


def _windows(num: int = 8) -> list[dict]:
    rng = np.random.default_rng(1)
    windows = []
    for i in range(num):
        probs = rng.dirichlet(np.ones(3))
        windows.append(
            {"start": 2.5 * i, "end": 2.5 * i + 5, "label": CLASSES[int(probs.argmax())], "probs": probs}
        )
    return windows


def test_plot_timeline(tmp_path):
    _assert_png(plot_timeline(_windows(), CLASSES, tmp_path / "timeline.png"))
    single = [{"start": 0.0, "end": 5.0, "label": 1, "probs": [0.2, 0.5, 0.3]}]
    _assert_png(plot_timeline(single, CLASSES, tmp_path / "single.png"))


def test_timeline_areas_hold_each_windows_probabilities_over_the_time_it_covers():
    """Steps, not ramps between window centres: nothing drawn changes where nothing was measured."""
    windows = [
        {"start": 0.0, "end": 5.0, "label": 0, "probs": [0.8, 0.1, 0.1]},
        {"start": 5.0, "end": 10.0, "label": 2, "probs": [0.1, 0.1, 0.8]},
        {"start": 12.0, "end": 14.0, "label": 1, "probs": [0.2, 0.6, 0.2]},  # after a gap
    ]
    assert [(a, b) for a, b, _ in window_pieces(windows)] == [(0, 5), (5, 10), (12, 14)]
    probs, pred = timeline_figure(windows, CLASSES).axes
    first = {tuple(np.round(v, 6)) for v in probs.collections[0].get_paths()[0].vertices}
    assert {(0.0, 0.8), (5.0, 0.8), (5.0, 0.1), (10.0, 0.1)} <= first  # Negative: 0.8, then 0.1 at 5 s
    assert not any(10.0 < x < 12.0 for c in probs.collections for x, _ in c.get_paths()[0].vertices)
    assert len(_band_colors(pred)) == 3
    overlapping = [
        {"start": 0.0, "end": 4.0, "label": 0, "probs": [1.0, 0.0, 0.0]},
        {"start": 2.0, "end": 6.0, "label": 1, "probs": [0.0, 1.0, 0.0]},
    ]
    pieces = window_pieces(overlapping)
    assert [(a, b) for a, b, _ in pieces] == [(0, 2), (2, 4), (4, 6)]
    assert pieces[1][2].tolist() == [0.5, 0.5, 0.0]  # the mean of the two windows covering it


def _band_colors(ax) -> list[tuple]:
    """Face colours of a label band's spans, left to right."""
    spans = sorted(ax.collections, key=lambda c: c.get_paths()[0].vertices[:, 0].min())
    return [tuple(c.get_facecolor()[0][:3]) for c in spans]


def test_timeline_truth_band_above_the_probabilities():
    truth = [{"start": 0, "end": 10, "label": "Negative"}, {"start": 10, "end": 22.5, "label": 2}]
    figure = timeline_figure(_windows(), CLASSES, truth)
    top, probs, pred = figure.axes
    assert [ax.get_ylabel() for ax in (top, pred)] == ["truth", "pred"]
    assert probs.get_ylabel() == "probability" and top.get_position().y0 > probs.get_position().y0
    colors = [tuple(area.get_facecolor()[0][:3]) for area in probs.collections]  # one area per class
    assert _band_colors(top) == [colors[0], colors[2]]  # Negative, then Positive
    assert len(_band_colors(pred)) == 9  # 8 windows 5 s long every 2.5 s: 9 pieces of 2.5 s
    # vemd predict knows no truth: the probabilities and the predicted band only
    assert [ax.get_ylabel() for ax in timeline_figure(_windows(), CLASSES).axes] == ["probability", "pred"]
    with pytest.raises(ValueError, match="truth label 'Happy' is not one of Negative, Neutral, Positive"):
        timeline_figure(_windows(), CLASSES, [{"start": 0, "end": 5, "label": "Happy"}])


def _quickstart_metrics_csv(path: Path) -> Path:
    """A metrics.csv laid out as Lightning's CSVLogger writes a quickstart run (VE-MD-SR, body
    heatmaps, latent probe): step rows of training terms and the learning rate, sparse epoch rows
    of validation terms and scores (accuracy equal to UAR, as on balanced classes)."""
    terms = ["loss", "loss_body", "loss_body_heatmap", "loss_cls", "loss_latent_probe", "loss_mmd"]
    header = ["epoch", "lr-AdamW", "step", *(f"train/{t}" for t in terms), "val/accuracy"]
    header += [*(f"val/{t}" for t in terms), "val/uar"]
    lines = [",".join(header)]
    for epoch in range(3):
        for step in range(epoch * 10, epoch * 10 + 10):
            body = 0.2 / (1 + step)
            train = [
                3 - 0.05 * step,
                body,
                body,
                1.1 - 0.02 * step,
                1.2 - 0.02 * step,
                0.0 if step == 0 else 0.1,
            ]
            lines.append(",".join(map(str, [epoch, 1e-3, step, *train, *[""] * (len(terms) + 2)])))
        score = 0.5 + 0.1 * epoch
        val = [2.5 - 0.2 * epoch, 0.03, 0.03, 0.8 - 0.1 * epoch, 0.85 - 0.1 * epoch, 0.2]
        lines.append(",".join(map(str, [epoch, "", epoch * 10 + 9, *[""] * len(terms), score, *val, score])))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_training_curves_panels(tmp_path):
    metrics = _quickstart_metrics_csv(tmp_path / "stage2" / "logs" / "metrics.csv")
    _assert_png(plot_training_curves(metrics, tmp_path / "curves.png"))
    figure = training_curves_figure(metrics)
    panels = {ax.get_title(): ax for ax in figure.axes}
    assert list(panels) == [
        "total loss",
        "emotion terms",
        "structural and latent terms",
        "validation scores",
        "learning rate",
    ]
    legend = lambda ax: [t.get_text() for t in ax.get_legend().get_texts()]  # noqa: E731
    structural = panels["structural and latent terms"]
    assert structural.get_yscale() == "log"
    # equal columns are drawn once, named after both; train and validation share a colour and a legend entry
    assert legend(structural) == ["loss_body = loss_body_heatmap", "loss_mmd"]
    assert len(structural.get_lines()) == 4
    assert all(panels[t].get_yscale() == "linear" for t in panels if t != "structural and latent terms")
    assert legend(panels["emotion terms"]) == ["loss_cls", "loss_latent_probe"]
    train, val = (line for line in panels["total loss"].get_lines())
    assert train.get_linestyle() == "-" and val.get_linestyle() == "--" and val.get_marker() == "o"
    # accuracy and UAR coincide here and stay distinguishable: other line, marker and fill
    accuracy, uar = panels["validation scores"].get_lines()
    assert np.array_equal(accuracy.get_ydata(), uar.get_ydata())
    assert accuracy.get_linestyle() != uar.get_linestyle() and accuracy.get_marker() != uar.get_marker()
    assert uar.get_markerfacecolor() == "none" and uar.get_markersize() > accuracy.get_markersize()
    assert panels["validation scores"].get_xlabel() == "epoch"


def test_training_curves_of_sparse_files(tmp_path):
    # the layout of a Lightning CSVLogger file: step-level rows and sparse epoch-level rows
    lines = ["epoch,step,train/loss_cls,train/loss,val/loss,val/accuracy,lr"]
    for epoch in range(4):
        for step in range(epoch * 5, epoch * 5 + 5):
            lines.append(f"{epoch},{step},{1.5 - 0.05 * step},{2 - 0.06 * step},,,0.001")
        lines.append(f"{epoch},{epoch * 5 + 4},,,{1.4 - 0.1 * epoch},{0.4 + 0.1 * epoch},")
    metrics = tmp_path / "version_0" / "metrics.csv"
    metrics.parent.mkdir()
    metrics.write_text("\n".join(lines) + "\n")
    _assert_png(plot_training_curves(metrics, tmp_path / "curves.png"))
    titles = [ax.get_title() for ax in training_curves_figure(metrics).axes]
    assert titles == ["total loss", "emotion terms", "validation scores", "learning rate"]

    losses_only = tmp_path / "losses.csv"
    losses_only.write_text("step,train/loss\n0,1.0\n1,0.8\n")
    _assert_png(plot_training_curves(losses_only, tmp_path / "losses.png"))
    assert len(training_curves_figure(losses_only).axes) == 1
    nothing = tmp_path / "nothing.csv"
    nothing.write_text("step,lr\n0,0.1\n")
    with pytest.raises(DataError, match="no loss or score column"):
        plot_training_curves(nothing, tmp_path / "none.png")
