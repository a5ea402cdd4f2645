"""Bad inputs written on demand: damaged annotation shards, model files, config files,
predictions files and pickled payloads (bad media come from ``tests/data/bad_media.py``).

A payload (:func:`payload`) is an object whose unpickling creates a marker file: a reader
that unpickles with code execution allowed leaves the marker behind, a safe one refuses.
"""

from __future__ import annotations

import csv
import io
import os
import pickle
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MARKER = "PAYLOAD-RAN"
CLASS_NAMES = ["Negative", "Neutral", "Positive"]


class _Payload:
    """Unpickling it calls ``open(marker, "w")``: the marker file appears."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def payload(marker: Path) -> _Payload:
    return _Payload(marker)


def _random_bytes(size: int = 4096, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


def cut(path: Path, fraction: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


# Torch files (model.pt, last.ckpt): each writes ``path`` and returns it.


def torch_file(kind: str, path: Path, marker: Path) -> Path:
    """A damaged or crafted torch file: ``zero``, ``truncated``, ``random``, ``payload`` (a torch
    zip holding a code-running pickle), ``pickle`` (a plain pickle file holding one)."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "zero":
        path.write_bytes(b"")
    elif kind == "truncated":
        torch.save({"state_dict": {"w": torch.zeros(64, 64)}, "format": "vemd-model"}, path)
        cut(path)
    elif kind == "random":
        path.write_bytes(_random_bytes())
    elif kind == "payload":
        torch.save({"format": "vemd-model", "state_dict": {}, "epoch": payload(marker)}, path)
    elif kind == "pickle":
        path.write_bytes(pickle.dumps({"epoch": payload(marker), "global_step": 1}))
    else:
        raise ValueError(kind)
    return path


TORCH_FILE_KINDS = ("zero", "truncated", "random", "payload", "pickle")


def flip_bytes(path: Path, count: int = 64) -> Path:
    """Flip ``count`` bytes in the middle of the largest tensor's data of a torch zip file, in
    place: torch still reads it (its members' CRC-32s are the only witness)."""
    import struct
    import zipfile

    with zipfile.ZipFile(path) as archive:
        member = max((m for m in archive.infolist() if "/data/" in m.filename), key=lambda m: m.file_size)
    data = bytearray(path.read_bytes())
    header = member.header_offset
    name_length, extra_length = struct.unpack("<HH", data[header + 26 : header + 30])
    start = header + 30 + name_length + extra_length + member.file_size // 2
    data[start : start + count] = bytes(b ^ 0xFF for b in data[start : start + count])
    path.write_bytes(bytes(data))
    return path


def rewrite_model(path: Path, *, fill: float | None = None, config: dict | None = None, classes=None) -> Path:
    """A model file changed in place: one weight tensor filled with ``fill`` (nan, inf: what a
    run that diverged exports), ``config`` values set by dotted key, the class names replaced."""
    import torch

    data = torch.load(path, weights_only=True)
    if fill is not None:
        name = next(k for k, v in data["state_dict"].items() if v.is_floating_point() and v.numel() > 1)
        data["state_dict"][name] = torch.full_like(data["state_dict"][name], fill)
    for key, value in (config or {}).items():
        *parents, last = key.split(".")
        node = data["config"]
        for part in parents:
            node = node[part]
        node[last] = value
    if classes is not None:
        data["class_names"] = list(classes)
    torch.save(data, path)
    return path


def poison_shard(kind: str, path: Path) -> Path:
    """An annotation shard whose arrays are well formed but whose values are not: ``nan`` (a
    person's body keypoints NaN), ``zero-size`` (a frame of 0×0 pixels)."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k].copy() for k in data.files}
    if kind == "nan":
        person = int(np.flatnonzero(arrays["has_body"])[0])
        arrays["body"][person, 0, :2] = np.nan
    elif kind == "zero-size":
        arrays["sizes"][0] = 0
    else:
        raise ValueError(kind)
    with path.open("wb") as handle:
        np.savez(handle, **arrays)
    return path


POISON_KINDS = ("nan", "zero-size")


# Annotation shards.


def damage_shard(kind: str, path: Path, marker: Path) -> Path:
    """Damage an annotation shard in place: ``truncated``, ``random`` bytes, ``pickled`` (a
    valid-looking .npz whose ``keys`` array is an object array holding a payload)."""
    if kind == "truncated":
        cut(path)
    elif kind == "random":
        path.write_bytes(_random_bytes())
    elif kind == "pickled":
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        keys = np.empty(len(arrays["keys"]), dtype=object)
        keys[:] = [payload(marker)] * len(keys)
        arrays["keys"] = keys
        with path.open("wb") as handle:
            np.savez(handle, **arrays)
    else:
        raise ValueError(kind)
    return path


SHARD_KINDS = ("truncated", "random", "pickled")


# Config files.


def config_file(kind: str, folder: Path, marker: Path) -> Path:
    """A broken config: ``yaml`` (bad syntax), ``list`` (a YAML list), ``binary``, ``folder``
    (a directory named .yaml), ``missing``, ``tag`` (a python/object tag whose loading
    would create the marker)."""
    path = folder / f"cfg-{kind}.yaml"
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "yaml":
        path.write_text("model:\n  mode: [ve-md\n  latent_dim: : 3\n")
    elif kind == "list":
        path.write_text("- model\n- train\n")
    elif kind == "binary":
        path.write_bytes(b"\x00\xff\xfe" + _random_bytes(512))
    elif kind == "folder":
        path.mkdir()
    elif kind == "missing":
        pass
    elif kind == "tag":
        path.write_text(f"model: !!python/object/apply:builtins.open [{str(marker)!r}, w]\n")
    else:
        raise ValueError(kind)
    return path


CONFIG_KINDS = ("yaml", "list", "binary", "folder", "missing", "tag")


# Predictions files (vemd compare).


def predictions_csv(path: Path, items: int = 6) -> Path:
    """A valid predictions.csv of ``items`` items over :data:`CLASS_NAMES`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["item_id", "true_label", "pred_label", *(f"prob_{c}" for c in CLASS_NAMES)])
        for i in range(items):
            true, pred = CLASS_NAMES[i % 3], CLASS_NAMES[(i * 2) % 3]
            writer.writerow([f"item-{i}", true, pred, *(f"{1 / 3:.4f}" for _ in CLASS_NAMES)])
    return path


def predictions_file(kind: str, folder: Path, marker: Path) -> Path:
    """A bad predictions file: ``binary``, ``missing``, ``folder``, ``empty``, ``header`` (wrong
    columns), ``latin1`` (not UTF-8), ``pickle`` (a pickled payload)."""
    path = folder / f"pred-{kind}.csv"
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "binary":
        path.write_bytes(b"\x00\x01PK\x03\x04" + _random_bytes(256))
    elif kind == "folder":
        path.mkdir()
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "header":
        path.write_text("id,label\nitem-0,Negative\n")
    elif kind == "latin1":
        predictions_csv(path)
        path.write_bytes(path.read_bytes().replace(b"item-0", "ité\u00e9".encode("latin-1")))
    elif kind == "pickle":
        path.write_bytes(pickle.dumps(payload(marker)))
    elif kind != "missing":
        raise ValueError(kind)
    return path


PREDICTION_KINDS = ("binary", "missing", "folder", "empty", "header", "latin1", "pickle")


# Datasets (the generic manifest layout of a vemd synth set).


def set_manifest_row(root: Path, clip_id: str, /, **fields: str) -> None:
    """Change fields (``path``, ``label``, ``clip_id``, ``split``) of one manifest row."""
    manifest = root / "manifest.csv"
    with manifest.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        if row["clip_id"] == clip_id:
            row.update(fields)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    manifest.write_text(buffer.getvalue())


@dataclass
class Workspace:
    """One case's folder and the session's shared material (copied, never changed)."""

    root: Path
    base_dataset: Path
    base_model: Path
    made: dict = field(default_factory=dict)

    @property
    def marker(self) -> Path:
        return self.root / MARKER

    def dataset(self) -> Path:
        """A fresh copy of the small valid dataset (4 train, 2 val clips of one 64×64 frame)."""
        if "dataset" not in self.made:
            self.made["dataset"] = Path(shutil.copytree(self.base_dataset, self.root / "D"))
        return self.made["dataset"]

    def model(self) -> Path:
        """A copy of a valid tiny model.pt (random weights, the dataset's classes)."""
        if "model" not in self.made:
            self.made["model"] = Path(shutil.copy(self.base_model, self.root / "model.pt"))
        return self.made["model"]

    def folder(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path


def store_keys(store: Path) -> set[str]:
    """The frame keys of an annotation store, read as vemd reads them."""
    from vemd.structure.annotations import AnnotationStore

    return set(AnnotationStore(store).keys())


def same_store(a: Path, b: Path) -> None:
    """Assert two annotation stores hold the same keys with the same arrays."""
    from vemd.structure.annotations import AnnotationStore

    store_a, store_b = AnnotationStore(a), AnnotationStore(b)
    assert set(store_a.keys()) == set(store_b.keys()), sorted(set(store_a.keys()) ^ set(store_b.keys()))[:10]
    for key, fa in store_a.items():
        fb = store_b[key]
        assert (fa.width, fa.height, len(fa.persons)) == (fb.width, fb.height, len(fb.persons)), key
        for part in ("body", "face"):
            np.testing.assert_array_equal(fa.stacked(part), fb.stacked(part), err_msg=f"{key} {part}")


def temporary_files(folder: Path) -> list[str]:
    """Files and folders a killed writer may leave: ``*.tmp``, ``.partial-*``, ``*.lock`` aside."""
    return sorted(
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.name.endswith(".tmp") or p.name.startswith(".partial-") or ".tmp" in p.suffixes
    )


def environment() -> dict[str, str]:
    """The environment of a vemd subprocess: offline, no GPU preference changes."""
    return {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
