"""``vemd test --ckpt CKPT [--config FILE] [--split SPLIT] [--out DIR] [--record] [--save-frames]``.

The split is ``--split`` if given, else the recipe's ``data.test_split`` (from ``--config``, or
the config saved with the model); the printed JSON and ``metrics.json`` name it. Everything is
written into the report folder: the model card beside the model changes only with ``--record``,
and no test frame reaches the disk without ``--save-frames``.
"""

from __future__ import annotations

import argparse

from vemd.commands.common import add_config_arguments, add_device_arguments, config_overrides

HELP = (
    "Evaluate a trained model: accuracy with Wilson CI, F1, UAR, WAR, confusion, predictions; "
    "valence MSE/CCC and the MER2023 score for a model with a valence head."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser, required=False)
    parser.add_argument("--ckpt", required=True, help="model.pt (or a fit checkpoint)")
    parser.add_argument(
        "--split", default=None, help="split to evaluate (default: the config's data.test_split)"
    )
    parser.add_argument("--out", default=None, help="report folder (default: <ckpt folder>/test-<split>)")
    parser.add_argument(
        "--record",
        action="store_true",
        help="also record the scores in the MODEL_CARD.md beside the model (default: the card is left as it is)",
    )
    parser.add_argument(
        "--save-frames",
        action="store_true",
        help="also write sr_heatmaps.png (VE-MD-SR heatmap models): SR maps over a few test frames, "
        "which show the people in them (default: no frame is written)",
    )
    parser.add_argument(
        "--group-sizes",
        default=None,
        metavar="EDGES",
        help="accuracy by people per clip in buckets from these edges: 1,2,4,8 gives 1, 2-3, 4-7, 8+ "
        "(default: 1,2,4,7,11; none: no group-size report)",
    )
    add_device_arguments(parser)


def run(args: argparse.Namespace) -> int:
    import json
    import logging

    from vemd.commands.common import refuse_file_as_folder
    from vemd.config import ConfigError, load_config
    from vemd.eval.group_size import DEFAULT_EDGES, parse_edges

    group_sizes = DEFAULT_EDGES if args.group_sizes is None else parse_edges(args.group_sizes)
    if args.out is not None:
        refuse_file_as_folder(args.out)
    if not args.config and config_overrides(args):
        raise ConfigError(
            "--set and --skip-bad apply to a --config recipe's data section; give --config "
            "(e.g. the config.yaml beside the model)"
        )
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    data_cfg = load_config(args.config, config_overrides(args)) if args.config else None
    from vemd.annotate.backends.offline_faces import face_counter
    from vemd.systems import TestOptions, load_artifact

    options = TestOptions(
        args.split,
        args.out,
        data_cfg,
        args.device,
        args.precision,
        group_sizes,
        face_counter,
        record=args.record,
        save_frames=args.save_frames,
    )
    result = load_artifact(args.ckpt, device=args.device).evaluate(options)
    print(json.dumps(_summary(result), indent=2))
    return 0


SUMMARY_KEYS = ("split", "accuracy", "accuracy_ci95", "f1_weighted", "f1_macro", "uar", "war", "num_items")
SUMMARY_KEYS += ("valence_mse", "valence_ccc", "mer_score", "report")


def _summary(result: dict) -> dict:
    """What ``vemd test`` prints: a classifier's headline metrics, or a system's own summary."""
    if "accuracy" in result and "confusion" in result:  # the full metrics of a classifier
        return {k: result[k] for k in SUMMARY_KEYS if k in result}
    return result
