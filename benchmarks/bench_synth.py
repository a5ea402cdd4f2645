"""SynthGroups generator figures: frames/s on one core, and the label-shortcut baselines.

    .venv/bin/python benchmarks/bench_synth.py [--scenes 1500]

Prints render speed (sampling + drawing + annotations, no disk), end-to-end speed
(``generate_dataset`` with PNG writing, one worker), and three baselines that a group-level
model must beat: logistic regression on colour histograms and on 16×16 greyscale
thumbnails (both should sit at chance, 33 %), and "label of the largest person" (~75 %).
CPU time is printed beside wall time because the machine may be shared.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import cv2
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from vemd.synth import generate_dataset
from vemd.synth.render import render_scene
from vemd.synth.scene import SceneOptions, sample_scene


def render_speed(frames: int, clips: int) -> None:
    options = SceneOptions(frames=frames)
    wall, cpu, count = time.perf_counter(), time.process_time(), 0
    for i in range(clips):
        count += len(render_scene(sample_scene(np.random.default_rng(i), i % 3, options)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"render T={frames}: {count / wall:7.1f} frames/s wall, {count / cpu:7.1f} frames/s per CPU second")


def write_speed(clips: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        wall, cpu = time.perf_counter(), time.process_time()
        generate_dataset(tmp, n_train=clips, n_val=0, frames=5, seed=0, progress=False)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    count = 5 * clips
    print(
        f"generate_dataset T=5, 1 worker, PNG: {count / wall:7.1f} frames/s wall, {count / cpu:7.1f} per CPU second"
    )


def baselines(scenes: int) -> None:
    options = SceneOptions(frames=1)
    hist, thumbs, labels, largest = [], [], [], []
    for i in range(scenes):
        scene = sample_scene(np.random.default_rng([9, i]), i % 3, options)
        frame = render_scene(scene)[0][0]
        hist.append(np.concatenate([np.bincount(frame[..., c].ravel() // 32, minlength=8) for c in range(3)]))
        thumbs.append(
            cv2.resize(
                cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), (16, 16), interpolation=cv2.INTER_AREA
            ).ravel()
        )
        labels.append(scene.label)
        largest.append(scene.people[-1].valence + 1)
    labels = np.array(labels)
    for name, features in (("colour histogram", hist), ("greyscale 16x16 thumbnail", thumbs)):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=3000))
        accuracy = cross_val_score(model, np.asarray(features, dtype=np.float64), labels, cv=5).mean()
        print(f"baseline {name} logistic regression: {100 * accuracy:.1f} % ({scenes} scenes, 5-fold)")
    print(f"baseline label of the largest person: {100 * np.mean(np.array(largest) == labels):.1f} %")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=1500, help="scenes for the baselines")
    parser.add_argument("--clips", type=int, default=200, help="clips for the speed figures")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    render_speed(1, args.clips)
    render_speed(5, args.clips // 5)
    write_speed(args.clips // 5)
    baselines(args.scenes)


if __name__ == "__main__":
    main()
