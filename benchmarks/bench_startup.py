"""Start-up cost of the commands a practitioner runs often: wall time, CPU time and peak memory,
each run a fresh interpreter, next to ``python -c "import torch"`` measured in the same run.

    .venv/bin/python benchmarks/bench_startup.py            # 5 repetitions, median
    .venv/bin/python benchmarks/bench_startup.py --repeat 3 --image some.jpg

    # the same commands with another copy of vemd's sources, alternating run by run:
    mkdir -p /tmp/before && git archive e20db7f src | tar -x -C /tmp/before
    .venv/bin/python benchmarks/bench_startup.py --baseline /tmp/before/src

Two model files are written to a temporary folder first (in a child process: this one stays
small, so it adds nothing to the children's peak memory), with random weights and vemd's model
file format (:func:`vemd.model_file.write_model_file`), as ``vemd fit`` writes them:

* ``tiny.pt``: the ``tiny`` recipe without its ViT branch (``model.vit.enabled=false``, the
  custom CNN alone): a model that needs no timm backbone;
* ``quickstart_vit.pt``: ``configs/quickstart.yaml``'s model with its ViT branch switched on
  (``model.vit.enabled=true``: timm's ``vit_tiny_patch16_224``; the quickstart itself trains
  without it), untrained: start-up does not depend on the weights.

Both say ``train.precision=32``, which every vemd version reads (a baseline may predate ``auto``).

The image is ``/work/shared/fixtures/images/facerec_two_people.jpg`` where it exists, else a
generated 640×480 JPEG. Each command runs once untimed (warm file cache), then ``--repeat``
times; the table gives the median and the fastest wall time, the median's ratio to the median
``import torch``, the median CPU time (user + system: less sensitive than wall time to whatever
else the machine runs) and the median peak RSS of the child (``os.wait4``'s ``ru_maxrss``: that
one process, not its parent). The load average before and after is printed with it.
Precision ``auto`` is pinned to fp32 (``VEMD_CPU_BF16_SPEEDUP=0.5`` unless set), as the test
suite pins it: the table measures start-up, not the precision this CPU's probe would pick.

With ``--baseline SRC`` every command also runs with ``SRC`` first on ``PYTHONPATH`` (another
checkout's ``src``, e.g. an earlier commit's), each baseline run right after the current one so
that both see the same machine load; the model files are written by the current sources.
Only the standard library is imported here.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FIXTURE = Path("/work/shared/fixtures/images/facerec_two_people.jpg")
ROOT = Path(__file__).resolve().parents[1]

# Run in a child: build both model files (and the image if there is no fixture).
BUILD = r"""
import sys
from pathlib import Path

import torch

from vemd.config import load_config, to_dict
from vemd.model_file import write_model_file
from vemd.models import build_model

out, image = Path(sys.argv[1]), sys.argv[2]
# train.precision=32: a value every vemd version reads (a --baseline may predate precision auto)
for name, recipe, overrides in (
    ("tiny", "tiny", ["model.vit.enabled=false", "train.stage=2", "train.precision=32"]),
    ("quickstart_vit", "quickstart", ["model.vit.enabled=true", "train.precision=32"]),
):
    torch.manual_seed(0)
    cfg = load_config(recipe, overrides)
    model = build_model(cfg.model, load_weights=False).eval()
    write_model_file(
        out / f"{name}.pt",
        system="ve-md",
        config=to_dict(cfg),
        class_names=[f"class{i}" for i in range(cfg.model.num_classes)],
        state_dict=model.inference_state_dict(),
        extra={"stage": "2"},
    )
if not Path(image).is_file():
    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(image, quality=90)
"""


def vemd_command() -> list[str]:
    """The ``vemd`` entry point beside this interpreter, else ``python -m vemd.cli``."""
    script = Path(sys.executable).parent / "vemd"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "vemd.cli"]


def run_once(argv: list[str], env: dict) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS in MiB) of one run of ``argv``; exits on a failure."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    stderr = child.stderr.read().decode(errors="replace")
    child.stderr.close()
    if child.returncode != 0:
        sys.exit(f"{shlex.join(argv)} exited {child.returncode}:\n{stderr}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024  # ru_maxrss: KiB on Linux


def measure(argv: list[str], envs: list[dict], repeat: int) -> list[tuple[float, float, float, float]]:
    """Per environment, (median wall, min wall, median CPU, median peak RSS) over ``repeat`` runs
    after one warm-up run; the environments take turns run by run."""
    for env in envs:
        run_once(argv, env)
    runs: list[list[tuple[float, float, float]]] = [[] for _ in envs]
    for _ in range(repeat):
        for env, done in zip(envs, runs):
            done.append(run_once(argv, env))
    return [
        (
            statistics.median(r[0] for r in done),
            min(r[0] for r in done),
            statistics.median(r[1] for r in done),
            statistics.median(r[2] for r in done),
        )
        for done in runs
    ]


def print_table(title: str, rows: list[tuple[str, tuple[float, float, float, float]]]) -> None:
    """One block of the table: the first row (``import torch``) is the reference of ``× torch``."""
    width = max(len(name) for name, _ in rows)
    head = f"{'command':<{width}}  {'wall s':>6}  {'min s':>6}  {'× torch':>7}  {'CPU s':>6}  {'peak RSS MiB':>12}"
    print(f"\n{title}\n{head}\n{'-' * len(head)}")
    reference = rows[0][1][0]
    for name, (median, fastest, cpu, rss) in rows:
        print(
            f"{name:<{width}}  {median:>6.2f}  {fastest:>6.2f}  {median / reference:>7.2f}  {cpu:>6.2f}  {rss:>12.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per command (default: 5)")
    parser.add_argument("--image", default=None, help=f"image to predict (default: {FIXTURE} if present)")
    parser.add_argument(
        "--baseline", default=None, metavar="SRC", help="also run each command with this src folder's vemd"
    )
    args = parser.parse_args()

    # --precision auto as the test suite pins it (fp32): the table measures start-up, not the
    # precision this CPU's probe picks (set VEMD_CPU_BF16_SPEEDUP yourself to measure with it)
    env = {"VEMD_CPU_BF16_SPEEDUP": "0.5", **os.environ, "HF_HUB_OFFLINE": "1"}
    envs = [env]
    if args.baseline:
        if not (Path(args.baseline) / "vemd" / "__init__.py").is_file():
            sys.exit(f"--baseline {args.baseline}: not a src folder holding vemd/")
        base_path = os.pathsep.join(filter(None, [str(Path(args.baseline).resolve()), env.get("PYTHONPATH")]))
        envs.append({**env, "PYTHONPATH": base_path})
    python, vemd = sys.executable, vemd_command()
    with tempfile.TemporaryDirectory(prefix="bench_startup_") as tmp:
        tmp = Path(tmp)
        image = args.image or (str(FIXTURE) if FIXTURE.is_file() else str(tmp / "image.jpg"))
        subprocess.run([python, "-c", BUILD, str(tmp), image], env=env, check=True)
        tiny, quick = tmp / "tiny.pt", tmp / "quickstart_vit.pt"
        api = "import vemd; vemd.load({!r}).predict({!r})"
        cases = [
            ('python -c "import torch"', [python, "-c", "import torch"]),
            ("vemd --help", [*vemd, "--help"]),
            ("vemd predict IMG --ckpt tiny.pt", [*vemd, "predict", image, "--ckpt", str(tiny)]),
            ("vemd predict IMG --ckpt quickstart_vit.pt", [*vemd, "predict", image, "--ckpt", str(quick)]),
            ("vemd.load(tiny.pt).predict(IMG)", [python, "-c", api.format(str(tiny), image)]),
            ("vemd.load(quickstart_vit.pt).predict(IMG)", [python, "-c", api.format(str(quick), image)]),
            ("vemd summary --config quickstart", [*vemd, "summary", "--config", "quickstart"]),
        ]
        print(f"python {sys.version.split()[0]} ({python}), {os.cpu_count()} CPUs, image {image}")
        print(f"wall s: median of {args.repeat} fresh processes (after one warm-up run), min s: the fastest;")
        print(
            "CPU s: user + system time (median), less sensitive than wall time to other load on the machine"
        )
        print(f"VEMD_CPU_BF16_SPEEDUP={env['VEMD_CPU_BF16_SPEEDUP']}")
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        rows = []
        for name, argv in cases:
            rows.append((name, measure(argv, envs, args.repeat)))
            print(f"  measured {name}: {rows[-1][1][0][0]:.2f} s", file=sys.stderr, flush=True)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print_table("this tree", [(name, results[0]) for name, results in rows])
    if args.baseline:
        print_table(f"baseline: PYTHONPATH={args.baseline}", [(name, results[1]) for name, results in rows])


if __name__ == "__main__":
    main()
