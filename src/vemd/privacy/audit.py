"""``vemd audit``: re-identification and presence probes on a model's representations.

:func:`run_audit` computes every representation of the items (:mod:`vemd.privacy.features`),
fits the probes of :mod:`vemd.privacy.probes`, writes the report (:mod:`vemd.privacy.report`)
and records the headline figures in the model card. Nothing it reads is written back: no
frame, crop, face or embedding reaches the disk, only aggregate figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from vemd.errors import DataError
from vemd.privacy import features as F
from vemd.privacy.items import find_identities, read_groups
from vemd.privacy.probes import (
    PROBES,
    balanced_pairs,
    cosine_to_prototype,
    leakage_ratio,
    presence_logreg,
    presence_prototype,
    reidentify,
)
from vemd.version import __version__

AUDIT_FORMAT = "vemd-audit"


def run_audit(
    checkpoint: str | Path,
    identities: str | Path,
    *,
    out_dir: str | Path,
    groups: str | Path | None = None,
    layout: str = "auto",
    device: str = "cpu",
    batch_size: int = 8,
    ceiling: bool = True,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Audit ``checkpoint`` on the media of ``identities`` (and the scenes of ``groups``).

    Writes ``audit.json``, ``audit.md`` and ``audit.png`` into ``out_dir`` and returns the
    ``audit.json`` dict; the card beside the model file gains its headline figures.
    """
    from vemd.card import add_audit
    from vemd.privacy.report import write_report

    started = time.perf_counter()
    items = find_identities(identities, layout)
    scenes = read_groups(groups) if groups is not None else []
    media = items[0].kind
    if scenes and media != "visual":
        raise DataError(f"{groups}: presence scenes are images or videos; the identities are audio")
    model = F.load_audit_model(checkpoint, device)
    names = sorted({item.identity for item in items})
    labels = np.array([item.identity for item in items])
    paths = [item.path for item in items]
    with _Progress(progress) as bar:
        represent = F.visual_representations if media == "visual" else F.audio_representations
        reps = represent(
            model, paths, batch_size=batch_size, progress=bar.task("representations", len(paths))
        )
        recogniser = None
        if ceiling:
            if media == "visual":
                recogniser = F.FaceRecogniser()
                tick = bar.task("face recognition", len(paths))
                reference = np.stack([_ticked(recogniser.item(p), tick) for p in paths])
            else:
                reference = F.voice_ceiling(paths, progress=bar.task("voice statistics", len(paths)))
        chance = 1.0 / len(names)
        result = {
            "format": AUDIT_FORMAT,
            "version": 1,
            "vemd_version": __version__,
            "model": str(checkpoint),
            "model_sha256": file_digest(checkpoint),
            "mode": model.video.mode,
            "stage": model.video.stage,
            "multimodal": model.multimodal is not None,
            "media": media,
            "identities": _identity_facts(identities, items, layout),
            "chance": chance,
            "ceiling": None,
            "representations": {},
            "presence": None,
        }
        if ceiling:
            found = np.isfinite(reference).all(axis=1)
            result["ceiling"] = {
                "name": "face_recognition" if media == "visual" else "voice_mfcc",
                "description": F.DESCRIPTIONS["face_recognition" if media == "visual" else "voice_mfcc"],
                "coverage": float(found.mean()),
                **reidentify(reference, labels, seed=seed),
            }
        for name, vectors in reps.items():
            probes = reidentify(vectors, labels, seed=seed)
            for kind in PROBES:
                top = result["ceiling"][kind]["accuracy"] if result["ceiling"] else None
                probes[kind]["leakage"] = leakage_ratio(probes[kind]["accuracy"], chance, top)
            result["representations"][name] = {
                "description": F.DESCRIPTIONS[name],
                "dim": int(vectors.shape[1]),
                **probes,
            }
        if scenes:
            scene_paths = [s.path for s in scenes]
            scene_reps = F.visual_representations(
                model, scene_paths, batch_size=batch_size, progress=bar.task("group scenes", len(scenes))
            )
            faces = None
            if recogniser is not None:
                tick = bar.task("faces in scenes", len(scenes))
                faces = [_ticked(recogniser.scene(p), tick) for p in scene_paths]
            result["presence"] = _presence(
                scenes, scene_reps, reps, labels, names, faces, reference if faces else None, seed
            )
    result["seconds"] = round(time.perf_counter() - started, 1)
    out = Path(out_dir)
    written = write_report(result, out)
    add_audit(checkpoint, result, written["audit.md"])
    return result


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes: which model file an audit measured."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _identity_facts(root, items, layout: str) -> dict:
    counts = np.unique([item.identity for item in items], return_counts=True)[1]
    return {
        "root": str(root),
        "layout": layout,
        "num_identities": len(counts),
        "num_items": len(items),
        "items_per_identity": [int(counts.min()), int(counts.max())],
    }


def _presence(scenes, scene_reps, reps, labels, names, faces, reference, seed) -> dict:
    """Presence AUCs of every representation (and of the face-recognition ceiling)."""
    members = [s.identities for s in scenes]
    unknown = sorted(set().union(*members) - set(names))
    pairs = balanced_pairs(members, names, seed=seed)
    out = {
        "num_scenes": len(scenes),
        "chance_auc": 0.5,
        "identities_not_in_items": unknown,
        "representations": {},
        "ceiling": None,
    }
    if not pairs:
        out["note"] = "no identity has both present and absent scenes (2 of each at least)"
        return out
    for name, vectors in scene_reps.items():
        prototypes = {n: vectors_of(reps[name], labels, n) for n in pairs}
        out["representations"][name] = {
            "logreg": presence_logreg(vectors, pairs, seed=seed),
            "prototype": presence_prototype(
                lambda n, index, v=vectors, p=prototypes: cosine_to_prototype(v[index], p[n]), pairs
            ),
        }
    if faces is not None:
        prototypes = {n: vectors_of(reference, labels, n) for n in pairs}

        def best_face(n: str, index: np.ndarray) -> np.ndarray:
            return np.array(
                [
                    cosine_to_prototype(faces[i], prototypes[n]).max() if len(faces[i]) else np.nan
                    for i in index
                ]
            )

        out["ceiling"] = {"name": "face_recognition", "prototype": presence_prototype(best_face, pairs)}
    return out


def vectors_of(vectors: np.ndarray, labels: np.ndarray, name: str) -> np.ndarray:
    """The mean vector of an identity's items (NaN rows left out)."""
    rows = vectors[labels == name]
    rows = rows[np.isfinite(rows).all(axis=1)]
    return rows.mean(axis=0) if len(rows) else np.zeros(vectors.shape[1])


def _ticked(value, tick: Callable[[int], None]):
    tick(1)
    return value


class _Progress:
    """One rich progress bar per stage of the audit (nothing shown when disabled)."""

    def __init__(self, enabled: bool) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            disable=not enabled,
        )

    def __enter__(self) -> _Progress:
        self._bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._bar.__exit__(*exc)

    def task(self, description: str, total: int) -> Callable[[int], None]:
        task = self._bar.add_task(description, total=total)
        return lambda n: self._bar.advance(task, n)
