"""``vemd audit``: re-identification and presence probes on a model's representations.

:func:`run_audit` computes every representation of the items (:mod:`vemd.privacy.features`),
fits the probes of :mod:`vemd.privacy.probes` and writes the report (:mod:`vemd.privacy.report`)
into its folder; the model card is left as it is (``vemd audit --record`` adds the headline
figures with :func:`vemd.card.add_audit`). Nothing it reads is written back: no
frame, crop, face or embedding reaches the disk, only aggregate figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vemd.errors import DataError
from vemd.privacy import features as F
from vemd.privacy.grouping import Grouping, keep_identities, recording_groups, signatures
from vemd.privacy.items import GroupScene, Item, find_identities, read_groups
from vemd.privacy.probes import (
    PROBES,
    balanced_pairs,
    cosine_to_prototype,
    leakage,
    presence_logreg,
    presence_prototype,
    reidentify,
)
from vemd.version import __version__

AUDIT_FORMAT = "vemd-audit"
AUDIT_VERSION = 2  # 2: grouped splits, input baseline, leakage against it (1: stratified splits)


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

    Writes ``audit.json``, ``audit.md`` and ``audit.png`` into ``out_dir``, nothing else, and
    returns the ``audit.json`` dict.
    """
    from vemd.privacy.report import write_report

    started = time.perf_counter()
    found = find_identities(identities, layout)
    scenes = read_groups(groups) if groups is not None else []
    media = found[0].kind
    if scenes and media != "visual":
        raise DataError(f"{groups}: presence scenes are images or videos; the identities are audio")
    model = F.load_audit_model(checkpoint, device)
    with _Progress(progress) as bar:
        items, grouping, baseline, left_out = _usable_items(found, media, identities, bar)
        labels = np.array([item.identity for item in items])
        paths = [item.path for item in items]
        represent = F.visual_representations if media == "visual" else F.audio_representations
        reps = represent(
            model, paths, batch_size=batch_size, progress=bar.task("representations", len(paths))
        )
        recogniser, reference = _ceiling(media, paths, bar) if ceiling else (None, None)
        result = {
            "format": AUDIT_FORMAT,
            "version": AUDIT_VERSION,
            "vemd_version": __version__,
            "model": str(checkpoint),
            "model_sha256": file_digest(checkpoint),
            "mode": model.video.mode,
            "stage": model.video.stage,
            "multimodal": model.multimodal is not None,
            "media": media,
            "identities": _identity_facts(identities, items, layout, left_out),
            "grouping": grouping.facts,
            "chance": 1.0 / len(set(labels)),
            **_reidentification(media, reps, baseline, reference, labels, grouping.groups, seed),
            "presence": None,
        }
        if scenes:
            scene = _SceneInputs.read(model, scenes, recogniser, batch_size, bar)
            result["presence"] = _presence(scene, reps, baseline, labels, reference, seed)
    result["seconds"] = round(time.perf_counter() - started, 1)
    write_report(result, Path(out_dir))
    return result


def _usable_items(found: list[Item], media: str, root, bar) -> tuple[list[Item], Grouping, np.ndarray, dict]:
    """The items the probes can use, their recording groups (:mod:`vemd.privacy.grouping`), their
    input baseline, and the identities left out with why: an identity whose items all come from
    one recording has no other recording to be recognised from. One-line DataError when fewer
    than two identities remain."""
    labels = np.array([item.identity for item in found])
    tick = bar.task("input baseline", len(found))
    baseline = F.input_baseline(media, [item.path for item in found], progress=tick)

    def grouped(keep: np.ndarray) -> Grouping:  # within identities: leaving some out changes no group
        recordings = [item.recording for item, k in zip(found, keep, strict=True) if k]
        return recording_groups(labels[keep], recordings, signatures(media, baseline[keep]), media)

    keep, left_out = keep_identities(labels, grouped(np.ones(len(found), bool)).groups)
    remaining = len(set(labels[keep]))
    if remaining < 2:
        raise DataError(
            f"{root}: {remaining} identit{'y' if remaining == 1 else 'ies'} with items of 2 recordings or more; "
            "re-identification needs at least 2 (items of one recording, or near-duplicates, are not told apart "
            "from each other: DIR/<identity>/<recording>/<files>)"
        )
    kept = [item for item, k in zip(found, keep, strict=True) if k]
    return kept, grouped(keep), baseline[keep], left_out


def _ceiling(media: str, paths: list[Path], bar) -> tuple[F.FaceRecogniser | None, np.ndarray]:
    """The face recogniser (for the scenes too) and its (N, 128) vectors, or the voice statistics."""
    if media != "visual":
        return None, F.voice_ceiling(paths, progress=bar.task("voice statistics", len(paths)))
    recogniser = F.FaceRecogniser()
    tick = bar.task("face recognition", len(paths))
    return recogniser, np.stack([_ticked(recogniser.item(p), tick) for p in paths])


def _reidentification(media, reps, baseline, reference, labels, groups, seed) -> dict:
    """The rows of the re-identification table: ``baseline`` (the input), ``ceiling`` (None without
    one) and ``representations``, each with its probes' accuracies and leakage ratios."""

    def probe(vectors: np.ndarray, name: str) -> dict:
        found = reidentify(vectors, labels, groups, seed=seed)
        return {"name": name, "description": F.DESCRIPTIONS[name], "dim": int(vectors.shape[1]), **found}

    rows = {"baseline": probe(baseline, F.BASELINES[media]), "ceiling": None}
    if reference is not None:
        coverage = float(np.isfinite(reference).all(axis=1).mean())
        name = "face_recognition" if media == "visual" else "voice_mfcc"
        rows["ceiling"] = {**probe(reference, name), "coverage": coverage}
    rows["representations"] = {name: probe(vectors, name) for name, vectors in reps.items()}
    _add_leakage(rows, 1.0 / len(set(labels)))
    return rows


def _add_leakage(rows: dict, chance: float) -> None:
    """Each row's leakage ratio, per probe, against the ceiling (``leakage``) and against the input
    baseline (``leakage_vs_input``), each with its interval (``*_ci95``, :func:`~vemd.privacy.probes.leakage`)."""
    references = {"leakage": rows["ceiling"], "leakage_vs_input": rows["baseline"]}
    for entry in filter(None, [*rows["representations"].values(), rows["baseline"], rows["ceiling"]]):
        for kind in PROBES:
            for key, reference in references.items():
                top = reference[kind] if reference else None
                entry[kind][key], entry[kind][f"{key}_ci95"] = leakage(entry[kind], chance, top)


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes: which model file an audit measured."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _identity_facts(root, items: list[Item], layout: str, left_out: dict[str, str]) -> dict:
    counts = np.unique([item.identity for item in items], return_counts=True)[1]
    return {
        "root": str(root),
        "layout": layout,
        "num_identities": len(counts),
        "num_items": len(items),
        "items_per_identity": [int(counts.min()), int(counts.max())],
        "num_frame_folders": sum(item.path.is_dir() for item in items),  # items that are videos as frames
        "left_out": left_out,  # identity → why (all its items in one group): not probed
    }


@dataclass(frozen=True)
class _SceneInputs:
    """What the presence probes read of the group scenes: who is in each, the model's
    representations, pixel thumbnails (the input baseline), recording groups, and the faces the
    recogniser finds in each (None without a ceiling)."""

    members: list[frozenset[str]]
    reps: dict[str, np.ndarray]
    thumbnails: np.ndarray
    grouping: Grouping
    faces: list[np.ndarray] | None

    @classmethod
    def read(cls, model, scenes: list[GroupScene], recogniser, batch_size: int, bar) -> _SceneInputs:
        paths = [s.path for s in scenes]
        tick = bar.task("group scenes", len(paths))
        reps = F.visual_representations(model, paths, batch_size=batch_size, progress=tick)
        thumbnails = F.pixel_thumbnails(paths)
        recordings = [s.recording for s in scenes]
        grouping = recording_groups(
            np.zeros(len(paths)), recordings, signatures("visual", thumbnails), "visual"
        )
        faces = None
        if recogniser is not None:
            tick = bar.task("faces in scenes", len(paths))
            faces = [_ticked(recogniser.scene(p), tick) for p in paths]
        facts = {k: v for k, v in grouping.facts.items() if k != "groups_per_identity"}  # one "identity"
        return cls([s.identities for s in scenes], reps, thumbnails, Grouping(grouping.groups, facts), faces)


def _presence(scene: _SceneInputs, reps, baseline, labels, reference, seed) -> dict:
    """Presence AUCs of every representation, of the scenes' pixels and of the face-recognition
    ceiling; the logistic regression's folds never split a recording of scenes."""
    names = sorted(set(labels))
    unknown = sorted(set().union(*scene.members) - set(names))
    pairs = balanced_pairs(scene.members, names, seed=seed)
    out = {
        "num_scenes": len(scene.members),
        "chance_auc": 0.5,
        "grouping": scene.grouping.facts,
        "identities_not_in_items": unknown,
        "representations": {},
        "baseline": None,
        "ceiling": None,
    }
    if not pairs:
        out["note"] = "no identity has both present and absent scenes (2 of each at least)"
        return out

    def row(scene_vectors: np.ndarray, item_vectors: np.ndarray) -> dict:
        prototypes = {n: vectors_of(item_vectors, labels, n) for n in pairs}
        return {
            "logreg": presence_logreg(scene_vectors, pairs, scene.grouping.groups, seed=seed),
            "prototype": presence_prototype(
                lambda n, index: cosine_to_prototype(scene_vectors[index], prototypes[n]), pairs
            ),
        }

    out["representations"] = {name: row(vectors, reps[name]) for name, vectors in scene.reps.items()}
    out["baseline"] = {"name": "pixels", **row(scene.thumbnails, baseline)}
    if scene.faces is not None:
        out["ceiling"] = {
            "name": "face_recognition",
            "prototype": _best_face(scene.faces, reference, labels, pairs),
        }
    return out


def _best_face(faces: list[np.ndarray], reference: np.ndarray, labels: np.ndarray, pairs: dict) -> dict:
    """The ceiling's presence AUC: a scene's best-matching face against the identity's mean descriptor."""
    prototypes = {n: vectors_of(reference, labels, n) for n in pairs}

    def best(n: str, index: np.ndarray) -> np.ndarray:
        return np.array(
            [cosine_to_prototype(faces[i], prototypes[n]).max() if len(faces[i]) else np.nan for i in index]
        )

    return presence_prototype(best, pairs)


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
