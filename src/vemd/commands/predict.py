"""``vemd predict INPUT... --ckpt CKPT [--json] [--window S] [--out DIR]``: group emotion of media files.

Folders are searched for images and videos; inputs that hold none are an error. An input
that cannot be read is reported on one line and the others are still predicted (and written
with ``--out``); the exit code is then 1. A truncated
video is predicted over the frames that decode, with one warning naming both counts. How
``--out`` folders are shared: :mod:`vemd.inference.report`.
"""

from __future__ import annotations

import argparse

HELP = (
    "Predict the group emotion of images or videos (group-level output only); an unreadable input "
    "is one line on stderr, the others still run, and the exit code is 1."
)

OUT_HELP = (
    "write predictions.json, timeline.csv and timeline PNGs here; results merge by input (its "
    "absolute path): an input predicted again replaces its entry, other inputs' entries stay, and "
    "runs writing the same folder at once take turns on a lock file; each video's PNG is named "
    "after its path; a folder holding predictions over other classes is refused"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", help="image, video or folder of them")
    parser.add_argument("--ckpt", required=True, help="model.pt written by vemd fit")
    parser.add_argument("--json", action="store_true", help="print one JSON object per line")
    parser.add_argument(
        "--window",
        type=float,
        default=None,
        help="seconds per window for long videos (> 0; default: the training clip length)",
    )
    parser.add_argument("--out", default=None, help=OUT_HELP)
    parser.add_argument(
        "--device", default="cpu", help="where the model runs: cpu, cuda, cuda:N, mps or auto (default: cpu)"
    )


def _expand(inputs: list[str]) -> tuple[list, list[str]]:
    """The media files of ``inputs`` (folders searched recursively) and the folders holding none."""
    from pathlib import Path

    from vemd.data.media import is_image, is_video

    paths, empty = [], []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and (is_image(p) or is_video(p)))
            paths += found
            if not found:
                empty.append(item)
        else:
            paths.append(path)
    return paths, empty


def run(args: argparse.Namespace) -> int:
    import json
    import sys
    from pathlib import Path

    from vemd.commands.common import refuse_file_as_folder
    from vemd.errors import USER_ERRORS, DataError, VemdError
    from vemd.inference.predictor import GroupEmotionPredictor, check_window
    from vemd.inference.report import check_out, write_prediction_report

    if args.window is not None:
        try:
            check_window(args.window, "--window")
        except ValueError as err:
            raise VemdError(str(err)) from err
    out = Path(args.out) if args.out else None
    if out is not None:
        refuse_file_as_folder(out)
    paths, empty = _expand(args.inputs)
    if not paths:
        raise DataError(f"no image or video in {', '.join(args.inputs)}")
    for folder in empty:
        print(f"vemd predict: error: {folder}: folder holds no image or video", file=sys.stderr)

    def notify(message: str) -> None:
        print(f"vemd predict: warning: {message}", file=sys.stderr)

    predictor = GroupEmotionPredictor(args.ckpt, window=args.window, notify=notify, device=args.device)
    if out is not None:
        check_out(out, predictor.class_names)
    results, failed = [], len(empty)
    for path in paths:
        try:
            result = predictor.predict(path)
        except USER_ERRORS as err:
            print(f"vemd predict: error: {err}", file=sys.stderr)
            failed += 1
            continue
        results.append(result)
        if args.json:
            print(json.dumps(result))
        else:
            probs = "  ".join(f"{c} {p:.2f}" for c, p in result["probs"].items())
            valence = f"; valence {result['valence']:.2f}" if "valence" in result else ""
            print(
                f"{result['input']}: {result['label']}  ({probs}{valence}; {len(result['windows'])} window(s))"
            )
    if out is not None and results:
        write_prediction_report(results, predictor.class_names, out)
    return 1 if failed else 0
