from pathlib import Path

import numpy as np
import pytest

from vemd.errors import DataError
from vemd.eval.plots import plot_confusion, plot_sr_heatmaps, plot_timeline, plot_training_curves
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


def test_plot_timeline(tmp_path):
    rng = np.random.default_rng(1)
    windows = []
    for i in range(8):
        probs = rng.dirichlet(np.ones(3))
        windows.append(
            {"start": 2.5 * i, "end": 2.5 * i + 5, "label": CLASSES[int(probs.argmax())], "probs": probs}
        )
    _assert_png(plot_timeline(windows, CLASSES, tmp_path / "timeline.png"))
    single = [{"start": 0.0, "end": 5.0, "label": 1, "probs": [0.2, 0.5, 0.3]}]
    _assert_png(plot_timeline(single, CLASSES, tmp_path / "single.png"))


def test_plot_training_curves(tmp_path):
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

    losses_only = tmp_path / "losses.csv"
    losses_only.write_text("step,train/loss\n0,1.0\n1,0.8\n")
    _assert_png(plot_training_curves(losses_only, tmp_path / "losses.png"))
    nothing = tmp_path / "nothing.csv"
    nothing.write_text("step,lr\n0,0.1\n")
    with pytest.raises(DataError, match="no loss or score column"):
        plot_training_curves(nothing, tmp_path / "none.png")
