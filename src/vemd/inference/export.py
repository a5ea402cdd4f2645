"""Export a vemd model file to a runtime that needs neither vemd nor PyTorch: ONNX (or TorchScript);
or, as ``hf``, to a folder to upload to the Hugging Face Hub (:mod:`vemd.inference.hub_export`).

What an exported graph computes is :class:`GroupEmotionGraph`, the whole of inference after
decoding and resizing: RGB pixels → the model's own normalisation → the stage-aware
:meth:`~vemd.models.vemd.VEMD.classify` → group-level outputs only.

* input ``pixels``: float32 (batch, frames, 3, S, S), RGB in [0, 255], channels first; S is the
  model's ``image_size`` (what :class:`~vemd.inference.predictor.GroupEmotionPredictor` feeds
  after its resize); batch and frames are free (frames = 1 for an image).
* outputs ``probs``: float32 (batch, num_classes), a softmax in fp32; ``valence``: float32
  (batch,), for a stage-2 model with a valence head only. No latent, no structural map.

ONNX goes through the ``torch.export`` based exporter with both axes declared dynamic. Its
example input has batch 2 and frames 3: an axis of size 1 in the example would be frozen at 1,
and two axes of one size could be taken for the same. Model code keeps an axis free only if it
takes sizes from ``tensor.shape``: ``len(tensor)`` or ``int(...)`` of a size turns it into the
example's constant without an error, which the check below catches. (The TorchScript-based ONNX
exporter, ``dynamo=False``, is not used: under ``no_grad`` it cannot translate the transformer's
fused eval-mode layer, and with gradients on it reports success but bakes the example's frame
count into the attention's reshapes, so that any other count fails in onnxruntime.) The file is
self-contained below 1.5 GiB of weights (torch's threshold, under protobuf's 2 GiB); above, the
weights are written beside it as ``<name>.data``, which must travel with it. The file's
``metadata_props`` (:func:`metadata`) tell a consumer the class names, input size, clip length
and layout.

Every export is checked before it is put in place: the written graph (through onnxruntime, or
the traced module) and the PyTorch model are run on the same random pixels at shapes other than
the example's, and an export whose probabilities differ by more than :data:`TOLERANCE`, or
where either side is NaN or infinite, is refused (the tests hold the tiny models to 1e-4 at 1
to 16 frames). Files are written under a temporary name, then renamed; with external data, the
data is renamed first, then the graph.
"""

from __future__ import annotations

import json
import logging
import math
import os
import secrets
import shutil
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn

from vemd.errors import VemdError
from vemd.version import __version__

FORMATS = ("onnx", "torchscript", "hf")
SUFFIXES = {"onnx": ".onnx", "torchscript": ".torchscript.pt", "hf": "-hf"}  # hf: a folder
INSTALL_HINT = "pip install vemd[export]"
INPUT_NAME = "pixels"
EXAMPLE_SHAPE = (2, 3)  # (batch, frames) of the traced example: both > 1 and distinct
CHECK_SHAPES = ((1, 1), (3, 5))  # (batch, frames) the export is checked at
# Max |Δ| of probabilities (and valence) accepted between export and model. fp32 rounding differs
# between runtimes, and an untrained heatmap decoder's flat maps (std ~3e-4) make it reach 2e-4
# through the SR LayerNorm of a paper-size model; a broken graph differs far more, or fails.
TOLERANCE = 1e-3
MIN_OPSET = 18  # the exporter's own opset: it cannot convert its graph to older ones
EXTERNAL_DATA_BYTES = 1536 * 1024**2  # weights above this go to <name>.data (torch's threshold)
METADATA_FILE = "vemd.json"  # the metadata of a TorchScript file, as one of its extra files


class GroupEmotionGraph(nn.Module):
    """A loaded :class:`~vemd.models.vemd.VEMD` as exported: pixels → group-level outputs.

    ``forward``: ``pixels`` (B, T, 3, S, S) float in [0, 255] → (``probs`` (B, num_classes),)
    or (``probs``, ``valence`` (B,)) when :attr:`has_valence`.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model.eval()
        self.has_valence = model.stage == "2" and model.emotion_decoder.valence_head is not None

    @property
    def output_names(self) -> tuple[str, ...]:
        return ("probs", "valence") if self.has_valence else ("probs",)

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, ...]:
        output = self.model.classify(self.model.preprocess(pixels))
        probs = output.logits.float().softmax(-1)
        return (probs, output.valence.float()) if self.has_valence else (probs,)


@dataclass
class ExportResult:
    """What :func:`export_model` wrote and how it checked it."""

    path: Path
    format: str
    size_bytes: int  # the file, and its external data if any
    external_data: Path | None  # ``<name>.data`` beside ``path`` for models over the threshold
    opset: int | None  # ONNX only
    max_difference: float  # largest |Δ| of probs/valence over the check shapes
    outputs: tuple[str, ...]
    seconds: float = 0.0  # loading, export and check


def default_output(ckpt: str | Path, format: str = "onnx") -> Path:
    """``model.onnx`` (``model.torchscript.pt``, the folder ``model-hf``) in the model file's folder;
    in the working folder for a Hub model (``hf://``)."""
    from vemd.hub import is_hub_name

    return (Path() if is_hub_name(ckpt) else Path(ckpt).parent) / f"model{SUFFIXES[format]}"


def metadata(model: nn.Module, cfg, class_names: list[str], outputs: tuple[str, ...]) -> dict[str, str]:
    """String key → string value pairs that let a consumer use an export without vemd."""
    size = model.image_size
    layout = f"{INPUT_NAME}: float32 [batch, frames, 3, {size}, {size}], RGB in [0, 255], channels first"
    described = {
        "probs": f"probs: float32 [batch, {len(class_names)}], softmax over class_names",
        "valence": "valence: float32 [batch], regressed group valence",
    }
    data = cfg.data
    return {
        "class_names": json.dumps(list(class_names)),
        "mode": model.mode,
        "stage": model.stage,
        "image_size": str(size),
        "frames": str(data.frames),  # frames per clip in training: what a window should hold
        "sampling": data.sampling,  # how they were taken: uniform over the clip, or fps
        "frame_interval": str(data.frame_interval),  # seconds between frames under fps sampling
        "vemd_version": __version__,
        "input_layout": layout,
        "outputs": "; ".join(described[name] for name in outputs),
    }


def export_model(
    ckpt: str | Path,
    out: str | Path | None = None,
    *,
    format: str = "onnx",
    opset: int | None = None,
    license: str | None = None,
) -> ExportResult:
    """Export the model in ``ckpt`` (``model.pt``, a fit checkpoint or ``hf://ORG/NAME``) to ``out``.

    ``out`` defaults to :func:`default_output`; ``opset`` (ONNX only) to the exporter's own;
    ``license`` (hf only) is the model card's license id (default ``other``).
    Raises :class:`VemdError` (one line) for an unknown format, a missing extra, a bad model
    file (:class:`~vemd.models.checkpoint.CheckpointError`), an export that fails or that does
    not reproduce the model.
    """
    if format not in FORMATS:
        raise VemdError(f"--format {format}: expected one of {', '.join(FORMATS)}")
    if opset is not None and format != "onnx":
        raise VemdError("--opset applies to --format onnx only")
    if license is not None and format != "hf":
        raise VemdError("--license applies to --format hf only")
    if format == "hf":
        from vemd.inference.hub_export import export_hf

        out = Path(out) if out is not None else default_output(ckpt, format)
        start = time.perf_counter()
        size, outputs = export_hf(ckpt, out, license=license)
        # the model file itself, byte for byte: nothing differs from the model
        return ExportResult(out, "hf", size, None, None, 0.0, outputs, time.perf_counter() - start)
    if format == "onnx":
        _require_onnx()
        _checked_opset(opset)
    out = Path(out) if out is not None else default_output(ckpt, format)
    if out.is_dir():
        raise VemdError(f"{out}: is a folder; --out names the file to write")
    if out.resolve() == Path(ckpt).resolve():
        raise VemdError(f"{out}: is the model file itself; give another --out")
    from vemd.systems import load_artifact

    start = time.perf_counter()
    artifact = load_artifact(ckpt)
    if artifact.capabilities.export is not None:
        raise VemdError(artifact.capabilities.export)
    model, cfg, class_names = artifact.vision(), artifact.cfg, artifact.class_names
    graph = GroupEmotionGraph(model)
    meta = metadata(model, cfg, class_names, graph.output_names)
    write = _write_onnx if format == "onnx" else _write_torchscript
    return replace(write(graph, meta, out, opset, ckpt), seconds=time.perf_counter() - start)


def _require_onnx() -> None:
    missing = [name for name in ("onnx", "onnxscript", "onnxruntime") if not _importable(name)]
    if missing:
        raise VemdError(f"ONNX export needs {', '.join(missing)}: {INSTALL_HINT}")


def _importable(name: str) -> bool:
    import importlib

    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


def _pixels(graph: GroupEmotionGraph, batch: int, frames: int, seed: int) -> torch.Tensor:
    """Random RGB pixels as the predictor makes them: uint8 values as float32, (B, T, 3, S, S)."""
    size = graph.model.image_size
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, frames, 3, size, size), generator=gen, dtype=torch.uint8).float()


def _checked(graph: GroupEmotionGraph, run, ckpt) -> float:
    """Max |Δ| between ``run(pixels) -> list of arrays`` and the model at :data:`CHECK_SHAPES`."""
    worst = 0.0
    for seed, (batch, frames) in enumerate(CHECK_SHAPES):
        pixels = _pixels(graph, batch, frames, seed)
        with torch.no_grad():
            expected = graph(pixels)
        try:
            got = run(pixels)
        except Exception as err:  # a runtime refusing a shape the export should take
            example = "batch {}, {} frames".format(*EXAMPLE_SHAPE)
            raise VemdError(
                f"{ckpt}: the exported graph fails on batch {batch}, {frames} frame(s), likely a size of the "
                f"example ({example}) was frozen into it ({_first_line(err)}); nothing written"
            ) from err
        for name, want, have in zip(graph.output_names, expected, got, strict=True):
            have = torch.as_tensor(have)
            if have.shape != want.shape:
                raise VemdError(
                    f"{ckpt}: the exported {name} has shape {tuple(have.shape)} for batch {batch}, "
                    f"{frames} frame(s); the model gives {tuple(want.shape)}"
                )
            gap = (have.float() - want.float()).abs().max().item()
            if not math.isfinite(gap):  # max(worst, nan) is worst: a NaN must fail, never pass as 0
                raise VemdError(
                    f"{ckpt}: the exported {name} or the model's is NaN or infinite at batch {batch}, "
                    f"{frames} frame(s); nothing written"
                )
            worst = max(worst, gap)
        if worst > TOLERANCE:
            raise VemdError(
                f"{ckpt}: the exported graph differs from the model by {worst:.2g} (> {TOLERANCE:g}) "
                f"at batch {batch}, {frames} frame(s); nothing written"
            )
    return worst


# ---- ONNX -------------------------------------------------------------------------------------


def _write_onnx(graph: GroupEmotionGraph, meta: dict, out: Path, opset: int | None, ckpt) -> ExportResult:
    program = _onnx_program(graph, opset, ckpt)
    model = program.model
    model.metadata_props.update(meta)
    _drop_source_traces(model)
    model.doc_string = f"vemd {__version__} group emotion model ({meta['mode']}): {meta['input_layout']}"
    external = _initializer_bytes(model) > EXTERNAL_DATA_BYTES
    work = out.parent / f".{out.name}.{secrets.token_hex(8)}.tmp"  # same folder: renames are atomic
    work.mkdir(parents=True)
    try:
        staged = work / out.name
        program.save(staged, external_data=external)  # data, if external, as <name>.data beside it
        written = _opset(staged)
        if opset is not None and written != opset:
            raise VemdError(f"--opset {opset}: the exporter wrote opset {written}; nothing written")
        difference = _checked(graph, _onnxruntime_runner(staged, written, ckpt), ckpt)
        data = staged.with_name(f"{out.name}.data")
        if external:  # the data first: the new .onnx never points at old data
            os.replace(data, out.with_name(data.name))
        size = staged.stat().st_size + (out.with_name(data.name).stat().st_size if external else 0)
        os.replace(staged, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return ExportResult(
        path=out,
        format="onnx",
        size_bytes=size,
        external_data=out.with_name(f"{out.name}.data") if external else None,
        opset=written,
        max_difference=difference,
        outputs=graph.output_names,
    )


def _drop_source_traces(model) -> None:
    """Remove the exporter's per-node source traces: they name files (and so folders, user
    names) of the machine that exported the model, which a shared model file need not tell."""
    import onnx_ir as ir

    graphs = [model.graph, *model.functions.values()]
    for graph in graphs:
        for node in ir.traversal.RecursiveGraphIterator(graph):
            for key in [k for k in node.metadata_props if "stack_trace" in k]:
                del node.metadata_props[key]


def _checked_opset(opset: int | None) -> None:
    """Opsets from the exporter's own (18; it cannot convert below) to the newest onnx knows."""
    import onnx.defs

    newest = onnx.defs.onnx_opset_version()
    if opset is not None and not MIN_OPSET <= opset <= newest:
        raise VemdError(f"--opset {opset}: expected {MIN_OPSET} to {newest}")


def _onnx_program(graph: GroupEmotionGraph, opset: int | None, ckpt):
    """The ONNX program of ``graph`` with dynamic batch and frames (torch.export based exporter)."""
    batch = torch.export.Dim("batch", min=1)
    frames = torch.export.Dim("frames", min=1)
    example = _pixels(graph, *EXAMPLE_SHAPE, seed=0)
    try:
        with torch.no_grad(), _exporter_quiet():
            return torch.onnx.export(
                graph,
                (example,),
                None,
                input_names=[INPUT_NAME],
                output_names=list(graph.output_names),
                dynamic_shapes={INPUT_NAME: {0: batch, 1: frames}},
                opset_version=opset,
                dynamo=True,
                verbose=False,
            )
    except Exception as err:  # torch.onnx and torch.export raise many types
        raise VemdError(f"{ckpt}: ONNX export failed ({type(err).__name__}: {_first_line(err)})") from err


def _initializer_bytes(model) -> int:
    return sum(
        value.const_value.nbytes
        for value in model.graph.initializers.values()
        if value.const_value is not None
    )


def _onnxruntime_runner(path: Path, opset: int, ckpt):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 4  # fatal only: a failure is reported on one line, not logged too
    try:
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as err:  # an opset or operator this onnxruntime does not have
        raise VemdError(
            f"{ckpt}: onnxruntime {onnxruntime.__version__} cannot load the export at opset {opset} "
            f"({_first_line(err)}); nothing written"
        ) from err
    return lambda pixels: session.run(None, {INPUT_NAME: pixels.numpy()})


def _opset(path: Path) -> int:
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    return next(entry.version for entry in proto.opset_import if entry.domain in ("", "ai.onnx"))


# ---- TorchScript ------------------------------------------------------------------------------


def _write_torchscript(graph: GroupEmotionGraph, meta: dict, out: Path, opset, ckpt) -> ExportResult:
    """A traced module: trace records the shapes the reshapes use, so a model whose Python code
    turns the frame count into a constant would be frozen at the example's; the check at other
    shapes refuses such a trace."""
    from vemd.io import atomic_write

    example = _pixels(graph, *EXAMPLE_SHAPE, seed=0)
    with torch.no_grad(), _exporter_quiet():  # TracerWarnings: image-size checks are constant by design
        try:
            traced = torch.jit.trace(graph, (example,), check_trace=False)
        except Exception as err:
            raise VemdError(
                f"{ckpt}: TorchScript export failed ({type(err).__name__}: {_first_line(err)})"
            ) from err
        try:
            difference = _checked(graph, traced, ckpt)
        except VemdError as err:  # the trace froze a shape: say so, and what does keep it free
            raise VemdError(
                f"{err}; a TorchScript trace cannot keep this model's frames free: use --format onnx"
            ) from err
    extra = {METADATA_FILE: json.dumps(meta)}
    with _exporter_quiet():  # torch.jit.save is deprecated in torch 2.x
        atomic_write(out, lambda handle: torch.jit.save(traced, handle, _extra_files=extra))
    return ExportResult(
        path=out,
        format="torchscript",
        size_bytes=out.stat().st_size,
        external_data=None,
        opset=None,
        max_difference=difference,
        outputs=graph.output_names,
    )


@contextmanager
def _exporter_quiet() -> Iterator[None]:
    """The exporters' warnings and log lines (deprecations, tracer notes, a version conversion
    they fall back from) kept out of the terminal unless ``vemd -v``: what matters is checked
    after the export and reported on one line."""
    from vemd.noise import verbose

    if verbose():
        yield
        return
    loggers = [logging.getLogger(name) for name in ("onnxscript", "torch.onnx", "torch.export")]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:200] if text else type(err).__name__
