"""The real-data path on real people: annotate → data check → fit VE-MD a few steps → test.

Builds a miniature VGAF (or GAF-3.0) copy from the photos and clips of ``../shared/fixtures``
(``tests/data/real_layouts.py``) unless ``--root`` already holds one, then runs the four
commands as a user would, each as its own ``vemd`` process, and prints the annotation
coverage and what the offline annotator found, the structural loss terms of the first and
last training step, the test accuracy, and the wall time of each command.

    .venv/bin/python benchmarks/bench_real_path.py [--dataset vgaf|gaf3] [--root DIR] [--steps 5]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.data.real_layouts import REAL_LAYOUTS  # noqa: E402

from vemd.data.loaders import dataset_defaults  # noqa: E402

CLASSES = {"vgaf": 3, "gaf3": 3}
HAS_COPY = {"vgaf": "Train_labels.txt", "gaf3": "train"}


def vemd(*args: str) -> tuple[float, str]:
    """Run ``vemd ARGS`` in a fresh process; its wall time and stdout (stops on failure)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "vemd.cli", *args], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"vemd {' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return seconds, done.stdout


def last_json(text: str) -> dict:
    """The JSON object a command prints last (after any log lines)."""
    return json.loads(text[text.rindex("\n{") + 1 if "\n{" in text else text.index("{") :])


def loss_rows(metrics_csv: Path) -> list[dict[str, float]]:
    """The training rows of a CSV log, as ``{term: value}`` of the ``train/loss*`` columns."""
    with open(metrics_csv) as log:
        rows = [r for r in csv.DictReader(log) if r.get("train/loss")]
    return [
        {k.removeprefix("train/"): float(v) for k, v in r.items() if k.startswith("train/loss") and v}
        for r in rows
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(CLASSES), default="vgaf")
    parser.add_argument(
        "--root", help="the dataset copy (built from the fixtures if it holds none; default: a temp folder)"
    )
    parser.add_argument(
        "--out", help="run folder (default: inside the temp folder or ROOT/../bench_real_path)"
    )
    parser.add_argument("--steps", type=int, default=5, help="training steps")
    parser.add_argument("--mode", default="ve-md", choices=("ve-md", "ve-md-sr"))
    parser.add_argument("--workers", type=int, default=1, help="annotation processes")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.root or Path(tmp) / args.dataset)
        out = Path(args.out or (Path(tmp) if args.root is None else root.parent) / "bench_real_path")
        if not (root / HAS_COPY[args.dataset]).exists():
            start = time.perf_counter()
            REAL_LAYOUTS[args.dataset](root)
            print(
                f"built a miniature {args.dataset} of the fixtures at {root} in {time.perf_counter() - start:.1f} s"
            )
        run(args, root, out)


def run(args: argparse.Namespace, root: Path, out: Path) -> None:
    name, times = args.dataset, {}
    times["annotate"], _ = vemd(
        "annotate", name, str(root), "--backend", "offline", "--no-progress", "--workers", str(args.workers)
    )
    summary = json.loads((root / "annotations" / "summary.json").read_text())
    times["data check"], text = vemd("data", "check", name, str(root), "--json")
    coverage = json.loads(text)["coverage"]

    defaults = dataset_defaults(name)
    sets = [
        f"data.name={name}",
        f"data.root={root}",
        f"data.frames={defaults['frames']}",
        f"data.sampling={defaults['sampling']}",
        f"data.frame_interval={defaults['interval']}",
        f"model.num_classes={CLASSES[name]}",
        f"model.mode={args.mode}",
        "model.decoder=heatmap",
        "model.sr.modalities=[body,face]",
        f"train.max_steps={args.steps}",
        "train.batch_size=2",
        "train.log_every_n_steps=1",
        "train.stage=2",
        f"train.out_dir={out}",
    ]
    times["fit"], _ = vemd("fit", "--config", "tiny", *(w for s in sets for w in ("--set", s)))
    times["test"], text = vemd("test", "--ckpt", str(out / "model.pt"), "--split", "val")
    metrics = last_json(text)
    rows = loss_rows(out / "stage2" / "logs" / "metrics.csv")

    print(
        f"\n{name} from ../shared/fixtures, offline annotator, tiny {args.mode.upper()} (heatmap, body + face)"
    )
    print(
        f"annotation: {summary['clips']} clips, {summary['frames']} frames, up to {summary['max_bodies']} bodies / "
        f"{summary['max_faces']} faces a frame, {summary['empty_clips']} clips with nobody"
    )
    print(
        f"coverage of the training frames: {coverage['annotated']}/{coverage['frames']} = {coverage['fraction']:.0%}"
    )
    print(f"\n{'loss term':34s}{'step 1':>10s}{f'step {len(rows)}':>10s}")
    for term in sorted(rows[0]):
        print(f"{term:34s}{rows[0][term]:10.4f}{rows[-1].get(term, float('nan')):10.4f}")
    low, high = metrics["accuracy_ci95"]
    print(
        f"\ntest ({metrics['split']}, {metrics['num_items']} items): accuracy {metrics['accuracy']:.3f} "
        f"(95 % CI {low:.2f}-{high:.2f}), UAR {metrics['uar']:.3f}"
    )
    print(f"\n{'command':12s}{'wall s':>8s}")
    for step, seconds in times.items():
        print(f"{step:12s}{seconds:8.1f}")
    print(f"{'total':12s}{sum(times.values()):8.1f}")


if __name__ == "__main__":
    main()
