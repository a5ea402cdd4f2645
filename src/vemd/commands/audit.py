"""``vemd audit --ckpt model.pt --identities DIR [--groups DIR] [--out DIR]``: measured privacy.

Re-identification of held-out items of known identities from each of the model's
representations (public probabilities, clip embedding, per-frame embedding, latent, SR; an
audio branch's for voices), against chance and a real recogniser (dlib face recognition, MFCC
speaker statistics); with ``--groups``, presence of an identity in group scenes (ROC AUC).
See :mod:`vemd.privacy`.
"""

from __future__ import annotations

import argparse

from vemd.privacy.items import LAYOUTS

HELP = (
    "Measure identity leakage: re-identification and presence probes on a model's outputs and "
    "embeddings, against chance and a face/voice recognition ceiling."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ckpt", required=True, help="model.pt of a VE-MD or multimodal model")
    parser.add_argument(
        "--identities",
        required=True,
        metavar="DIR",
        help="media of known identities: DIR/<identity>/<files> (images, videos, frame folders or audio), "
        "or a flat EMO-DB folder (speaker = the first 2 characters of 03a01Fa.wav)",
    )
    parser.add_argument(
        "--layout",
        default="auto",
        choices=LAYOUTS,
        help="how --identities names identities (auto: EMO-DB file names if every WAV has one, else folders)",
    )
    parser.add_argument(
        "--groups",
        default=None,
        metavar="DIR",
        help="group scenes for the presence test: DIR/members.csv (file,identities joined with ;)",
    )
    parser.add_argument("--out", default=None, help="report folder (default: <ckpt folder>/audit-<media>)")
    parser.add_argument(
        "--no-ceiling",
        action="store_true",
        help="skip the face/voice recognition ceiling (no leakage ratios)",
    )
    parser.add_argument("--batch-size", type=int, default=8, help="items per forward pass")
    parser.add_argument("--seed", type=int, default=0, help="cross-validation folds and presence pairs")
    parser.add_argument(
        "--device", default="cpu", help="where the model runs: cpu, cuda, cuda:N, mps or auto (default: cpu)"
    )


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from vemd.commands.common import refuse_file_as_folder
    from vemd.errors import DataError
    from vemd.privacy.audit import run_audit
    from vemd.privacy.items import find_identities

    if args.batch_size < 1:
        raise DataError(f"--batch-size {args.batch_size}: expected an integer >= 1")
    media = find_identities(args.identities, args.layout)[0].kind
    out = Path(args.out) if args.out else Path(args.ckpt).parent / f"audit-{media}"
    refuse_file_as_folder(out)
    result = run_audit(
        args.ckpt,
        args.identities,
        out_dir=out,
        groups=args.groups,
        layout=args.layout,
        device=args.device,
        batch_size=args.batch_size,
        ceiling=not args.no_ceiling,
        seed=args.seed,
    )
    chance = result["chance"]
    print(
        f"re-identification of {result['identities']['num_items']} items of "
        f"{result['identities']['num_identities']} identities (chance {100 * chance:.1f} %):"
    )
    rows = dict(result["representations"])
    if result["ceiling"]:
        rows[f"{result['ceiling']['name']} (ceiling)"] = result["ceiling"]
    for name, entry in rows.items():
        leak = entry["knn"].get("leakage")
        shown = "" if leak is None else f"  leakage {leak:.2f}"
        print(
            f"  {name:<32} 1-NN {100 * entry['knn']['accuracy']:5.1f} %  "
            f"logreg {100 * entry['logreg']['accuracy']:5.1f} %{shown}"
        )
    presence = result.get("presence")
    if presence and presence.get("representations"):
        aucs = ", ".join(f"{n} {e['logreg']['auc']:.2f}" for n, e in presence["representations"].items())
        print(f"presence in {presence['num_scenes']} group scenes, ROC AUC (logreg): {aucs}")
        if presence.get("ceiling"):
            print(f"  face recognition (ceiling, best face): {presence['ceiling']['prototype']['auc']:.2f}")
    print(f"report: {out / 'audit.md'}")
    return 0
