"""``vemd summary``: what a config builds — modules, parameters, latent and SR shapes, GFLOPs per frame.

The model is built on the meta device (no memory, no weights, no network), so paper-size
configs summarise in seconds; FLOPs are counted from shapes with ``FlopCounterMode`` on a
forward pass of one clip of ``data.frames`` frames.
"""

from __future__ import annotations

import argparse
import json

HELP = "Describe a model config: modules, parameter counts, latent/SR shapes, GFLOPs per frame."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="recipe name (e.g. tiny) or YAML file")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="dotted config override"
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def _count(module) -> tuple[int, int]:
    params = list(module.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


def _shapes(pred: dict) -> dict[str, list[int]]:
    """Per-frame shapes of the tensors of a structural decoder output (per-stage tuples left out)."""
    import torch

    return {k: list(v.shape[1:]) for k, v in pred.items() if isinstance(v, torch.Tensor)}


def _forward_flops(model, frames, auxiliary: bool) -> tuple[float, dict[str, float], object]:
    """(GFLOPs per frame, GFLOPs per frame of each top-level module, output) of one forward pass."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    num_frames = frames.shape[0] * frames.shape[1]
    flags = {p: p.requires_grad for p in model.parameters()}
    model.requires_grad_(False)  # the counter's module hooks want no autograd graph
    try:
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            out = model(frames, auxiliary=auxiliary)
    finally:
        for param, flag in flags.items():
            param.requires_grad_(flag)
    per_module = {
        name.removeprefix("VEMD."): sum(counts.values()) / num_frames / 1e9
        for name, counts in counter.get_flop_counts().items()
    }
    return counter.get_total_flops() / num_frames / 1e9, per_module, out


def summarize(cfg) -> dict:
    """The summary of ``cfg`` as a JSON-ready dict."""
    import torch

    from vemd.models import build_model
    from vemd.models.build import sr_dims

    m = cfg.model
    with torch.device("meta"):
        model = build_model(m, load_weights=False).eval()
        frames = torch.empty(1, cfg.data.frames, 3, m.image_size, m.image_size)
    inference, per_module, out = _forward_flops(model, frames, auxiliary=False)
    training, _, train_out = _forward_flops(model, frames, auxiliary=True)
    parts = {
        **({"encoder.vit_branch": model.encoder.vit_branch} if model.encoder.vit_branch is not None else {}),
        "encoder.cnn_branch": model.encoder.cnn_branch,
        **{f"struct_decoders.{k}": v for k, v in model.struct_decoders.items()},
        "emotion_decoder": model.emotion_decoder,
    }
    if model.encoder.logvar is not None:
        parts["encoder.logvar"] = model.encoder.logvar
    if model.recon_decoder is not None:
        parts["recon_decoder"] = model.recon_decoder
    modules = {}
    for name, module in parts.items():
        total, trainable = _count(module)
        modules[name] = {
            "params": total,
            "trainable": trainable,
            "gflops_per_frame": per_module.get(name, 0.0),
        }
    total, trainable = _count(model)
    fed = model.emotion_decoder.sr_widths
    return {
        "mode": m.mode,
        "variational": m.variational,
        "decoder": m.decoder if model.struct_decoders else None,
        "frames": cfg.data.frames,
        "image_size": m.image_size,
        "latent_shape": list(out.latent.shape[1:]),
        "frame_embedding_dim": model.emotion_decoder.frame_dim,
        "sr_shapes": {
            name: {
                "prediction": _shapes(train_out.structure(name)),
                "sr_raw": sr_dims(m).get(name),
                "sr_input": fed.get(name),
            }
            for name in model.struct_decoders
        },
        "params_total": total,
        "params_trainable": trainable,
        "gflops_per_frame": inference,
        "gflops_per_frame_training_forward": training,
        "modules": modules,
    }


def _print_tables(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    head = Table(
        title=f"VE-MD {report['mode']} ({report['variational']}, {report['decoder'] or 'no structural decoder'})"
    )
    head.add_column("property")
    head.add_column("value", justify="right")
    rows = [
        ("input", f"{report['frames']} × 3 × {report['image_size']}²"),
        ("latent (per frame)", " × ".join(map(str, report["latent_shape"]))),
        ("frame embedding", str(report["frame_embedding_dim"])),
        ("parameters", f"{report['params_total']:,} ({report['params_trainable']:,} trainable)"),
        ("GFLOPs / frame (inference)", f"{report['gflops_per_frame']:.3f}"),
        ("GFLOPs / frame (training forward)", f"{report['gflops_per_frame_training_forward']:.3f}"),
    ]
    for name, sr in report["sr_shapes"].items():
        rows.append((f"SR {name}", f"{sr['prediction']} → raw {sr['sr_raw']} → fed {sr['sr_input']}"))
    for row in rows:
        head.add_row(*row)
    console.print(head)
    table = Table(title="modules")
    for column in ("module", "params", "trainable", "GFLOPs/frame"):
        table.add_column(column, justify="left" if column == "module" else "right")
    for name, info in report["modules"].items():
        table.add_row(
            name, f"{info['params']:,}", f"{info['trainable']:,}", f"{info['gflops_per_frame']:.3f}"
        )
    console.print(table)


def run(args: argparse.Namespace) -> int:
    from vemd.config import load_config

    report = summarize(load_config(args.config, args.set))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_tables(report)
    return 0
