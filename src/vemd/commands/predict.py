"""``vemd predict INPUT... --ckpt CKPT [--json] [--out DIR]``: group emotion of media files."""

from __future__ import annotations

import argparse

HELP = "Predict the group emotion of images or videos (group-level output only)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", help="image, video or folder of them")
    parser.add_argument("--ckpt", required=True, help="model.pt written by vemd fit")
    parser.add_argument("--json", action="store_true", help="print one JSON object per line")
    parser.add_argument("--window", type=float, default=None, help="seconds per window for long videos")
    parser.add_argument(
        "--out", default=None, help="write predictions.json, timeline.csv and timeline PNGs here"
    )


def _expand(inputs: list[str]):
    from pathlib import Path

    from vemd.data.media import is_image, is_video

    for item in inputs:
        path = Path(item)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and (is_image(p) or is_video(p)))
        else:
            yield path


def run(args: argparse.Namespace) -> int:
    import json
    import sys
    from pathlib import Path

    from vemd.errors import USER_ERRORS
    from vemd.inference.predictor import GroupEmotionPredictor
    from vemd.inference.report import write_prediction_report

    predictor = GroupEmotionPredictor(args.ckpt, window=args.window)
    results, failed = [], 0
    for path in _expand(args.inputs):
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
    if args.out:
        write_prediction_report(results, predictor.class_names, Path(args.out))
    return 1 if failed else 0
