"""``vemd annotate``: automatic body and face annotation of a dataset's training split, or of
any images and videos."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vemd.commands.common import (
    add_dataset_arguments,
    dataset_config,
    refuse_file_as_folder,
    refuse_unwritable,
)

HELP = "annotate every person's body (COCO-17) and face (68 points) in sampled frames"
EXIT_SOME_FAILED = 3
PLAIN_SAMPLING = {"frames": 5, "sampling": "uniform", "interval": 1.0}  # INPUT mode defaults

EPILOG = """\
a dataset (the keys and frames `vemd fit` reads; its training split, into the store fit reads):
  vemd annotate folder data/faces                  # same NAME ROOT as `vemd data check`
  vemd annotate --config paper/gaf3/ve-md_heatmap_face --set data.root=/data/gaf3
  vemd annotate dfew /data/dfew --set data.fold=2 --workers 4 --preview 8
  vemd annotate vgaf /data/vgaf --import-coco wholebody.json   # file names relative to ROOT
  vemd annotate vgaf /data/vgaf --export-coco wholebody.json
any images or videos (keys: path relative to INPUT, suffix kept):
  vemd annotate clips/ --out ann --frames 10 --workers 2 --preview 8
  vemd annotate preview ann --media clips/ --n 8 --out ann-preview
  vemd annotate --import-coco wholebody.json --out ann
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "input",
        nargs="?",
        metavar="NAME|INPUT",
        help="dataset loader name (then ROOT), a folder of media / manifest folder / one file, or 'preview'",
    )
    parser.add_argument(
        "root", nargs="?", metavar="ROOT", help="(after NAME) the dataset copy; (after 'preview') the store"
    )
    add_dataset_arguments(parser)
    parser.add_argument(
        "--out", help="annotation store (default with a dataset: data.annotations, else ROOT/annotations)"
    )
    parser.add_argument("--backend", default="auto", help="auto, offline, vitpose (auto: vitpose if cached)")
    parser.add_argument("--frames", type=int, help="(INPUT) frames per video clip (default 5; an image is 1)")
    parser.add_argument("--sampling", choices=("uniform", "fps"), help="(INPUT) default uniform")
    parser.add_argument("--interval", type=float, help="(INPUT) seconds between frames with --sampling fps")
    parser.add_argument("--workers", type=int, default=1, help="processes, each with its own backend")
    parser.add_argument("--splits", nargs="+", help="(INPUT manifest folder) splits to annotate (train)")
    parser.add_argument(
        "--preview", type=int, default=0, metavar="N", help="draw N annotated frames into PNGs"
    )
    parser.add_argument("--preview-dir", help="where --preview writes (default: <out>-preview)")
    parser.add_argument("--media", help="(preview) the INPUT the annotations were made from")
    parser.add_argument("--n", type=int, default=8, help="(preview) number of frames to draw")
    parser.add_argument("--export-coco", metavar="FILE", help="also write the store as COCO-WholeBody JSON")
    parser.add_argument(
        "--import-coco",
        metavar="FILE",
        help="add a COCO-WholeBody JSON file to the store instead of annotating "
        "(file names are mapped onto the dataset's or INPUT's keys)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from vemd.annotate.sources import dataset_items, find_items
    from vemd.data.coverage import annotation_path
    from vemd.errors import VemdError

    if args.input == "preview":
        if not (args.root and args.media and args.out):
            raise VemdError("usage: vemd annotate preview ANNOTATIONS --media INPUT --n N --out DIR")
        refuse_file_as_folder(args.out)
        _preview(
            Path(args.root), find_items(args.media, tuple(args.splits or ["train"])), args.n, Path(args.out)
        )
        return 0
    _check_numbers(args)
    problems: list[tuple[str, str]] = []
    if args.config is not None or args.root is not None:  # a dataset, through its loader
        _refuse_plain_options(args)
        data = dataset_config(args.input, args.root, args.config, args.set).data
        items = dataset_items(data, problems)
        out = Path(args.out) if args.out else annotation_path(data)
        source = f"the {data.train_split} split of {data.name} at {data.root}"
        sampling = {"frames": data.frames, "sampling": data.sampling, "interval": data.frame_interval}
        if out != annotation_path(data):
            print(f"note: training reads {annotation_path(data)}; pass --set data.annotations={out} to fit")
    else:
        if args.set:
            raise VemdError("--set needs a dataset: vemd annotate NAME ROOT --set KEY=VALUE")
        if not args.out:
            raise VemdError("--out ANNOTATIONS is required with an INPUT (or give a dataset: NAME ROOT)")
        if not (args.input or args.import_coco):
            raise VemdError("give a dataset (NAME ROOT or --config FILE), an INPUT, or --import-coco FILE")
        items = find_items(args.input, tuple(args.splits or ["train"])) if args.input else []
        out, source = Path(args.out), str(args.input)
        given = {"frames": args.frames, "sampling": args.sampling, "interval": args.interval}
        sampling = {k: PLAIN_SAMPLING[k] if v is None else v for k, v in given.items()}
    refuse_file_as_folder(out)
    if args.preview:
        refuse_file_as_folder(args.preview_dir or f"{out}-preview", "--preview-dir")
    if args.export_coco:  # a file: its folder must take it, known before any frame is annotated
        refuse_unwritable(Path(args.export_coco).parent, args.export_coco, "--export-coco")
    return _run_store(args, out, items, source, sampling, problems)


def _check_numbers(args: argparse.Namespace) -> None:
    from vemd.errors import VemdError

    checks = (
        ("frames", args.frames, "an integer >= 1 (frames per video clip)", lambda v: v >= 1),
        ("interval", args.interval, "a number of seconds > 0", lambda v: v > 0),
        ("workers", args.workers, "an integer >= 1", lambda v: v >= 1),
        ("preview", args.preview, "an integer >= 0", lambda v: v >= 0),
        ("n", args.n, "an integer >= 1", lambda v: v >= 1),
    )
    for option, value, allowed, ok in checks:
        if value is not None and not ok(value):
            raise VemdError(f"--{option} {value:g}: expected {allowed}")


def _refuse_plain_options(args: argparse.Namespace) -> None:
    """With a dataset, the sampling and split are the config's, so the store matches training."""
    from vemd.errors import VemdError

    for option, key in (
        ("frames", "data.frames"),
        ("sampling", "data.sampling"),
        ("interval", "data.frame_interval"),
        ("splits", "data.train_split"),
    ):
        if getattr(args, option) is not None:
            raise VemdError(
                f"--{option} is for an INPUT; with a dataset use --set {key}=... (what vemd fit reads)"
            )


def _run_store(
    args: argparse.Namespace, out: Path, items: list, source: str, sampling: dict, problems: list
) -> int:
    from vemd.structure.annotations import AnnotationStore

    status = 0
    with _writing(out), AnnotationStore(out, create=True) as store:
        if args.import_coco:
            _import(args.import_coco, store, items or None)
        elif items:
            status = _annotate(args, items, store, source, sampling, problems)
        if args.export_coco:
            from vemd.annotate.coco import export_coco

            export_coco(store, args.export_coco, items)
            print(f"wrote {len(store)} frames as COCO-WholeBody to {args.export_coco}")
    if args.preview and items:
        _preview(out, items, args.preview, Path(args.preview_dir or f"{out}-preview"))
    return status


@contextmanager
def _writing(out: Path) -> Iterator[None]:
    """The store folder, created, held by this run alone: a second run into it is refused at
    once (one line) instead of writing shards beside this one's."""
    from vemd.io import locked_folder

    out.mkdir(parents=True, exist_ok=True)
    busy = "another vemd annotate is writing this store; wait for it to end or use another --out"
    with locked_folder(out, wait=False, busy=busy):
        yield


def _import(path: str, store, items: list | None) -> None:
    from vemd.annotate.coco import import_coco

    report = import_coco(path, store, items)
    line = f"imported {report.added} frames from {path} into {store.root} ({report.already_stored} already stored"
    if report.unmatched:
        line += f"; {len(report.unmatched)} images matched no media, first {report.unmatched[0]!r}"
    print(line + ")")


def _annotate(
    args: argparse.Namespace, items: list, store, source: str, sampling: dict, problems: list
) -> int:
    from vemd.annotate.backends import backend_factory, resolve_backend
    from vemd.annotate.runner import Sampling, run_annotation, write_problems
    from vemd.annotate.summary import summarise
    from vemd.io import atomic_write_text

    backend = resolve_backend(args.backend)
    chosen = (
        " (auto: vitpose weights not cached locally)"
        if args.backend == "auto" and backend == "offline"
        else ""
    )
    print(f"annotating {len(items)} sources of {source} into {store.root} with the {backend} backend{chosen}")
    report = run_annotation(
        items,
        store,
        backend_factory(backend),
        Sampling(sampling["frames"], sampling["sampling"], sampling["interval"]),
        workers=args.workers,
        progress=not args.no_progress,
    )
    failed = problems + report.problems
    write_problems(store.root / "problems.csv", failed)
    for path, problem in failed:  # one line each, as data check prints them
        print(problem if path in problem else f"{path}: {problem}", file=sys.stderr)
    summary = summarise(store, [item.clip_id for item in items])
    record = {
        "input": source,
        "backend": backend,
        "sampling": sampling,
        "annotated_frames": report.annotated_frames,
        "already_stored_frames": report.skipped_frames,
        "failed_sources": len(failed),
        **summary.as_dict(),
    }
    atomic_write_text(store.root / "summary.json", json.dumps(record, indent=2))
    _print_summary(record, store.root)
    return EXIT_SOME_FAILED if failed else 0


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


def _preview(store_root: Path, items: list, num: int, out_dir: Path) -> None:
    from vemd.annotate.preview import write_previews
    from vemd.structure.annotations import AnnotationStore

    written = write_previews(AnnotationStore(store_root), items, out_dir, num)
    print(f"drew {len(written)} annotated frames into {out_dir}")
