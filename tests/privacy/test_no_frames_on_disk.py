"""``vemd predict`` and ``vemd serve`` write no frame, crop or array of pixels to disk.

Each run happens in a fresh folder that holds the working directory, ``TMPDIR``, the inputs
and ``--out``; every file in it is listed before and after (:mod:`tests.privacy.helpers`), and
every file the process opens for writing anywhere is recorded. Only the documented outputs
may appear: ``--out``'s results, table and timeline chart (no lock file); nothing at all without
``--out``, and nothing once ``vemd serve`` has answered.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tests.data import bad_media
from tests.privacy.helpers import WriteSpy, media_kind, new_files, new_media_files, snapshot, use_tmpdir

import vemd.eval.plots  # noqa: F401  (before any snapshot: matplotlib writes its font cache on first use)
from vemd.cli import main
from vemd.inference.predictor import GroupEmotionPredictor
from vemd.inference.report import RESULTS, TIMELINE, plot_name

FPS = 10


@pytest.fixture()
def place(tmp_path, monkeypatch):
    """(root, inputs): a working directory, ``TMPDIR`` and an image and a 2-s video, under root."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    use_tmpdir(monkeypatch, tmp_path / "tmp")
    media = tmp_path / "media"
    return tmp_path, [bad_media.good_jpeg(media), bad_media.video(media, 2 * FPS, fps=FPS)]


def _chart(path: str) -> bool:
    """Whether a PNG is a timeline chart, not a frame: wider than high, larger than the frames."""
    with Image.open(path) as image:
        width, height = image.size
    return width > 2 * height and width > 4 * bad_media.WIDTH


@pytest.mark.parametrize("json_lines", [False, True], ids=["text", "json"])
@pytest.mark.parametrize("with_out", [False, True], ids=["stdout", "out"])
def test_vemd_predict_writes_only_its_documented_outputs(place, ve_md_sr, json_lines, with_out, capsys):
    root, inputs = place
    out = root / "out"
    args = ["predict", *map(str, inputs), "--ckpt", str(ve_md_sr.model), "--window", "1"]
    args += ["--json"] * json_lines + ["--out", str(out)] * with_out
    watched = (root, ve_md_sr.model.parent)
    before = snapshot(*watched)
    with WriteSpy() as spy:
        assert main(args) == 0
    after = snapshot(*watched)
    assert capsys.readouterr().out.count(str(inputs[1])) >= 1  # it did predict

    plot = str(out / plot_name(inputs[1]))  # the video has 2 windows: a timeline chart
    documented = {str(out / name) for name in (RESULTS, TIMELINE)} | {plot}  # no lock file left
    assert set(new_files(before, after)) == (documented if with_out else set())
    media = new_media_files(before, after)
    assert set(media) <= {plot} and all(_chart(path) for path in media)
    # written anywhere, by Python code: documented outputs, their temporary names, or no media
    assert spy.media_writes(spy.outside(out)) == {}
    assert set(spy.media_writes(spy.paths)) <= {plot}
    assert not with_out or spy.paths  # the spy saw the outputs being written


def test_the_predictor_api_writes_nothing(place, ve_md_sr):
    root, inputs = place
    predictor = GroupEmotionPredictor(ve_md_sr.model, window=1)
    before = snapshot(root, ve_md_sr.model.parent)
    with WriteSpy() as spy:
        for path in inputs:
            predictor.predict(path)
        predictor.predict(np.random.default_rng(0).integers(0, 256, (3, 48, 64, 3), np.uint8), fps=FPS)
    assert new_files(before, snapshot(root, ve_md_sr.model.parent)) == []
    assert spy.media_writes() == {}


def test_vemd_serve_keeps_no_upload_and_writes_no_frame(place, ve_md_sr, monkeypatch):
    pytest.importorskip("fastapi", reason="fastapi is not installed (extra 'serve')")
    from fastapi.testclient import TestClient

    from vemd.serve.app import create_app

    root, inputs = place
    tmp = root / "tmp"
    app = create_app(ve_md_sr.model, max_concurrent=1)  # uploads go under TMPDIR
    before = snapshot(root, ve_md_sr.model.parent)
    during: list[dict[str, str]] = []  # the media files present while the model runs
    predict = GroupEmotionPredictor.predict

    def watched_predict(self, source, **kwargs):
        found = new_media_files(before, snapshot(root))
        during.append({os.path.relpath(path, tmp): kind for path, kind in found.items()})
        return predict(self, source, **kwargs)

    monkeypatch.setattr(GroupEmotionPredictor, "predict", watched_predict)
    with TestClient(app) as client, WriteSpy() as spy:
        for path in inputs:
            response = client.post("/v1/predict", files={"file": (path.name, path.read_bytes())})
            assert response.status_code == 200, response.text
            assert new_files(before, snapshot(root, ve_md_sr.model.parent)) == []
            assert list(tmp.iterdir()) == []  # not even the upload's folder
        assert client.get("/v1/model").status_code == 200
    # while the model ran, the upload was there, in its private folder, and seen as media
    assert [list(found.values()) for found in during] == [[media_kind(inputs[0])], [media_kind(inputs[1])]]
    assert all(Path(name).parts[0].startswith("vemd-upload-") for found in during for name in found)
    written = spy.outside(*[tmp / Path(name).parts[0] for found in during for name in found])
    assert spy.media_writes(written) == {}
    assert spy.paths  # the spy saw the upload being spooled


def test_media_files_are_told_by_their_bytes_not_their_names(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (48, 64, 3), np.uint8)
    Image.fromarray(image).save(tmp_path / "frame.txt", format="PNG")
    Image.fromarray(image).save(tmp_path / "frame", format="JPEG")
    np.save(tmp_path / "frame.npy", image)
    np.save(tmp_path / "clip.bin.npy", image[None].repeat(2, 0).transpose(0, 3, 1, 2))  # (T, C, H, W)
    np.savez(tmp_path / "frames.npz", probs=np.ones(3), frame=image)
    np.save(tmp_path / "probs.npy", np.ones((4, 3)))  # a table, not an image
    np.savez(tmp_path / "table.npz", probs=np.ones((4, 3)))
    (tmp_path / "result.json").write_text('{"label": "a"}')
    clip = bad_media.video(tmp_path, 3, "clip.dat")
    kinds = {path.name: media_kind(path) for path in tmp_path.iterdir()}
    assert kinds == {
        "frame.txt": "png",
        "frame": "jpeg",
        "frame.npy": "npy",
        "clip.bin.npy": "npy",
        "frames.npz": "npz",
        "probs.npy": None,
        "table.npz": None,
        "result.json": None,
        clip.name: "mp4",
    }
    before = snapshot(tmp_path)
    (tmp_path / "result.json").write_text('{"label": "bc"}')  # changed, not media
    Image.fromarray(image).save(tmp_path / "new.gif")
    assert new_files(before, snapshot(tmp_path)) == [str(tmp_path / "new.gif"), str(tmp_path / "result.json")]
    assert new_media_files(before, snapshot(tmp_path)) == {str(tmp_path / "new.gif"): "gif"}
