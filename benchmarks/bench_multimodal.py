"""Built-in audio-video data: video alone, audio alone and three fusions, over seeds.

Reads a multimodal quickstart folder (``vemd quickstart --multimodal --out DIR``: SynthGroups
with audio in ``DIR/data``, and the frozen VE-MD its ``run/fit.json`` names). For each seed,
the quickstart's Mel-CNN-transformer audio branch is trained alone on the training split,
then each fusion (late §7.1.2, AFG §7.1.2, the EmotiW 2023 audio→video cross-attention) is
trained on the same frozen branches, each with the recipe's budget (``multimodal.*_epochs``,
best validation epoch kept). Test-split accuracy, mean ± sd over seeds. The video branch is
the quickstart's frozen VE-MD in every seed (the paper's setting, §7.1.3): its accuracy has no
spread here.

    .venv/bin/python benchmarks/bench_multimodal.py --run runs/quickstart_multimodal --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

FUSIONS = ("late", "afg", "cross_attention")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--run", default="runs/quickstart_multimodal", help="a vemd quickstart --multimodal folder"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")

    from vemd.config import load_config
    from vemd.data.multimodal import split_inputs
    from vemd.models.checkpoint import load_model
    from vemd.models.multimodal import FrozenVideo, MultimodalVEMD
    from vemd.train import multimodal as trainer

    run = Path(args.run)
    fitted = run / "run" / "fit.json"  # names the frozen VE-MD (trained by the quickstart, or given)
    video_path = (
        Path(json.loads(fitted.read_text())["video_model"])
        if fitted.is_file()
        else run / "run" / "video" / "model.pt"
    )
    if not video_path.is_file():
        print(
            f"{video_path}: no such model; run `vemd quickstart --multimodal --out {run}` first",
            file=sys.stderr,
        )
        return 2
    cfg = load_config("quickstart_multimodal", [f"data.root={run / 'data'}"])
    video, video_cfg, _ = load_model(video_path)
    cfg.model = video_cfg.model
    start = time.perf_counter()
    splits = {
        name: split_inputs(
            cfg, getattr(cfg.data, f"{name}_split"), FrozenVideo(video), video_cfg, folder=None
        )
        for name in ("train", "val", "test")
    }
    print(
        f"read {sum(map(len, splits.values()))} clips in {time.perf_counter() - start:.0f} s", file=sys.stderr
    )
    results: dict[str, list[float]] = {
        "video": [trainer.accuracy(splits["test"].video.logits, splits["test"].labels)]
    }
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            seed_cfg = copy.deepcopy(cfg)
            seed_cfg.train.seed = seed
            torch.manual_seed(seed)
            model = MultimodalVEMD(seed_cfg, video)
            features = {name: {"video": s.video} for name, s in splits.items()}
            folder = Path(tmp) / f"seed{seed}"
            train_splits = {k: splits[k] for k in ("train", "val")}
            trainer._train_branch("audio", model, train_splits, features, seed_cfg, folder, False)
            test_audio = _audio_features(model, splits["test"], seed_cfg.multimodal.batch_size)
            features["test"]["audio"] = test_audio
            results.setdefault("audio", []).append(trainer.accuracy(test_audio.logits, splits["test"].labels))
            for kind in FUSIONS:
                kind_cfg = copy.deepcopy(seed_cfg)
                kind_cfg.multimodal.fusion.kind = kind
                torch.manual_seed(seed)
                fused = MultimodalVEMD(kind_cfg, video)
                fused.audio = model.audio  # the trained branch, frozen
                trainer._train_fusion(fused, train_splits, features, kind_cfg, folder / kind, False)
                with torch.no_grad():
                    logits = fused.fuse(features["test"])
                results.setdefault(kind, []).append(trainer.accuracy(logits, splits["test"].labels))
            print(
                f"seed {seed}: " + ", ".join(f"{k} {v[-1]:.4f}" for k, v in results.items()), file=sys.stderr
            )
    n = len(splits["test"])
    print(f"test split: {n} clips; chance 0.3333; seeds {args.seeds}; {time.perf_counter() - start:.0f} s")
    print("| branch | test accuracy, mean ± sd |")
    print("|---|---|")
    for name, values in results.items():
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        print(f"| {name} | {100 * statistics.mean(values):.2f} ± {100 * sd:.2f} % |")
    if args.json:
        Path(args.json).write_text(
            json.dumps({"test_clips": n, "seeds": args.seeds, "accuracy": results}, indent=2)
        )
    return 0


@torch.no_grad()
def _audio_features(model, inputs, batch_size: int):
    from vemd.models.multimodal import Features

    parts = [
        model.audio(inputs.waveforms[rows].float(), inputs.audio_present[rows])
        for rows in torch.arange(len(inputs)).split(batch_size)
    ]
    return Features.cat(parts)


if __name__ == "__main__":
    sys.exit(main())
