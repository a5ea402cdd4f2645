"""``vemd export --ckpt model.pt [--format onnx|torchscript|hf] [--out FILE] [--opset N] [--license ID]``.

Writes the model as one file a runtime without vemd can use: input ``pixels`` float32
(batch, frames, 3, S, S), RGB in [0, 255] (S: the model's image size; batch and frames free),
outputs ``probs`` (batch, classes) and, with a valence head, ``valence`` (batch,); group level
only. Class names, image size, clip length and layout are in the file (ONNX ``metadata_props``,
TorchScript extra file ``vemd.json``). The export is checked against the model before it is put
in place; see :mod:`vemd.inference.export`.

``--format hf`` writes a folder to upload to the Hugging Face Hub instead: the model file and a
model card with its metadata (:mod:`vemd.inference.hub_export`); ``hf://ORG/NAME`` loads it back.
"""

from __future__ import annotations

import argparse

HELP = (
    "Export a model file to ONNX (or TorchScript): RGB pixels (batch, frames, 3, S, S) in [0, 255] "
    "in, group-level probabilities (and valence) out; checked against the model before it is written."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ckpt", required=True, help="model.pt written by vemd fit, or hf://ORG/NAME[@REVISION]"
    )
    parser.add_argument(
        "--format",
        default="onnx",
        help="onnx (default; needs pip install vemd[export]), torchscript (a trace, which PyTorch "
        "deprecates; refused for a model whose trace would not keep the frame count free), or hf (a "
        "folder to upload to the Hugging Face Hub: model.pt and a model card README.md)",
    )
    parser.add_argument(
        "--out",
        default=None,
        metavar="FILE",
        help="file to write (default: model.onnx, or model.torchscript.pt, beside --ckpt; with --format "
        "hf the folder, default model-hf); an ONNX model over 1.5 GiB of weights keeps them beside it in "
        "FILE.data",
    )
    parser.add_argument(
        "--opset",
        type=int,
        default=None,
        metavar="N",
        help="ONNX opset, from 18 to the newest the installed onnx knows (default: the exporter's)",
    )
    parser.add_argument(
        "--license",
        default=None,
        metavar="ID",
        help="--format hf: the model card's license, a Hub license id (default: other; the weights' "
        "terms follow their training data's)",
    )


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from vemd.commands.common import refuse_unwritable
    from vemd.inference.export import FORMATS, default_output, export_model

    if args.format in FORMATS:  # (another is refused by export_model) before the model is loaded
        out = Path(args.out) if args.out else default_output(args.ckpt, args.format)
        refuse_unwritable(out.parent, out, "--out")
    result = export_model(args.ckpt, args.out, format=args.format, opset=args.opset, license=args.license)
    if result.format == "hf":
        print(
            f"wrote {result.path} (model.pt and README.md, {result.size_bytes / 1e6:.1f} MB); upload it "
            f"with: hf upload ORG/NAME {result.path}"
        )
        return 0
    where = f", weights in {result.external_data}" if result.external_data else ""
    opset = f" opset {result.opset}" if result.opset is not None else ""
    print(
        f"wrote {result.path} ({result.format}{opset}, {result.size_bytes / 1e6:.1f} MB{where}; "
        f"outputs {', '.join(result.outputs)}; max difference from the model {result.max_difference:.1g}; "
        f"{result.seconds:.0f} s)"
    )
    return 0
