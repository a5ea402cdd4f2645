"""``MODEL_CARD.md`` of a seed-system model: what it is, what it was trained on, its scores.

The card keeps its facts as JSON in an HTML comment, like VE-MD's
(:mod:`vemd.models.card`), so ``vemd test`` can add each evaluation and redraw it. Its title
is the registered system's (:attr:`vemd.systems.base.System.title`).
"""

from __future__ import annotations

import json
from pathlib import Path

from vemd.io import atomic_write_text
from vemd.models.card import card_path, read_facts


def write_system_card(model_path: str | Path, facts: dict) -> Path:
    path = card_path(model_path)
    atomic_write_text(path, render(facts))
    return path


def add_system_evaluation(model_path: str | Path, split: str, scores: dict, report: str | Path) -> None:
    facts = read_facts(model_path)
    if facts is None:
        return
    facts.setdefault("evaluations", {})[split] = {**scores, "report": str(report)}
    write_system_card(model_path, facts)


def _lines(title: str, table: dict) -> list[str]:
    out = [f"## {title}", ""]
    for key, value in table.items():
        out.append(f"- {key}: {value}")
    return [*out, ""]


def render(facts: dict) -> str:
    from vemd.systems import SYSTEMS

    kind = facts["system"]
    lines = [f"# {SYSTEMS[kind].title if kind in SYSTEMS else kind}", ""]
    lines += [
        "Group-level outputs only: "
        + (
            "class probabilities of the whole group."
            if kind == "emotiw20"
            else "valence and arousal of the scene."
        ),
        "No identity is modelled; the model sees whole frames (and, for emotiw20, the clip's sound, "
        "which carries the speakers' voices).",
        "",
    ]
    lines += _lines("Model", facts.get("model", {}))
    lines += _lines("Training data", facts.get("data", {}))
    lines += _lines("Validation (the scores the model was selected on)", facts.get("validation", {}))
    for split, scores in facts.get("evaluations", {}).items():
        lines += _lines(f"Test on split {split!r}", scores)
    lines.append(f"<!-- vemd-card {json.dumps(facts, sort_keys=True)} -->")
    return "\n".join(lines) + "\n"
