"""Every bad input through every command that reads it: one line naming the file, the
documented exit code, no traceback, no partial output, no payload run (see harness.py).

Each case writes its bad input into its own folder, runs ``vemd.cli.main`` in this process
and judges the outcome by one rule (``harness.check``). Cases run on a copy of a small
``vemd synth`` set (4 train, 2 val clips of one 64×64 frame) and a tiny random model.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from tests.annotate.helpers import stub_backend
from tests.data import bad_media
from tests.faults.cases import (
    CONFIG_KINDS,
    POISON_KINDS,
    PREDICTION_KINDS,
    SHARD_KINDS,
    TORCH_FILE_KINDS,
    Workspace,
    config_file,
    damage_shard,
    flip_bytes,
    poison_shard,
    predictions_csv,
    predictions_file,
    rewrite_model,
    set_manifest_row,
    store_keys,
    torch_file,
)
from tests.faults.harness import ERROR, NOTICE, OK, PROBLEM, check, run_cli, snapshot

# A tiny stage-2 run over the dataset: a few seconds.
FIT = (
    "model.image_size=64",
    "model.vit.kwargs.img_size=64",
    "model.latent_dim=16",
    "model.heatmap.up_channels=[32,16,8,8]",
    "model.heatmap.stage_channels=8",
    "model.heatmap.num_stages=1",
    "model.cnn.custom_channels=[8,16,24,32]",
    "model.emotion.mlp_hidden=32",
    "model.emotion.feedforward_dim=32",
    "train.stage=2",
    "train.batch_size=2",
    "train.max_epochs=1",
)
BROKEN_IMAGES = (
    "zero_byte_jpg",
    "truncated_jpeg",
    "truncated_jpeg_with_thumbnail",
    "truncated_png",
    "text_named_jpg",
)
UNUSUAL_IMAGES = ("cmyk_jpeg", "png16", "rgba_png", "gray_jpeg")
VIDEOS = {  # maker → what data check and predict must make of it
    "cut_index_first": (lambda f: bad_media.cut_mp4(f, index_first=True), PROBLEM, NOTICE),
    "cut_index_last": (lambda f: bad_media.cut_mp4(f, index_first=False), PROBLEM, ERROR),
    "video0": (lambda f: bad_media.video(f, 0), PROBLEM, ERROR),
    "video1": (lambda f: bad_media.video(f, 1), OK, OK),
    "missing": (lambda f: f / "missing.mp4", PROBLEM, ERROR),
}


@dataclass
class Run:
    """A prepared command: its argv, what it must name, and extra checks of the result."""

    argv: list
    bad: Path | str
    partial: tuple[str, ...] = ()  # files a failed run may leave (run-folder logs)
    then: Callable[[Workspace], None] | None = None


@dataclass(frozen=True)
class Case:
    id: str
    area: str  # data/media, predict/model, config/CLI, fit
    expect: str
    setup: Callable[[Workspace], Run]
    code: int | tuple[int, ...] | None = None  # NOTICE's exit code when not 0
    backend: bool = False  # register the stub annotation backend
    marks: tuple = field(default_factory=tuple)


CASES: list[Case] = []


def case(id: str, area: str, expect: str, setup: Callable[[Workspace], Run], **kw) -> None:
    CASES.append(Case(id, area, expect, setup, **kw))


# ---------------------------------------------------------------- helpers building a run


def _media_in_dataset(ws: Workspace, make, clip: str = "train-000001") -> tuple[Path, Path]:
    """The dataset copy with ``clip``'s media replaced by the file ``make(folder)`` writes."""
    root = ws.dataset()
    bad = make(root / "media")
    set_manifest_row(root, clip, path=str(bad.relative_to(root)))
    return root, bad


def _check_argv(root: Path) -> list:
    return ["data", "check", "synth", root, "--split", "train", "--split", "val", "--json"]


def _fit_argv(ws: Workspace, root: Path, *extra: str) -> list:
    sets = [f"data.root={root}", "data.name=synth", f"train.out_dir={ws.root / 'R'}", *FIT, *extra]
    return ["fit", "--config", "tiny", *[a for s in sets for a in ("--set", s)]]


def _test_argv(ws: Workspace, root: Path, ckpt: Path) -> list:
    sets = ("--set", f"data.root={root}", "--set", "data.name=synth")
    return ["test", "--ckpt", ckpt, "--config", "tiny", *sets, "--split", "val", "--out", ws.root / "T"]


def _no_export(ws: Workspace) -> None:
    for name in ("model.pt", "fit.json"):
        assert not (ws.root / "R" / name).exists(), f"a failed fit exported {name}"


def _exported(ws: Workspace) -> None:
    assert (ws.root / "R" / "model.pt").is_file(), "fit did not export model.pt"


def _predicted(count: int = 1) -> Callable[[Workspace], None]:
    def then(ws: Workspace) -> None:
        entries = json.loads((ws.root / "P" / "predictions.json").read_text())
        assert len(entries) == count, entries

    return then


def _annotated(present: list[str], absent: list[str]) -> Callable[[Workspace], None]:
    """The store holds a key of every ``present`` source and none of ``absent``."""

    def then(ws: Workspace) -> None:
        sources = {key.rsplit("/", 1)[0] for key in store_keys(ws.root / "S")}
        assert set(present) <= sources and not set(absent) & sources, sources

    return then


def _annotate_argv(ws: Workspace, source: Path, *extra) -> list:
    return ["annotate", source, "--out", ws.root / "S", "--backend", "stub", "--no-progress", *extra]


# ---------------------------------------------------------------- images


for maker in BROKEN_IMAGES:
    make = getattr(bad_media, maker)
    case(
        f"data-check-{maker}",
        "data/media",
        PROBLEM,
        lambda ws, make=make: _data_check_run(ws, make),
    )
    case(
        f"predict-{maker}",
        "data/media",
        ERROR,
        lambda ws, make=make: Run(
            ["predict", "--ckpt", ws.model(), bad := make(ws.folder("in")), "--out", ws.root / "P"], bad
        ),
    )
    case(
        f"annotate-{maker}",
        "data/media",
        NOTICE,
        lambda ws, make=make: _annotate_one_bad(ws, make),
        code=3,
        backend=True,
    )
for maker in ("zero_byte_jpg", "truncated_jpeg"):
    make = getattr(bad_media, maker)
    case(
        f"fit-{maker}",
        "fit",
        ERROR,
        lambda ws, make=make: Run(
            _fit_argv(ws, (media := _media_in_dataset(ws, make))[0]), media[1], ("R",), _no_export
        ),
    )
    case(
        f"test-{maker}",
        "data/media",
        ERROR,
        lambda ws, make=make: Run(
            _test_argv(ws, (media := _media_in_dataset(ws, make, "val-000000"))[0], ws.model()), media[1]
        ),
    )
case(
    "fit-skip-bad-truncated_jpeg",
    "fit",
    NOTICE,
    lambda ws: Run(
        [*_fit_argv(ws, (media := _media_in_dataset(ws, bad_media.truncated_jpeg))[0], "train.max_epochs=2")]
        + ["--skip-bad"],
        media[1],
        then=_exported,
    ),
)


def _data_check_run(ws: Workspace, make) -> Run:
    root, bad = _media_in_dataset(ws, make)
    return Run(_check_argv(root), bad)


def _annotate_one_bad(ws: Workspace, make) -> Run:
    folder = ws.folder("in")
    bad_media.good_jpeg(folder)
    bad = make(folder)
    return Run(_annotate_argv(ws, folder), bad, then=_annotated(["good.jpg"], [bad.name]))


for maker in (*UNUSUAL_IMAGES, "huge_image"):
    make = getattr(bad_media, maker)
    case(f"data-check-{maker}-works", "data/media", OK, lambda ws, make=make: _data_check_run(ws, make))
    case(
        f"predict-{maker}-works",
        "data/media",
        OK,
        lambda ws, make=make: Run(
            ["predict", "--ckpt", ws.model(), bad := make(ws.folder("in")), "--out", ws.root / "P"],
            bad,
            then=_predicted(),
        ),
    )
for maker in UNUSUAL_IMAGES:
    make = getattr(bad_media, maker)
    case(
        f"annotate-{maker}-works",
        "data/media",
        OK,
        lambda ws, make=make: Run(
            _annotate_argv(ws, folder := ws.folder("in"), "--frames", "1"),
            bad := make(folder),
            then=_annotated([bad.name], []),
        ),
        backend=True,
    )
case(
    "test-cmyk_jpeg-works",
    "data/media",
    OK,
    lambda ws: Run(
        _test_argv(ws, (m := _media_in_dataset(ws, bad_media.cmyk_jpeg, "val-000000"))[0], ws.model()), m[1]
    ),
)


# ---------------------------------------------------------------- videos


for name, (make, in_check, in_predict) in VIDEOS.items():
    case(f"data-check-{name}", "data/media", in_check, lambda ws, make=make: _data_check_run(ws, make))
    then = _predicted() if in_predict != ERROR else None
    case(
        f"predict-{name}",
        "data/media",
        in_predict,
        lambda ws, make=make, then=then: Run(
            ["predict", "--ckpt", ws.model(), bad := make(ws.folder("in")), "--out", ws.root / "P"],
            bad,
            then=then,
        ),
    )


def _annotate_cut_video(ws: Workspace) -> Run:
    from vemd.data.media import decodable_frames

    folder = ws.folder("in")
    bad = bad_media.cut_mp4(folder)
    decodable = decodable_frames(bad)

    def then(ws: Workspace) -> None:
        frames = [int(k.rsplit("/", 1)[1]) for k in store_keys(ws.root / "S") if k.startswith(bad.name)]
        assert all(f < decodable for f in frames), f"stored frames {frames}, only {decodable} decode"

    return Run(_annotate_argv(ws, folder, "--frames", "5"), bad, then=then)


# Annotating a cut video: only frames that decode are stored, and one line says so; the
# item may be kept (exit 0) or counted as a failed source (exit 3), both documented rules.
case("annotate-cut_index_first", "data/media", NOTICE, _annotate_cut_video, code=(0, 3), backend=True)
case(
    "annotate-video0",
    "data/media",
    NOTICE,
    lambda ws: Run(
        _annotate_argv(ws, f := ws.folder("in")),
        (bad_media.good_jpeg(f), bad_media.video(f, 0))[1],
        then=_annotated(["good.jpg"], ["video0.mp4"]),
    ),
    code=3,
    backend=True,
)
case(
    "annotate-missing-input",
    "config/CLI",
    ERROR,
    lambda ws: Run(_annotate_argv(ws, ws.root / "nothing-here"), ws.root / "nothing-here"),
    backend=True,
)
case(
    "predict-folder-without-media",
    "predict/model",
    ERROR,
    lambda ws: Run(
        ["predict", "--ckpt", ws.model(), f := ws.folder("empty"), "--out", ws.root / "P"],
        (f / "notes.txt").write_text("no media here") and f,
    ),
)
case(
    "predict-out-is-a-file",
    "predict/model",
    ERROR,
    lambda ws: Run(
        [
            "predict",
            "--ckpt",
            ws.model(),
            bad_media.good_jpeg(ws.folder("in")),
            "--out",
            out := ws.root / "out.txt",
        ],
        (out.write_text("mine") and out),
    ),
)
for window in ("0", "-1", "nan"):
    case(
        f"predict-window-{window}",
        "predict/model",
        ERROR,
        lambda ws, window=window: Run(
            ["predict", "--ckpt", ws.model(), bad_media.video(ws.folder("in"), 20), "--window", window],
            "--window",
        ),
    )


# ---------------------------------------------------------------- inputs that are not what they seem (issue 27 §3)


def _predict_run(ws: Workspace, make, bad=None, then=None) -> Run:
    """``vemd predict`` of the file ``make(folder)`` writes; ``bad`` what the line must name."""
    path = make(ws.folder("in"))
    return Run(["predict", "--ckpt", ws.model(), path, "--out", ws.root / "P"], bad or path, then=then)


def _duration(seconds: float, windows: int) -> Callable[[Workspace], None]:
    def then(ws: Workspace) -> None:
        (entry,) = json.loads((ws.root / "P" / "predictions.json").read_text())
        assert entry["duration"] == pytest.approx(seconds, abs=0.05), entry["duration"]
        assert len(entry["windows"]) == windows, entry["windows"]

    return then


def _symlink_loop(folder: Path) -> Path:
    loop = folder / "loop.mp4"
    loop.symlink_to(loop)
    return loop


def _vfr_mkv(folder: Path) -> Path:
    return bad_media.timed_video(folder, bad_media.vfr_times(80, 16.9), "vfr.mkv")


def _webm_1000_fps(folder: Path) -> Path:
    times = [float(k) for k in range(60)]  # a frame a second, declared 1000 fps
    return bad_media.timed_video(folder, times, "ms.webm", format="webm", codec="libvpx", rate=1000)


NOT_MEDIA = {  # maker → what data check, predict and annotate (in a folder, exit 3) make of it
    "text_file": (bad_media.text_file, PROBLEM, ERROR),
    "text_named_mp4": (lambda f: bad_media.text_file(f, "notes.mp4"), PROBLEM, ERROR),
    "cut_mkv": (bad_media.cut_mkv, PROBLEM, NOTICE),
    "corrupt_mkv": (bad_media.corrupt_mkv, PROBLEM, NOTICE),
    "corrupt_jpeg": (bad_media.corrupt_jpeg, PROBLEM, NOTICE),
}
for name, (make, in_check, in_predict) in NOT_MEDIA.items():
    case(f"data-check-{name}", "data/media", in_check, lambda ws, make=make: _data_check_run(ws, make))
    then = None if in_predict == ERROR else _predicted()
    case(
        f"predict-{name}",
        "data/media",
        in_predict,
        lambda ws, make=make, then=then: _predict_run(ws, make, then=then),
    )
case(
    "annotate-text_named_mp4",
    "data/media",
    NOTICE,
    lambda ws: Run(
        _annotate_argv(ws, f := ws.folder("in")),
        (bad_media.good_jpeg(f), bad_media.text_file(f, "notes.mp4"))[1],
        then=_annotated(["good.jpg"], ["notes.mp4"]),
    ),
    code=3,
    backend=True,
)
case(
    "annotate-corrupt_jpeg",
    "data/media",
    NOTICE,
    lambda ws: Run(
        _annotate_argv(ws, f := ws.folder("in"), "--frames", "1"),
        bad := bad_media.corrupt_jpeg(f),
        then=_annotated([bad.name], []),
    ),
    backend=True,
)
case("predict-symlink-loop", "data/media", ERROR, lambda ws: _predict_run(ws, _symlink_loop, "symlink loop"))
case(
    "annotate-symlink-loop",
    "data/media",
    ERROR,
    lambda ws: Run(_annotate_argv(ws, _symlink_loop(ws.folder("in"))), "symlink loop"),
    backend=True,
)
case(
    "predict-newline-in-name",
    "data/media",
    ERROR,
    lambda ws: _predict_run(ws, lambda f: bad_media.text_file(f, "two\nlines.txt"), r"two\nlines.txt"),
)
# Time from timestamps: 80 frames over 16.9 s (3 windows of 5 s), 60 frames a second apart (12)
case(
    "predict-vfr-mkv-works",
    "data/media",
    OK,
    lambda ws: _predict_run(ws, _vfr_mkv, then=_duration(16.94, 3)),
)
case(
    "predict-webm-1000-fps-works",
    "data/media",
    OK,
    lambda ws: _predict_run(ws, _webm_1000_fps, then=_duration(59.0, 12)),
)
case("predict-rotated-mp4-works", "data/media", OK, lambda ws: _predict_run(ws, bad_media.rotated_mp4))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("command", ["predict", "data-check", "annotate"])
def test_a_named_pipe_is_one_line_and_never_blocks(command, base_dataset, base_model, tmp_path, capfd):
    """A FIFO without a writer (``<(...)``, a pipe at ``/dev/stdin``): refused before it is
    opened. It lies outside the checked folder: reading it to snapshot the folder would block."""
    import os

    ws = Workspace(tmp_path / "case", base_dataset, base_model)
    ws.root.mkdir()
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    if command == "predict":
        argv = ["predict", "--ckpt", ws.model(), fifo, "--out", ws.root / "P"]
    elif command == "annotate":
        argv = _annotate_argv(ws, fifo)
    else:
        root = ws.dataset()
        set_manifest_row(root, "train-000001", path=str(fifo))
        argv = _check_argv(root)
    before = snapshot(ws.root)
    with stub_backend("stub"):
        outcome = run_cli(argv, capfd)
    expect, code = {"predict": (ERROR, None), "annotate": (NOTICE, 3), "data-check": (PROBLEM, None)}[command]
    check(outcome, str(argv[0]), expect, fifo, folder=ws.root, before=before, code=code)


def test_video_frames_over_the_pixel_limit_are_one_line(
    base_dataset, base_model, tmp_path, capfd, monkeypatch
):
    """vemd's pixel limit, lowered below a 64×48 frame (a 12000² frame would be 0.5 GB)."""
    from vemd.data import media

    ws = Workspace(tmp_path, base_dataset, base_model)
    run = _predict_run(ws, lambda f: bad_media.video(f, 10))
    monkeypatch.setattr(media, "MAX_IMAGE_PIXELS", 64 * 48 - 1)
    before = snapshot(tmp_path)
    outcome = run_cli(run.argv, capfd)
    check(outcome, "predict", ERROR, run.bad, folder=tmp_path, before=before)
    assert "video frames of 64×48 pixels exceed vemd's limit" in outcome.stderr


# ---------------------------------------------------------------- manifests (bad labels)


def _bad_label(ws: Workspace, clip: str = "train-000002", **fields: str) -> tuple[Path, Path]:
    root = ws.dataset()
    set_manifest_row(root, clip, **fields)
    return root, root / "manifest.csv"


for kind, fields in {
    "unknown-label": {"label": "Happy"},
    "empty-label": {"label": ""},
    "duplicate-id": {"clip_id": "train-000001"},
}.items():
    case(
        f"data-check-{kind}",
        "data/media",
        PROBLEM,
        lambda ws, fields=fields: Run(_check_argv((b := _bad_label(ws, **fields))[0]), b[1]),
    )
case(
    "fit-unknown-label",
    "data/media",
    ERROR,
    lambda ws: Run(_fit_argv(ws, (b := _bad_label(ws, label="Happy"))[0]), b[1], ("R",), _no_export),
)
case(
    "fit-skip-bad-unknown-label",
    "data/media",
    NOTICE,
    lambda ws: Run(
        [*_fit_argv(ws, (b := _bad_label(ws, label="Happy"))[0]), "--skip-bad"], b[1], then=_exported
    ),
)
case(  # a bad row of the split evaluated; a bad training row does not concern `vemd test --split val`
    "test-unknown-label",
    "data/media",
    ERROR,
    lambda ws: Run(
        _test_argv(ws, _bad_label(ws, "val-000000", label="Happy")[0], ws.model()), "manifest.csv"
    ),
)


# ---------------------------------------------------------------- annotation shards


def _damaged_store(ws: Workspace, kind: str) -> tuple[Path, Path]:
    root = ws.dataset()
    shard = damage_shard(kind, root / "annotations" / "shard-000000.npz", ws.marker)
    return root, shard


for kind in SHARD_KINDS:
    # data check lists a store it cannot read as one problem naming the shard
    case(
        f"data-check-shard-{kind}",
        "data/media",
        PROBLEM,
        lambda ws, kind=kind: Run(_check_argv((d := _damaged_store(ws, kind))[0]), d[1]),
    )
    case(
        f"fit-shard-{kind}",
        "fit",
        ERROR,
        lambda ws, kind=kind: Run(
            _fit_argv(ws, (d := _damaged_store(ws, kind))[0]), d[1], ("R",), _no_export
        ),
    )
    case(
        f"annotate-into-store-shard-{kind}",
        "data/media",
        ERROR,
        lambda ws, kind=kind: Run(
            [
                "annotate",
                bad_media.good_jpeg(ws.folder("in")),
                "--out",
                (d := _damaged_store(ws, kind))[0] / "annotations",
            ]
            + ["--backend", "stub", "--no-progress"],
            d[1],
        ),
        backend=True,
    )
    case(
        f"synth-resume-shard-{kind}",
        "data/media",
        ERROR,
        lambda ws, kind=kind: Run(
            ["synth", "--out", (d := _damaged_store(ws, kind))[0], "--n-train", "4", "--n-val", "2"]
            + ["--frames", "1", "--image-size", "64", "--max-people", "12"],
            d[1],
        ),
    )


# ---------------------------------------------------------------- model files and checkpoints


for kind in TORCH_FILE_KINDS:
    case(
        f"predict-model-{kind}",
        "predict/model",
        ERROR,
        lambda ws, kind=kind: Run(
            ["predict", "--ckpt", m := torch_file(kind, ws.root / "bad.pt", ws.marker)]
            + [bad_media.good_jpeg(ws.folder("in")), "--out", ws.root / "P"],
            m,
        ),
    )
    case(
        f"test-model-{kind}",
        "predict/model",
        ERROR,
        lambda ws, kind=kind: Run(
            _test_argv(ws, ws.dataset(), m := torch_file(kind, ws.root / "bad.pt", ws.marker)), m
        ),
    )
    case(
        f"summary-model-{kind}",
        "config/CLI",
        ERROR,
        lambda ws, kind=kind: Run(
            ["summary", "--config", m := torch_file(kind, ws.root / "bad.pt", ws.marker)], m
        ),
    )
    case(
        f"fit-resume-last-ckpt-{kind}",
        "fit",
        ERROR,
        lambda ws, kind=kind: Run(
            [*_fit_argv(ws, ws.dataset()), "--resume"],
            torch_file(kind, ws.root / "R" / "stage2" / "last.ckpt", ws.marker),
            ("R/stage2/logs", "R/config.yaml"),
            _no_export,
        ),
    )
case(
    "predict-model-valid-works",
    "predict/model",
    OK,
    lambda ws: Run(
        ["predict", "--ckpt", ws.model(), bad_media.good_jpeg(ws.folder("in")), "--out", ws.root / "P"],
        "model.pt",
        then=_predicted(),
    ),
)


# ---------------------------------------------------------------- config files and values


def _config(kind: str) -> Callable[[Workspace], Path]:
    return lambda ws: config_file(kind, ws.folder("cfg"), ws.marker)


for kind in CONFIG_KINDS:
    make_config = _config(kind)
    case(
        f"summary-config-{kind}",
        "config/CLI",
        ERROR,
        lambda ws, c=make_config: Run(["summary", "--config", p := c(ws)], p),
    )
    case(
        f"fit-config-{kind}",
        "config/CLI",
        ERROR,
        lambda ws, c=make_config: Run(
            ["fit", "--config", p := c(ws), "--set", f"train.out_dir={ws.root / 'R'}"], p
        ),
    )
    case(
        f"data-check-config-{kind}",
        "config/CLI",
        ERROR,
        lambda ws, c=make_config: Run(["data", "check", "--config", p := c(ws)], p),
    )
    case(
        f"test-config-{kind}",
        "config/CLI",
        ERROR,
        lambda ws, c=make_config: Run(
            ["test", "--ckpt", ws.model(), "--config", p := c(ws), "--out", ws.root / "T"], p
        ),
    )
    case(
        f"annotate-config-{kind}",
        "config/CLI",
        ERROR,
        lambda ws, c=make_config: Run(
            ["annotate", "--config", p := c(ws), "--backend", "stub", "--no-progress"], p
        ),
        backend=True,
    )
for key, value in {
    "train.batch_size": "0",
    "train.lr": "-1",
    "train.optimizer": "lion",
    "train.precision": "7-bit",
    "train.accelerator": "abacus",
    "train.max_epochs": "0",
    "data.sampling": "sometimes",
    "model.image_size": "0",
    "model.latent_dim": "0",
    "model.vit.name": "no_such_vit_model",
}.items():
    case(
        f"fit-config-value-{key}={value}",
        "config/CLI",
        ERROR,
        lambda ws, key=key, value=value: Run([*_fit_argv(ws, ws.dataset()), "--set", f"{key}={value}"], key),
    )


# ---------------------------------------------------------------- weights, values and records that pass a first look


MODEL_FAULTS = {  # a valid model file changed in place: torch reads each of them without a word
    "flipped-bytes": flip_bytes,  # 64 bytes inside a tensor's data: only the CRC-32s tell
    "nan-weights": lambda m: rewrite_model(m, fill=float("nan")),  # what a diverged run exports
    "inf-weights": lambda m: rewrite_model(m, fill=float("inf")),
    "frames-100000": lambda m: rewrite_model(m, config={"data.frames": 100000}),  # 21.5 GB, then OOM
    "class-named-twice": lambda m: rewrite_model(m, classes=["Negative", "Negative", "Positive"]),
}
for kind, damage in MODEL_FAULTS.items():
    case(
        f"predict-model-{kind}",
        "predict/model",
        ERROR,
        lambda ws, damage=damage: Run(
            ["predict", "--ckpt", m := damage(ws.model()), bad_media.good_jpeg(ws.folder("in"))]
            + ["--json", "--out", ws.root / "P"],
            m,
        ),
    )
    case(
        f"test-model-{kind}",
        "predict/model",
        ERROR,
        lambda ws, damage=damage: Run(_test_argv(ws, ws.dataset(), m := damage(ws.model())), m),
    )
    case(
        f"export-model-{kind}",
        "predict/model",
        ERROR,
        lambda ws, damage=damage: Run(
            [
                "export",
                "--ckpt",
                m := damage(ws.model()),
                "--format",
                "torchscript",
                "--out",
                ws.root / "m.ts",
            ],
            m,
        ),
    )
case(
    "predict-window-1e308",
    "predict/model",
    ERROR,
    lambda ws: Run(
        ["predict", "--ckpt", ws.model(), bad_media.video(ws.folder("in"), 20), "--window", "1e308"],
        "--window",
    ),
)
case(
    "predict-batch-size-100000",
    "predict/model",
    ERROR,
    lambda ws: Run(
        ["predict", "--ckpt", ws.model(), bad_media.good_jpeg(ws.folder("in")), "--batch-size", "100000"],
        "batch size 100000",
    ),
)
# Values the schema's types take but no model, loss or window can: each is one line naming the key
# (or, for timm's own arguments, saying the settings make no working model), before any work.
for key, value, named in (
    ("train.lr", "inf", "train.lr"),
    ("train.lr", "nan", "train.lr"),
    ("train.stage1_lr", "inf", "train.stage1_lr"),
    ("loss.body", "nan", "loss.body"),
    ("loss.mmd", "inf", "loss.mmd"),
    ("loss.cls", "-1", "loss.cls"),
    ("model.image_size", "1", "model.image_size"),
    ("model.emotion.num_heads", "5", "num_heads=5"),
    ("model.vit.kwargs.depth", "-1", "model settings"),
    ("model.vit.kwargs.num_heads", "5", "model settings"),
    ("model.sr.projection", "-1", "model.sr.projection"),
    ("model.emotion.dropout", "5", "model.emotion.dropout"),
    ("model.emotion.mlp_hidden", "-3", "model.emotion.mlp_hidden"),
    ("data.frames", "100000", "data.frames"),
    ("data.class_names", "[Negative,Negative,Positive]", "data.class_names"),
):
    case(
        f"fit-config-value-{key}={value}",
        "config/CLI",
        ERROR,
        lambda ws, key=key, value=value, named=named: Run(
            [*_fit_argv(ws, ws.dataset()), "--set", f"{key}={value}"], named
        ),
    )
case(
    "fit-config-value-python-tag",
    "config/CLI",
    ERROR,
    lambda ws: Run(
        [
            *_fit_argv(ws, ws.dataset()),
            "--set",
            f"model.mode=!!python/object/apply:builtins.open [{ws.marker}, w]",
        ],
        "override",
    ),
)
case(
    "summary-config-base-not-a-name",
    "config/CLI",
    ERROR,
    lambda ws: Run(
        ["summary", "--config", p := ws.folder("cfg") / "base42.yaml"], (p.write_text("base: 42\n"), p)[1]
    ),
)
# A learning rate the schema takes that makes the loss NaN after one step: one line, no model.pt.
case(
    "fit-diverges",
    "fit",
    ERROR,
    lambda ws: Run(_fit_argv(ws, ws.dataset(), "train.lr=1e30"), "training loss", ("R",), _no_export),
)


def _poisoned_store(ws: Workspace, kind: str) -> tuple[Path, Path]:
    root = ws.dataset()
    return root, poison_shard(kind, root / "annotations" / "shard-000000.npz")


for kind in POISON_KINDS:  # NaN keypoints, a 0×0 frame: data check says so, fit refuses
    case(
        f"data-check-shard-{kind}",
        "data/media",
        PROBLEM,
        lambda ws, kind=kind: Run(_check_argv((d := _poisoned_store(ws, kind))[0]), d[1]),
    )
    case(
        f"fit-shard-{kind}",
        "fit",
        ERROR,
        lambda ws, kind=kind: Run(
            _fit_argv(ws, (d := _poisoned_store(ws, kind))[0]), d[1], ("R",), _no_export
        ),
    )


def _manifest_pointing(ws: Workspace, where: str) -> tuple[Path, Path]:
    """The dataset copy with one row's media named outside ROOT (``absolute`` or ``parent``)."""
    root = ws.dataset()
    media = root / "frames" / "train-000001"
    path = str(media) if where == "absolute" else f"../{root.name}/frames/train-000001"
    set_manifest_row(root, "train-000001", path=path)
    return root, root / "manifest.csv"


for where in ("absolute", "parent"):
    case(
        f"data-check-manifest-path-{where}",
        "data/media",
        PROBLEM,
        lambda ws, where=where: Run(_check_argv((d := _manifest_pointing(ws, where))[0]), d[1]),
    )
    case(
        f"fit-manifest-path-{where}",
        "fit",
        ERROR,
        lambda ws, where=where: Run(
            _fit_argv(ws, (d := _manifest_pointing(ws, where))[0]), d[1], ("R",), _no_export
        ),
    )
# Outputs that cannot be written are found before the run, not after it.
case(
    "predict-out-unwritable",
    "predict/model",
    ERROR,
    lambda ws: Run(
        ["predict", "--ckpt", ws.model(), bad_media.good_jpeg(ws.folder("in")), "--out", "/proc/vemd-out"],
        "/proc/vemd-out",
    ),
)
case(
    "test-out-below-a-file",
    "predict/model",
    ERROR,
    lambda ws: Run(
        [*_test_argv(ws, ws.dataset(), ws.model())[:-1], out := ws.root / "taken.txt" / "T"],
        (out.parent.write_text("mine"), out)[1],
    ),
)
case(
    "export-out-unwritable",
    "predict/model",
    ERROR,
    lambda ws: Run(
        ["export", "--ckpt", ws.model(), "--format", "torchscript", "--out", "/proc/m.ts"], "/proc/m.ts"
    ),
)
case(
    "annotate-export-coco-unwritable",
    "config/CLI",
    ERROR,
    lambda ws: Run(
        [*_annotate_argv(ws, bad_media.good_jpeg(ws.folder("in"))), "--export-coco", "/proc/vemd.json"],
        "/proc/vemd.json",
    ),
    backend=True,
)


# ---------------------------------------------------------------- compare, synth, annotate options


for kind in PREDICTION_KINDS:
    case(
        f"compare-{kind}",
        "config/CLI",
        ERROR,
        lambda ws, kind=kind: Run(
            [
                "compare",
                predictions_csv(ws.root / "good.csv"),
                p := predictions_file(kind, ws.folder("p"), ws.marker),
            ],
            p,
        ),
    )
case(
    "synth-out-is-a-file",
    "config/CLI",
    ERROR,
    lambda ws: Run(
        ["synth", "--out", p := ws.root / "out.txt", "--n-train", "2"], (p.write_text("mine") and p)
    ),
)
case(
    "synth-out-made-with-other-options",
    "config/CLI",
    ERROR,
    lambda ws: Run(
        ["synth", "--out", d := ws.dataset(), "--n-train", "8", "--frames", "1"], d / "dataset.json"
    ),
)
case(
    "synth-out-binary-dataset-json",
    "config/CLI",
    ERROR,
    lambda ws: Run(
        ["synth", "--out", d := ws.dataset(), "--n-train", "4"],
        (d / "dataset.json").write_bytes(b"\x00\xffPK") and d / "dataset.json",
    ),
)
for option, value in (("--n-train", "-1"), ("--frames", "0"), ("--image-size", "0"), ("--max-people", "0")):
    case(
        f"synth-{option.strip('-')}-{value}",
        "config/CLI",
        ERROR,
        lambda ws, option=option, value=value: Run(
            ["synth", "--out", ws.root / "new", option, value], option
        ),
    )
case(
    "annotate-out-is-a-file",
    "config/CLI",
    ERROR,
    lambda ws: Run(
        [
            "annotate",
            bad_media.good_jpeg(ws.folder("in")),
            "--out",
            p := ws.root / "out.txt",
            "--backend",
            "stub",
        ],
        (p.write_text("mine") and p),
    ),
    backend=True,
)
case(
    "annotate-frames-0",
    "config/CLI",
    ERROR,
    lambda ws: Run(_annotate_argv(ws, bad_media.video(ws.folder("in"), 10), "--frames", "0"), "--frames"),
    backend=True,
)


# ---------------------------------------------------------------- more than one input, --skip-bad, whole sets


def _predict_one_bad_among_good(ws: Workspace) -> Run:
    folder = ws.folder("in")
    good = [bad_media.good_jpeg(folder, "a.jpg"), bad_media.good_png(folder, "b.png")]
    bad = bad_media.truncated_jpeg(folder)

    def only_the_good_ones(ws: Workspace) -> None:
        entries = json.loads((ws.root / "P" / "predictions.json").read_text())
        assert sorted(Path(e["input"]).name for e in entries) == ["a.jpg", "b.png"], entries

    return Run(
        ["predict", "--ckpt", ws.model(), *good, bad, "--out", ws.root / "P"], bad, then=only_the_good_ones
    )


def _annotate_dataset_with_bad_image(ws: Workspace) -> Run:
    root, bad = _media_in_dataset(ws, bad_media.truncated_jpeg)
    out = ws.root / "S"
    argv = ["annotate", "synth", root, "--out", out, "--backend", "stub", "--no-progress"]
    return Run(argv, bad, then=_annotated(["train-000000", "train-000002"], ["train-000001"]))


# One bad input among good ones: one line names it, the others are predicted and written, the
# exit code is 1 (as `vemd predict --help` documents).
case("predict-one-bad-among-good", "predict/model", NOTICE, _predict_one_bad_among_good, code=1)
case(
    "test-skip-bad-truncated_jpeg",
    "data/media",
    NOTICE,
    lambda ws: Run(
        [*_test_argv(ws, (m := _media_in_dataset(ws, bad_media.truncated_jpeg, "val-000000"))[0], ws.model())]
        + ["--skip-bad"],
        m[1],
    ),
)
case(
    "annotate-dataset-truncated_jpeg",
    "data/media",
    NOTICE,
    _annotate_dataset_with_bad_image,
    code=3,
    backend=True,
)
case(
    "fit-cut_index_first",
    "fit",
    ERROR,
    lambda ws: Run(
        _fit_argv(ws, (m := _media_in_dataset(ws, lambda f: bad_media.cut_mp4(f, index_first=True)))[0]),
        m[1],
        ("R",),
        _no_export,
    ),
)
# A set just written by `vemd synth` (no test split by default) passes `vemd data check`.
case(
    "data-check-fresh-synth-set-works",
    "data/media",
    OK,
    lambda ws: Run(["data", "check", "synth", d := ws.dataset(), "--json"], d / "manifest.csv"),
)


# ---------------------------------------------------------------- nothing changed or written unasked


def _fit_over_a_finished_run(ws: Workspace) -> Run:
    finished = ws.root / "R" / "model.pt"
    finished.parent.mkdir()
    shutil.copy(ws.model(), finished)
    return Run(_fit_argv(ws, ws.dataset()), finished)


def _sr_figure(written: bool) -> Callable[[Workspace], None]:
    def then(ws: Workspace) -> None:
        assert (ws.root / "T" / "confusion.png").is_file()
        assert (ws.root / "T" / "sr_heatmaps.png").is_file() == written, "sr_heatmaps.png shows test frames"

    return then


# a second fit into the folder of a finished run does not replace its model.pt unasked
case("fit-over-a-finished-run", "fit", ERROR, _fit_over_a_finished_run)
# the SR figure shows test frames (people): written only with --save-frames
case(
    "test-writes-no-frame-unasked",
    "data/media",
    OK,
    lambda ws: Run(_test_argv(ws, ws.dataset(), ws.model()), "sr_heatmaps", then=_sr_figure(False)),
)
case(
    "test-save-frames-writes-the-sr-figure",
    "data/media",
    OK,
    lambda ws: Run(
        [*_test_argv(ws, ws.dataset(), ws.model()), "--save-frames"], "sr_heatmaps", then=_sr_figure(True)
    ),
)


# ---------------------------------------------------------------- the test


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, base_dataset, base_model, tmp_path, capfd):
    ws = Workspace(tmp_path, base_dataset, base_model)
    run = case.setup(ws)
    before = snapshot(tmp_path)
    command = str(run.argv[0])
    if case.backend:
        with stub_backend("stub"):
            outcome = run_cli(run.argv, capfd)
    else:
        outcome = run_cli(run.argv, capfd)
    assert not ws.marker.exists(), f"a pickled payload ran: {outcome.describe()}"
    codes = case.code if isinstance(case.code, tuple) else (case.code,)
    for i, code in enumerate(codes):
        try:
            check(
                outcome,
                command,
                case.expect,
                run.bad,
                folder=tmp_path,
                before=before,
                partial=run.partial,
                code=code,
            )
            break
        except AssertionError:
            if i == len(codes) - 1:
                raise
    if run.then is not None:
        run.then(ws)
