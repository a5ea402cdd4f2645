"""``vemd annotate``: automatic body and face annotation of images and videos."""

from __future__ import annotations

import argparse
import json
from functools import partial
from pathlib import Path

HELP = "annotate every person's body (COCO-17) and face (68 points) in sampled frames"
EXIT_SOME_FAILED = 3

EPILOG = """\
examples:
  vemd annotate data/gaf3 --out data/gaf3/annotations            # manifest: train split only
  vemd annotate clips/ --out ann --frames 10 --workers 2 --preview 8
  vemd annotate preview ann --media clips/ --n 8 --out ann-preview
  vemd annotate --import-coco wholebody.json --out ann
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "input", nargs="?", help="dataset folder / manifest.csv, folder of media, one file, or 'preview'"
    )
    parser.add_argument("annotations", nargs="?", help="(after 'preview') the annotation store to draw")
    parser.add_argument("--out", help="annotation store folder (with 'preview': the PNG folder)")
    parser.add_argument("--backend", default="auto", choices=("auto", "offline", "vitpose"))
    parser.add_argument(
        "--frames", type=int, default=5, help="frames per video clip (SPEC §2; an image is 1)"
    )
    parser.add_argument("--sampling", default="uniform", choices=("uniform", "fps"))
    parser.add_argument(
        "--interval", type=float, default=1.0, help="seconds between frames with --sampling fps"
    )
    parser.add_argument("--workers", type=int, default=1, help="processes, each with its own backend")
    parser.add_argument("--splits", nargs="+", default=["train"], help="manifest splits to annotate")
    parser.add_argument(
        "--preview", type=int, default=0, metavar="N", help="draw N annotated frames into PNGs"
    )
    parser.add_argument("--preview-dir", help="where --preview writes (default: <out>-preview)")
    parser.add_argument("--media", help="(preview) the INPUT the annotations were made from")
    parser.add_argument("--n", type=int, default=8, help="(preview) number of frames to draw")
    parser.add_argument("--export-coco", metavar="FILE", help="also write the store as COCO-WholeBody JSON")
    parser.add_argument("--import-coco", metavar="FILE", help="add a COCO-WholeBody JSON file to the store")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from vemd.errors import VemdError

    if args.input == "preview":
        if not (args.annotations and args.media and args.out):
            raise VemdError("usage: vemd annotate preview ANNOTATIONS --media INPUT --n N --out DIR")
        _preview(Path(args.annotations), args.media, args.n, Path(args.out), args.splits)
        return 0
    if not args.out:
        raise VemdError("--out ANNOTATIONS is required")
    if not (args.input or args.import_coco):
        raise VemdError("give an INPUT to annotate or --import-coco FILE")
    from vemd.annotate.sources import find_items
    from vemd.structure.annotations import AnnotationStore

    items = find_items(args.input, tuple(args.splits)) if args.input else []
    out = Path(args.out)
    status = 0
    with AnnotationStore(out, create=True) as store:
        if args.import_coco:
            from vemd.annotate.coco import import_coco

            added, skipped = import_coco(args.import_coco, store)
            print(f"imported {added} frames from {args.import_coco} ({skipped} already stored)")
        if items:
            status = _annotate(args, items, store)
        if args.export_coco:
            from vemd.annotate.coco import export_coco

            export_coco(store, args.export_coco)
            print(f"wrote {len(store)} frames as COCO-WholeBody to {args.export_coco}")
    if args.preview and args.input:
        _preview(out, args.input, args.preview, Path(args.preview_dir or f"{out}-preview"), args.splits)
    return status


def _annotate(args: argparse.Namespace, items: list, store) -> int:
    from vemd.annotate.backends import build_backend, resolve_backend
    from vemd.annotate.runner import Sampling, run_annotation, write_problems
    from vemd.annotate.summary import summarise
    from vemd.structure.annotations import atomic_write_text

    backend = resolve_backend(args.backend)
    chosen = (
        " (auto: vitpose weights not cached locally)"
        if args.backend == "auto" and backend == "offline"
        else ""
    )
    print(f"annotating {len(items)} sources with the {backend} backend{chosen}")
    sampling = Sampling(args.frames, args.sampling, args.interval)
    report = run_annotation(
        items,
        store,
        partial(build_backend, backend),
        sampling,
        workers=args.workers,
        progress=not args.no_progress,
    )
    write_problems(store.root / "problems.csv", report.problems)
    summary = summarise(store, [item.clip_id for item in items])
    record = {
        "input": str(args.input),
        "backend": backend,
        "sampling": {"frames": args.frames, "sampling": args.sampling, "interval": args.interval},
        "annotated_frames": report.annotated_frames,
        "already_stored_frames": report.skipped_frames,
        "failed_sources": len(report.problems),
        **summary.as_dict(),
    }
    atomic_write_text(store.root / "summary.json", json.dumps(record, indent=2))
    _print_summary(record, store.root)
    return EXIT_SOME_FAILED if report.problems else 0


def _print_summary(record: dict, root: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"annotation summary ({root / 'summary.json'})")
    table.add_column("")
    table.add_column("value", justify="right")
    rows = (
        ("clips / frames in store", f"{record['clips']} / {record['frames']}"),
        (
            "frames annotated now / already stored",
            f"{record['annotated_frames']} / {record['already_stored_frames']}",
        ),
        (
            "max bodies / faces per frame (Q_max)",
            f"{record['max_bodies']} / {record['max_faces']} ({record['q_max']})",
        ),
        ("clips with no detection (dropped)", f"{record['empty_clips']} ({record['empty_percent']:.2f} %)"),
        ("sources that failed", f"{record['failed_sources']} (see problems.csv)"),
    )
    for row in rows:
        table.add_row(*row)
    Console().print(table)


def _preview(store_root: Path, media: str, num: int, out_dir: Path, splits: list[str]) -> None:
    from vemd.annotate.preview import write_previews
    from vemd.annotate.sources import find_items
    from vemd.structure.annotations import AnnotationStore

    written = write_previews(AnnotationStore(store_root), find_items(media, tuple(splits)), out_dir, num)
    print(f"drew {len(written)} annotated frames into {out_dir}")
