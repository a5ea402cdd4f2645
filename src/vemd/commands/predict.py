"""``vemd predict INPUT... --ckpt CKPT``: group emotion of media files and live sources.

Inputs are images, videos, folders, glob patterns, stream URLs (``rtsp://``, ``http://``, ...)
or a camera (``--camera N``), expanded as :meth:`vemd.load(...).predict
<vemd.inference.predictor.GroupEmotionPredictor.predict>` expands them
(:mod:`vemd.inference.inputs`): a folder is each image and video in it, searched recursively
and sorted, except that a frame folder (images named by frame number only, ``00001.jpg``)
is one clip; a quoted pattern (``'clips/*.mp4'``) is each match. Output is group level only.

Files: one line per input (``--json``: one JSON line per window as it is predicted,
``{"type": "window", "input": ..., "window": {...}}``, then the input's result,
``{"type": "result", "input": ..., "windows": [...], ...}``; probabilities to 4 decimals and
seconds to 3, :data:`vemd.inference.results.DECIMALS`).
Long videos show a progress bar on a terminal (windows/s, ETA). An input that cannot be
read is reported on one line and the others are still predicted (and written with
``--out``); the exit code is then 1. A truncated video is predicted over the frames that
decode, with one warning naming both counts. How ``--out`` folders are shared:
:mod:`vemd.inference.report`. ``--render`` also writes each video with its group-level label
and class probabilities drawn on a strip along the bottom (:mod:`vemd.inference.render`).

Live sources: one line per window until the source ends or Ctrl-C, then a summary over
the windows seen (exit code 0).
"""

from __future__ import annotations

import argparse

from vemd.commands.common import add_device_arguments

HELP = (
    "Predict the group emotion of images, videos, stream URLs or a camera (group-level output only); "
    "an unreadable input is one line on stderr, the others still run, and the exit code is 1."
)

OUT_HELP = (
    "write predictions.json, timeline.csv and timeline PNGs here; results merge by input (its "
    "absolute path): an input predicted again replaces its entry, other inputs' entries stay, and "
    "runs writing the same folder at once take turns on a lock file; each video's PNG is named "
    "after its path; a folder holding predictions over other classes is refused"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs",
        nargs="*",
        help="image, video, folder of them (a folder of frames 00001.jpg, ... is one clip), glob pattern, "
        "or a stream URL",
    )
    parser.add_argument(
        "--ckpt", required=True, help="model.pt written by vemd fit, or a Hub model: hf://ORG/NAME[@REVISION]"
    )
    parser.add_argument("--camera", type=int, default=None, metavar="N", help="read camera N (live)")
    parser.add_argument(
        "--json",
        action="store_true",
        help='one JSON line per window ("type": "window"), then one per input\'s result ("type": "result")',
    )
    parser.add_argument(
        "--window",
        type=float,
        default=None,
        help="seconds per window for videos (> 0, at most 86400; default: the training clip length)",
    )
    parser.add_argument(
        "--stride", type=float, default=None, help="seconds between window starts (default: --window)"
    )
    parser.add_argument(
        "--smooth",
        type=float,
        default=None,
        metavar="S",
        help="smooth a file's timeline: interpolate to the frame rate, then a Hamming window of S seconds",
    )
    parser.add_argument("--batch-size", type=int, default=4, help="windows per forward pass (default: 4)")
    parser.add_argument("--out", default=None, help=OUT_HELP)
    parser.add_argument(
        "--render",
        action="store_true",
        help="with --out: also write each video as <name>.rendered.mp4, its frames with the group-level "
        "label and class probabilities drawn on a strip along the bottom (nothing per person)",
    )
    add_device_arguments(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar, even on a terminal")


def _checked_args(args: argparse.Namespace) -> None:
    from vemd.errors import VemdError
    from vemd.inference.predictor import check_window

    for value, flag in ((args.window, "--window"), (args.stride, "--stride"), (args.smooth, "--smooth")):
        if value is not None:
            try:
                check_window(value, flag)
            except ValueError as err:
                raise VemdError(str(err)) from err
    if args.batch_size < 1:
        raise VemdError(f"--batch-size {args.batch_size}: expected an integer >= 1")
    if args.camera is not None and (args.camera < 0 or args.inputs):
        raise VemdError("--camera N: a camera number >= 0, given without other inputs")
    if args.camera is None and not args.inputs:
        raise VemdError("nothing to predict: give inputs or --camera N")
    if args.render and (args.out is None or args.camera is not None):
        raise VemdError("--render writes video files into --out DIR: give --out, and files, not --camera")


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from vemd.commands.common import refuse_file_as_folder
    from vemd.errors import USER_ERRORS, DataError, VemdError
    from vemd.inference.inputs import Input, expand_inputs
    from vemd.inference.predictor import GroupEmotionPredictor
    from vemd.inference.report import check_out, output_names, write_prediction_report

    _checked_args(args)
    out = Path(args.out) if args.out else None
    if out is not None:
        refuse_file_as_folder(out)
    unusable: list[VemdError] = []  # inputs that give nothing to predict: one line each
    if args.camera is not None:
        items = [Input("url", None)]
    else:
        items = expand_inputs(args.inputs, on_error=unusable.append).items
        if not items:
            raise unusable[0] if len(unusable) == 1 else DataError("; ".join(map(str, unusable)))
    if args.smooth is not None and any(item.kind == "url" for item in items):
        raise VemdError("--smooth needs a whole timeline: it applies to files, not to live sources")
    if args.render and any(item.kind == "url" for item in items):
        raise VemdError("--render applies to video files, not to live sources")
    for err in unusable:
        print(f"vemd predict: error: {err}", file=sys.stderr)

    def notify(message: str) -> None:
        print(f"vemd predict: warning: {message}", file=sys.stderr)

    predictor = GroupEmotionPredictor(
        args.ckpt,
        window=args.window,
        stride=args.stride,
        smoothing=args.smooth,
        batch_size=args.batch_size,
        notify=notify,
        device=args.device,
        precision=args.precision,
    )
    if predictor.caveat:  # a model of the built-in synthetic data, applied to anything: say so once
        print(f"vemd predict: note: {predictor.caveat}", file=sys.stderr)
    if out is not None:
        check_out(out, output_names(predictor))
    printer = _Printer(args.json)
    results, failed = [], len(unusable)
    for item in items:
        try:
            if item.kind == "url":
                result = _predict_live(predictor, item.source, args.camera, printer)
            else:
                result = _predict_file(predictor, item.source, printer, progress=not args.no_progress)
        except USER_ERRORS as err:
            print(f"vemd predict: error: {err}", file=sys.stderr)
            failed += 1
            continue
        results.append(result.to_dict())
        printer.result(result)
        if args.render:
            try:
                _render(item, result, out)
            except USER_ERRORS as err:  # the prediction stands; the drawn video is what failed
                print(f"vemd predict: error: {err}", file=sys.stderr)
                failed += 1
    if out is not None and results:
        write_prediction_report(results, output_names(predictor), out)
    return 1 if failed else 0


class _Printer:
    """Lines on stdout: JSON objects with ``--json``, else one readable line each."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def window(self, source: str, window) -> None:
        if self.as_json:
            _print_json({"type": "window", "input": source, "window": window.to_dict(rounded=True)})
        else:
            print(f"{source} [{window.start:.1f}-{window.end:.1f} s]: {_readable(window)}", flush=True)

    def result(self, result) -> None:
        if self.as_json:
            _print_json({"type": "result", **result.to_dict(rounded=True)})
        else:
            print(f"{result.input}: {_readable(result)}; {len(result.windows)} window(s)", flush=True)


def _print_json(line: dict) -> None:
    import json

    print(json.dumps(line, allow_nan=False), flush=True)  # allow_nan=False: never a bare NaN, not JSON


def _readable(item) -> str:
    """``label  (class p  class p …; valence v)`` of a window or a result."""
    if item.probs is None:  # a regression system: valence and arousal only
        return f"valence {item.valence:.2f}, arousal {item.arousal:.2f}"
    probs = "  ".join(f"{c} {p:.2f}" for c, p in item.probs.items())
    valence = f"; valence {item.valence:.2f}" if item.valence is not None else ""
    return f"{item.label}  ({probs}{valence})"


def _render(item, result, out) -> None:
    """``--render``: the video drawn with its result into ``out``; a note for other inputs."""
    import sys

    from vemd.data.media import is_video
    from vemd.inference.render import render_video, rendered_name

    if item.kind != "file" or not is_video(item.source):
        print(
            f"vemd predict: note: --render: {item.source} is not a video file; not rendered", file=sys.stderr
        )
        return
    out.mkdir(parents=True, exist_ok=True)
    render_video(item.source, result, out / rendered_name(item.source))


def _predict_file(predictor, path, printer: _Printer, *, progress: bool):
    """A file's result; its windows are printed as they come with ``--json`` only (the readable
    output is one line per file), a progress bar on a terminal for more than one window."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from vemd.progress import RateColumn

    console = Console(stderr=True)
    windows, _ = predictor.windows(path)
    show = progress and console.is_terminal and len(windows) > 1
    columns = (TextColumn(f"{path.name}"), BarColumn(), MofNCompleteColumn(), RateColumn("windows"))
    bar = Progress(*columns, TimeRemainingColumn(), console=console, transient=True, disable=not show)
    with bar:
        task = bar.add_task("predict", total=len(windows))

        def on_window(window) -> None:
            bar.advance(task)
            if printer.as_json:
                printer.window(str(path), window)

        return predictor.predict(path, on_window=on_window)


def _predict_live(predictor, source: str | None, camera: int | None, printer: _Printer):
    """Windows of a live source printed as they come, until it ends or Ctrl-C; its summary."""
    import sys

    from vemd.data.live import camera_source, describe_source

    options: dict = {}
    fmt = None
    if camera is not None:
        source, fmt, options = camera_source(camera)
    name = describe_source(source) if camera is None else f"camera {camera}"
    seen = []
    stream = predictor.stream(source, format=fmt, options=options or None)
    try:
        for window in stream:
            seen.append(window)
            printer.window(name, window)
    except KeyboardInterrupt:
        print(f"vemd predict: {name}: stopped after {len(seen)} window(s)", file=sys.stderr)
    finally:
        stream.close()
    return predictor.summary(name, seen)
