"""``vemd audit --ckpt model.pt --identities DIR [--groups DIR] [--out DIR]``: measured privacy.

Re-identification of held-out items of known identities from each of the model's
representations (public probabilities, clip embedding, per-frame embedding, latent, SR; an
audio branch's for voices), against chance and a real recogniser (dlib face recognition, MFCC
speaker statistics); with ``--groups``, presence of an identity in group scenes (ROC AUC).
The report goes into ``--out`` only; ``--record`` also adds its headline figures to the model
card beside the model. See :mod:`vemd.privacy`.
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
        "DIR/<identity>/<recording>/<files> (items of one recording are never on both sides of a split; "
        "without recording folders, near-duplicates are grouped), "
        "or a flat EMO-DB folder (speaker = the first 2 characters of 03a01Fa.wav)",
    )
    parser.add_argument(
        "--layout",
        default="auto",
        choices=LAYOUTS,
        help="how --identities names identities (auto: EMO-DB file names if every WAV has one, else folders; "
        "sessions: every subfolder of an identity is a recording whose images are items, not a frame folder)",
    )
    parser.add_argument(
        "--groups",
        default=None,
        metavar="DIR",
        help="group scenes for the presence test: DIR/members.csv (file,identities joined with ;)",
    )
    parser.add_argument("--out", default=None, help="report folder (default: <ckpt folder>/audit-<media>)")
    parser.add_argument(
        "--record",
        action="store_true",
        help="also record the headline figures in the MODEL_CARD.md beside the model "
        "(default: the card is left as it is)",
    )
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
    _print_summary(result)
    if args.record:
        from vemd.card import add_audit

        card = add_audit(args.ckpt, result, out / "audit.md")
        print(f"recorded in {card}" if card else f"{args.ckpt}: no model card beside it to record in")
    print(f"report: {out / 'audit.md'}")
    return 0


def _print_summary(result: dict) -> None:
    """The table's accuracies and leakage ratios (1-NN), how items were grouped, the presence AUCs."""
    from vemd.privacy.report import grouping_text

    ids = result["identities"]
    print(
        f"re-identification of {ids['num_items']} items of {ids['num_identities']} identities "
        f"(chance {100 * result['chance']:.1f} %; leakage 1-NN vs input / vs ceiling):"
    )
    rows = dict(result["representations"])
    rows[f"{result['baseline']['name']} (input baseline)"] = result["baseline"]
    if result["ceiling"]:
        rows[f"{result['ceiling']['name']} (ceiling)"] = result["ceiling"]
    for name, entry in rows.items():
        knn, logreg = entry["knn"], entry["logreg"]
        ratios = " / ".join(
            "–" if knn[k] is None else f"{knn[k]:.2f}" for k in ("leakage_vs_input", "leakage")
        )
        print(
            f"  {name:<32} 1-NN {100 * knn['accuracy']:5.1f} %  logreg {100 * logreg['accuracy']:5.1f} %"
            f"  leakage {ratios}"
        )
    print(grouping_text(result["grouping"], ids["left_out"]))
    presence = result.get("presence")
    if presence and presence.get("representations"):
        auc = lambda s: "–" if s["auc"] is None else f"{s['auc']:.2f}"  # noqa: E731
        rows = {**presence["representations"], "pixels (input baseline)": presence["baseline"]}
        aucs = ", ".join(f"{n} {auc(e['logreg'])}" for n, e in rows.items())
        print(f"presence in {presence['num_scenes']} group scenes, ROC AUC (logreg): {aucs}")
        if presence.get("ceiling"):
            print(f"  face recognition (ceiling, best face): {auc(presence['ceiling']['prototype'])}")
