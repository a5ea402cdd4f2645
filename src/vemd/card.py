"""``MODEL_CARD.md``: what a model file is, what it was trained and measured on, and what it is for.

One renderer for every system: the model, its training data and its results are the system's
sections (a VE-MD's from :func:`fit_facts`; another system lists its own ``model``, ``data``
and ``validation`` facts under its ``title``), then the same intended use, out-of-scope uses,
privacy design and measured identity leakage for all. ``vemd fit`` writes the card beside
every ``model.pt`` it exports; ``vemd test --record`` adds the metrics of the split it
evaluated (accuracy with its 95 % Wilson interval, UAR, F1, or a system's own scores);
``vemd audit --record`` its leakage. Without ``--record`` they leave the card as it is.

The card is a Hugging Face model card: YAML metadata between ``---`` lines at the top
(``huggingface_hub.ModelCardData``: library, tags, training dataset, the metrics recorded, and
every fact the card is drawn from under ``vemd``), the text below. The facts kept in the card
itself let it be redrawn when a new evaluation comes in without any other file; cards written by
vemd before the metadata kept them in an HTML comment, which :func:`read_facts` still reads.
``vemd serve`` shows the card at ``/v1/model``; ``vemd export --format hf`` starts its
``README.md`` from the same metadata.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from vemd.io import atomic_write_text
from vemd.version import __version__

CARD = "MODEL_CARD.md"
LIBRARY = "vemd"  # the metadata's library_name, and the key its facts are kept under
TAGS = ("vemd", "group-emotion-recognition")
_COMMENT_FACTS = re.compile(r"<!-- vemd-card (\{.*?\}) -->", re.S)  # cards of earlier versions

MODE_TEXT = {
    "ve-sd": "VE-SD: the variational encoder with the emotion decoder alone (no structural decoder)",
    "ve-md": "VE-MD: structural decoders trained as auxiliary tasks, not run at inference (not in model.pt)",
    "ve-md-sr": "VE-MD-SR: structural decoders whose scene-level structural representations (SR) feed "
    "the emotion decoder; the SR maps stay inside the model",
}


def card_path(model_path: str | Path) -> Path:
    return Path(model_path).with_name(CARD)


def write_model_card(model_path: str | Path, facts: dict) -> Path:
    """Write the card of ``model_path`` from ``facts`` (see :func:`fit_facts`); returns its path."""
    path = card_path(model_path)
    atomic_write_text(path, render(facts))
    return path


def read_facts(model_path: str | Path) -> dict | None:
    """The facts of the card beside ``model_path`` (its metadata's ``vemd``, or the HTML comment of
    a card written by an earlier version), or None when it has none (or no readable one)."""
    from huggingface_hub import metadata_load

    path = card_path(model_path)
    try:
        metadata = metadata_load(path)
        if metadata is None:
            match = _COMMENT_FACTS.search(path.read_text(encoding="utf-8"))
            return json.loads(match.group(1)) if match else None
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError):  # ValueError: JSON, or no mapping
        return None
    facts = metadata.get(LIBRARY)
    return facts if isinstance(facts, dict) else None


SCORE_KEYS = (
    "num_items",
    "accuracy",
    "accuracy_ci95",
    "uar",
    "f1_weighted",
    "f1_macro",
    "valence_ccc",
    "mer_score",
)


def add_evaluation(
    model_path: str | Path, split: str, metrics: dict, report: str | Path, *, keys: tuple | None = SCORE_KEYS
) -> Path | None:
    """Record the scores of ``split`` in the card beside ``model_path`` (if it has one) and redraw it:
    the ``keys`` of ``metrics`` (None: all of them, a system's own scores)."""
    facts = read_facts(model_path)
    if facts is None:
        return None
    scores = dict(metrics) if keys is None else {k: metrics[k] for k in keys if k in metrics}
    facts.setdefault("evaluations", {})[split] = scores | {"report": str(report)}
    return write_model_card(model_path, facts)


def audit_facts(result: dict, report: str | Path) -> dict:
    """The headline figures of a ``vemd audit`` result (:mod:`vemd.privacy.audit`) for the card."""
    ceiling = result.get("ceiling")
    reps = {
        name: {
            kind: {"accuracy": entry[kind]["accuracy"], "leakage": entry[kind].get("leakage")}
            for kind in ("knn", "logreg")
        }
        for name, entry in result["representations"].items()
    }
    presence = result.get("presence") or {}
    return {
        "media": result["media"],
        "identities": result["identities"]["root"],
        "num_identities": result["identities"]["num_identities"],
        "num_items": result["identities"]["num_items"],
        "chance": result["chance"],
        "ceiling": None
        if not ceiling
        else {"name": ceiling["name"], **{k: ceiling[k]["accuracy"] for k in ("knn", "logreg")}},
        "representations": reps,
        "presence_auc": {
            name: entry["logreg"]["auc"] for name, entry in (presence.get("representations") or {}).items()
        },
        "presence_ceiling_auc": ((presence.get("ceiling") or {}).get("prototype") or {}).get("auc"),
        "report": str(report),
    }


def add_audit(model_path: str | Path, result: dict, report: str | Path) -> Path | None:
    """Record the last audit of ``model_path`` in its card (if it has one), keyed by media kind."""
    facts = read_facts(model_path)
    if facts is None:
        return None
    facts.setdefault("audits", {})[result["media"]] = audit_facts(result, report)
    return write_model_card(model_path, facts)


def fit_facts(cfg, class_names: list[str], *, sizes: dict[str, int], validation: dict) -> dict:
    """The facts ``vemd fit`` knows: model, data (items per split), and ``validation``: the score it
    selected on (``monitor``, ``score``, ``ci95`` for accuracy)."""
    m, d = cfg.model, cfg.data
    return {
        "vemd_version": __version__,
        "mode": m.mode,
        "decoder": m.decoder,
        "modalities": list(m.sr.modalities),
        "vit": m.vit.name if m.vit.enabled else None,
        "cnn": m.cnn.name,
        "variational": m.variational,
        "image_size": m.image_size,
        "frames": d.frames,
        "sampling": d.sampling,
        "class_names": list(class_names),
        "stage": cfg.train.stage,
        "dataset": {"name": d.name, "root": str(d.root), "splits": sizes, "val_split": d.val_split},
        "validation": validation,
    }


def render(facts: dict) -> str:
    """The card's text: its metadata (:func:`card_data`) as YAML front matter, then its body."""
    return str(model_card(facts))


def model_card(facts: dict):
    """The card as a ``huggingface_hub.ModelCard``: :func:`card_data` above :func:`card_body`."""
    from huggingface_hub import ModelCard

    return ModelCard(f"---\n{card_data(facts).to_yaml()}\n---\n\n{card_body(facts)}")


# The weights' terms follow their training data's: "other" until the user says which
# (`vemd export --format hf --license ID`).
DEFAULT_LICENSE = "other"


def card_data(facts: dict):
    """The card's ``huggingface_hub.ModelCardData``: the Hub's keys that ``facts`` give (library,
    tags, training dataset, the metrics recorded) and the facts themselves under ``vemd``."""
    from huggingface_hub import ModelCardData

    tags = [*TAGS, *(facts[key] for key in ("system", "mode") if isinstance(facts.get(key), str))]
    dataset = (facts.get("dataset") or {}).get("name")  # a VE-MD's; a system names it in its text
    return ModelCardData(
        license=DEFAULT_LICENSE,
        library_name=LIBRARY,
        tags=list(dict.fromkeys(tags)),
        datasets=[dataset] if dataset else None,
        metrics=metric_names(facts) or None,
        **{LIBRARY: json.loads(json.dumps(facts))},  # JSON's types only: YAML that safe_load reads back
    )


# The scores that are measures of the model (not counts or intervals), in the card's order.
METRICS = ("accuracy", "uar", "f1_weighted", "f1_macro", "valence_ccc", "mer_score")


def metric_names(facts: dict) -> list[str]:
    """The :data:`METRICS` a card records: in its evaluations, or as its validation monitor."""
    seen = {key for scores in (facts.get("evaluations") or {}).values() for key in scores}
    monitor = (facts.get("validation") or {}).get("monitor")
    if isinstance(monitor, str):
        seen.add(monitor.rpartition("/")[2])  # "val/accuracy" → "accuracy"
    return [name for name in METRICS if name in seen]


def card_body(facts: dict) -> str:
    """The card's markdown below its metadata: the system's sections, intended use, privacy."""
    if "dataset" in facts:  # a VE-MD's facts (fit_facts), with its multimodal branches if any
        title, sections = "Model card", _vemd_sections(facts)
        outputs = "a group label, class probabilities"
        hears = (facts.get("multimodal") or {}).get("audio_encoder", "none") != "none"
    else:  # a system's own facts: lists under its title
        title, sections = facts.get("title") or facts.get("system", "Model card"), _listed_sections(facts)
        outputs = facts.get("outputs", "group-level values")
        hears = bool(facts.get("hears_audio"))
    audits = facts.get("audits") or {}
    lines = [
        f"# {title}",
        "",
        *sections,
        "",
        "## Intended use",
        "",
        "- Reading the collective affect of a group (a classroom, a meeting, an audience) from images or"
        " video, as an aggregate over the scene, for research and for studying group-level dynamics.",
        "- On data like its training data: a model trained on synthetic scenes (SynthGroups) is a"
        " demonstration of the pipeline, not a model of real people's emotions.",
        "",
        "## Out of scope",
        "",
        "- Monitoring, scoring or ranking individuals; identifying, recognising or tracking anyone.",
        "- Decisions about a person (grading, hiring, discipline, security screening) or any use where a"
        " wrong group label harms the people in the scene.",
        "- Populations, settings or cultures the training data does not cover, without evaluating there first.",
        "",
        "## Privacy design",
        "",
        "- Guaranteed by construction: the public outputs (`vemd predict`, the Python API, `vemd serve`) are"
        f" {outputs} and a timeline of windows. No box, track, identity, per-person"
        " score or structural map leaves the model; no frame is written to disk unless asked for.",
        *(
            [
                "- In VE-MD mode the structural decoders are not in `model.pt`; in VE-MD-SR mode their maps stay inside."
            ]
            if "mode" in facts
            else []
        ),
        "- Not guaranteed: that internal embeddings or the outputs carry no information about who is in the"
        " scene. Only a measurement (re-identification probes on the model's representations, `vemd audit`)"
        " can show how much they carry"
        + ("; none is recorded in this card." if not audits else ": see Measured identity leakage."),
        *(
            [
                "- The audio branch hears voices: speech embeddings are known to carry speaker identity,"
                " and its clip embedding reaches the fusion"
                + (
                    "; how much identity it carries is not measured here."
                    if "audio" not in audits
                    else " (its speaker leakage is measured below)."
                )
            ]
            if hears
            else []
        ),
        "- The training data (frames, annotations) is not part of the model file.",
        *_audit_lines(audits),
        "",
    ]
    return "\n".join(lines)


def _listed_sections(facts: dict) -> list[str]:
    """A system's own facts as lists: model, training data, validation and each evaluation."""
    lines = []
    for heading, table in (
        ("Model", facts.get("model", {})),
        ("Training data", facts.get("data", {})),
        ("Validation (the scores the model was selected on)", facts.get("validation", {})),
        *((f"Test on split {split!r}", scores) for split, scores in facts.get("evaluations", {}).items()),
    ):
        lines += [f"## {heading}", "", *(f"- {key}: {value}" for key, value in table.items()), ""]
    return lines[:-1]


def _vemd_sections(facts: dict) -> list[str]:
    """A VE-MD's model, training data and results table."""
    splits = facts["dataset"]["splits"]
    sizes = ", ".join(f"{name}: {count:,} items" for name, count in splits.items())
    structure = (
        f"{facts['decoder']} decoder over {' and '.join(facts['modalities'])}"
        if facts["mode"] != "ve-sd"
        else "none"
    )
    vit = f"ViT branch `{facts['vit']}`" if facts["vit"] else "no ViT branch"
    lines = [
        f"vemd {facts['vemd_version']} · group emotion recognition · classes: {', '.join(facts['class_names'])}",
        "",
        "## Model",
        "",
        f"- Architecture: {MODE_TEXT.get(facts['mode'], facts['mode'])}.",
        f"- Encoder: {vit}, CNN branch `{facts['cnn']}`, latent `{facts['variational']}`;"
        f" structure: {structure}.",
        f"- Input: {facts['frames']} frame(s) of {facts['image_size']}×{facts['image_size']} RGB per clip"
        f" ({facts['sampling']} sampling); trained stage(s): {facts['stage']}.",
        "- Output: one group-level label and class probabilities per clip (and per window of a video).",
        *_multimodal_lines(facts.get("multimodal")),
        "",
        "## Training data",
        "",
        f"- Dataset `{facts['dataset']['name']}` at `{facts['dataset']['root']}`; {sizes}.",
        "",
        "## Results",
        "",
        "| split | items | accuracy (95 % CI) | UAR | F1 (weighted) |",
        "|---|---|---|---|---|",
    ]
    validation = facts["validation"]
    if validation.get("score") is not None:
        ci = validation.get("ci95")
        score = f"{100 * validation['score']:.1f} %" + (
            f" ({100 * ci[0]:.1f}–{100 * ci[1]:.1f})" if ci else ""
        )
        label = "selection" if validation["monitor"] == "val/accuracy" else validation["monitor"]
        lines.append(
            f"| validation, during training ({label}) | {splits.get(facts['dataset']['val_split'], '')} | {score} | | |"
        )
    for split, e in facts.get("evaluations", {}).items():
        ci = e.get("accuracy_ci95")
        accuracy = f"{100 * e['accuracy']:.1f} %" + (f" ({100 * ci[0]:.1f}–{100 * ci[1]:.1f})" if ci else "")
        lines.append(
            f"| {split} (`vemd test`) | {e.get('num_items', '')} | {accuracy} | {_pct(e.get('uar'))} "
            f"| {_pct(e.get('f1_weighted'))} |"
        )
    if not facts.get("evaluations"):
        lines.append("| test | | not evaluated yet: run `vemd test --ckpt model.pt` | | |")
    return lines


def _audit_lines(audits: dict) -> list[str]:
    """The "Measured identity leakage" section: the last ``vemd audit`` of each media kind."""
    if not audits:
        return []
    lines = ["", "## Measured identity leakage", ""]
    for media, a in sorted(audits.items()):
        ceiling = a.get("ceiling")
        presence = a.get("presence_auc") or {}
        top = (
            f"; ceiling `{ceiling['name']}` 1-NN {_pct(ceiling['knn'])}, logreg {_pct(ceiling['logreg'])}"
            if ceiling
            else "; no ceiling"
        )
        what = (
            "; presence AUC: telling whether a person is among the people of a group scene (0.5 = chance)"
            if presence
            else ""
        )
        lines += [
            f"`vemd audit` on {a['num_items']} {media} items of {a['num_identities']} identities (`{a['identities']}`):"
            f" re-identification of held-out items, chance {_pct(a['chance'])}{top}. Leakage = (accuracy − chance) /"
            f" (ceiling − chance){what}. Report: `{a['report']}`.",
            "",
            "| representation | 1-NN | leakage | logreg | leakage |"
            + (" presence AUC |" if presence else ""),
            "|---|---|---|---|---|" + ("---|" if presence else ""),
        ]
        for name, r in a["representations"].items():
            auc = presence.get(name)
            lines.append(
                f"| `{name}` | {_pct(r['knn']['accuracy'])} | {_ratio(r['knn']['leakage'])} "
                f"| {_pct(r['logreg']['accuracy'])} | {_ratio(r['logreg']['leakage'])} |"
                + (f" {'' if auc is None else f'{auc:.2f}'} |" if presence else "")
            )
        if presence and a.get("presence_ceiling_auc") is not None:
            lines.append(f"| face recognition (ceiling) | | | | | {a['presence_ceiling_auc']:.2f} |")
        lines.append("")
    return lines[:-1]


def _ratio(value) -> str:
    return "–" if value is None else f"{value:.2f}"


def _multimodal_lines(mm: dict | None) -> list[str]:
    if not mm:
        return []
    scores = ", ".join(f"{name} {100 * value:.1f} %" for name, value in mm.get("val_accuracy", {}).items())
    return [
        f"- Multimodal (paper §7): the VE-MD above, frozen, with audio branch `{mm['audio_encoder']}`"
        f"{' and a text branch' if mm.get('text') else ''}; `{mm['fusion']}` fusion over"
        f" {', '.join(mm['modalities'])}. Validation accuracy of each alone and fused: {scores}.",
        f"- Audio: each clip's span (the whole clip, or an item's frames), at most {mm['audio_seconds']:g} s;"
        " each window's span for a video; mono 16 kHz.",
    ]


def _pct(value) -> str:
    return "" if value is None else f"{100 * value:.1f} %"
