"""Does a trained VE-MD hold the class in its features while its emotion decoder says nothing?

A run at chance (validation accuracy 1 / classes, cross-entropy ln 3) can mean two things: the
encoder learnt nothing, or it did and the emotion decoder's MLP head cannot read it. This
benchmark tells them apart for one checkpoint (a ``model.pt`` or a ``vemd fit`` ``*.ckpt``):

* the decoder's own validation accuracy, and the spread of its logits over the clips (a head
  that outputs one constant has none);
* the fraction of the head's hidden ReLU units that fire for at least one validation clip (a unit
  that fires for none passes no gradient and does not come back: a "dead" unit);
* the validation accuracy of a logistic regression (scikit-learn) fitted on frozen features of
  training clips: the pooled latent (what φ reads) and the clip embedding (what the head reads).

A frozen-feature probe far above a decoder at chance means the encoder learnt and the head
lost it.

    .venv/bin/python benchmarks/probe_decoder.py runs/default/stage2/last.ckpt --data D
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ckpt", help="a VE-MD model.pt or a vemd fit checkpoint (*.ckpt)")
    parser.add_argument("--data", default=None, help="dataset root (default: the one it was trained on)")
    parser.add_argument("--n-train", type=int, default=1500, help="training clips the probes are fitted on")
    parser.add_argument("--n-val", type=int, default=600, help="validation clips they are scored on")
    parser.add_argument("--batch", type=int, default=50)
    return parser.parse_args(argv)


def features(model, dataset, n: int, batch: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The pooled latent, the clip embedding, the head's hidden activations and the logits of the
    first ``n`` clips of ``dataset``, with their labels."""
    decoder = model.emotion_decoder
    seen: dict[str, list[torch.Tensor]] = {}

    def keep(name: str, tensor: torch.Tensor) -> None:
        seen.setdefault(name, []).append(tensor.detach().float().flatten(1))

    hooks = [
        decoder.phi.register_forward_hook(lambda m, i, o: keep("pooled latent", i[0])),
        decoder.head[0].register_forward_hook(lambda m, i, o: keep("clip embedding", i[0])),
        decoder.head[2].register_forward_hook(lambda m, i, o: keep("hidden", o)),
    ]
    labels: list[int] = []
    try:
        for start in range(0, min(n, len(dataset)), batch):
            items = [dataset[i] for i in range(start, min(n, len(dataset), start + batch))]
            frames = torch.stack([torch.as_tensor(item["frames"]) for item in items])
            labels += [int(item["label"]) for item in items]
            with torch.no_grad():
                keep("logits", model(model.preprocess(frames)).logits)
    finally:
        for hook in hooks:
            hook.remove()
    return {name: torch.cat(parts).numpy() for name, parts in seen.items()}, np.asarray(labels)


def probe(train: np.ndarray, y_train: np.ndarray, val: np.ndarray, y_val: np.ndarray) -> float:
    """Validation accuracy of a standardised logistic regression fitted on ``train``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    return float((model.fit(train, y_train).predict(val) == y_val).mean())


def main(argv: list[str] | None = None) -> int:
    from vemd.config import from_dict
    from vemd.data.build import build_dataset
    from vemd.errors import USER_ERRORS
    from vemd.model_file import read_model_file
    from vemd.models.build import build_model

    args = parse_args(argv)
    try:
        file = read_model_file(args.ckpt)
        cfg = from_dict(file.config)
        if args.data:
            cfg.data.root = args.data
        model = build_model(cfg.model)
        model.load_state_dict(file.state_dict, strict=False)  # a fit checkpoint also holds the probe
        model.eval()
        train_set, _ = build_dataset(cfg, "train", train=False, stage="2")
        val_set, _ = build_dataset(cfg, "val", train=False, stage="2")
    except USER_ERRORS as err:
        print(f"probe_decoder: {err}", file=sys.stderr)
        return 1
    train, y_train = features(model, train_set, args.n_train, args.batch)
    val, y_val = features(model, val_set, args.n_val, args.batch)
    hidden = val["hidden"] > 0
    result = {
        "checkpoint": str(Path(args.ckpt)),
        "decoder val accuracy": float((val["logits"].argmax(1) == y_val).mean()),
        "decoder logit spread over clips": float(val["logits"].std(0).mean()),
        "head units alive": float(hidden.any(0).mean()),
        "probe val accuracy": {
            name: probe(train[name], y_train, val[name], y_val)
            for name in ("pooled latent", "clip embedding")
        },
        "chance": 1 / cfg.model.num_classes,
        "clips": {"train": len(y_train), "val": len(y_val)},
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
