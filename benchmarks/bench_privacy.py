"""Identity leakage of a trained model against the same architecture with random weights.

Both are audited (``vemd audit``) on the same recurring built-in people (``vemd synth
--identities``, the quickstart's audit set by default); the table gives the best probe's
re-identification accuracy per representation and the presence AUC, beside the input baseline
(raw grey pixels) and the face-recognition ceiling, with how the items were grouped.

    .venv/bin/python benchmarks/bench_privacy.py --ckpt runs/quickstart/run/model.pt
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from vemd.io import load_weights_only
from vemd.model_file import FORMAT as MODEL_FORMAT
from vemd.models import build_model
from vemd.privacy.audit import run_audit
from vemd.privacy.report import grouping_text
from vemd.synth import generate_dataset


def random_twin(ckpt: Path, out: Path) -> Path:
    """A model file of ``ckpt``'s config and classes with freshly initialised weights (seed 0)."""
    from vemd.config import from_dict, to_dict

    data = load_weights_only(ckpt)
    cfg = from_dict(data["config"])
    cfg.model.vit.pretrained = False
    torch.manual_seed(0)
    model = build_model(cfg.model)
    keep = set(data["state_dict"])
    payload = dict(data, format=MODEL_FORMAT, config=to_dict(cfg))
    payload["state_dict"] = {k: v for k, v in model.state_dict().items() if k in keep}
    out.mkdir(parents=True, exist_ok=True)
    torch.save(payload, out / "model.pt")
    return out / "model.pt"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", default="runs/quickstart/run/model.pt")
    parser.add_argument("--identities", type=int, default=10, help="built-in people")
    parser.add_argument("--seed", type=int, default=2, help="of the people (the quickstart's audit: 2)")
    parser.add_argument("--out", default="runs/bench_privacy")
    args = parser.parse_args()
    out = Path(args.out)
    people = generate_dataset(
        out / "identities",
        n_train=0,
        n_val=0,
        frames=1,
        seed=args.seed,
        identities=args.identities,
        per_identity=8,
        n_groups=12 * args.identities,
    )
    models = {"trained": Path(args.ckpt), "random weights": random_twin(Path(args.ckpt), out / "random")}
    results = {
        name: run_audit(
            path, people / "identities", groups=people / "groups", out_dir=out / name.replace(" ", "_")
        )
        for name, path in models.items()
    }
    best = lambda e: max(e[p]["accuracy"] for p in ("knn", "logreg"))  # noqa: E731
    first = next(iter(results.values()))
    print(
        f"{first['identities']['num_items']} items of {first['identities']['num_identities']} people, "
        f"chance {100 * first['chance']:.1f} %; best of 1-NN / logreg; presence AUC (logreg)"
    )
    for name, result in results.items():
        presence = result["presence"]["representations"]
        cells = ", ".join(
            f"{rep} {100 * best(e):.1f} % / {presence[rep]['logreg']['auc']:.2f}"
            for rep, e in result["representations"].items()
        )
        baseline = result["presence"]["baseline"]["logreg"]["auc"]
        print(
            f"{name}: {cells}; pixels {100 * best(result['baseline']):.1f} % / {baseline:.2f};"
            f" ceiling {100 * best(result['ceiling']):.1f} %"
        )
    print(grouping_text(first["grouping"], first["identities"]["left_out"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
