"""The audit's files: ``audit.json`` (every figure), ``audit.md`` (tables) and ``audit.png``
(re-identification accuracy per representation and of the input baseline, with its Wilson
interval, and chance and ceiling lines)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from vemd.io import atomic_write_text

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PROBE_NAMES = {"knn": "1-NN (cosine)", "logreg": "logistic regression"}


def write_report(result: dict, out_dir: str | Path) -> dict[str, Path]:
    """Write the three files (atomically) and return their paths by name."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / name for name in ("audit.json", "audit.md", "audit.png")}
    plot_audit(result, paths["audit.png"])
    atomic_write_text(paths["audit.json"], json.dumps(result, indent=2) + "\n")
    atomic_write_text(paths["audit.md"], render_markdown(result))
    return paths


def _pct(value) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def _span(bounds: list[int]) -> str:
    low, high = bounds
    return str(low) if low == high else f"{low}–{high}"


def _accuracy_row(name: str, entry: dict) -> str:
    cells = [name, entry.get("description", ""), str(entry.get("dim", ""))]
    for kind in PROBE_NAMES:
        p = entry[kind]
        lo, hi = p["ci95"]
        cells.append(f"{_pct(p['accuracy'])} ({100 * lo:.1f}–{100 * hi:.1f})")
    return "| " + " | ".join(cells) + " |"


def _leakage_cell(probe: dict, key: str) -> str:
    value, bounds = probe.get(key), probe.get(f"{key}_ci95")
    return "–" if value is None else f"{value:.2f} ({bounds[0]:.2f}–{bounds[1]:.2f})"


def _leakage_row(name: str, entry: dict) -> str:
    keys = ("leakage_vs_input", "leakage")
    cells = [name] + [_leakage_cell(entry[kind], key) for key in keys for kind in PROBE_NAMES]
    return "| " + " | ".join(cells) + " |"


def _rows(result: dict) -> list[tuple[str, dict]]:
    """(label, entry) of every row of the tables: representations, input baseline, ceiling."""
    rows = [(f"`{name}`", entry) for name, entry in result["representations"].items()]
    rows.append((f"`{result['baseline']['name']}` (input baseline)", result["baseline"]))
    if result["ceiling"]:
        rows.append((f"`{result['ceiling']['name']}` (ceiling)", result["ceiling"]))
    return rows


def grouping_text(grouping: dict, left_out: dict[str, str] | None = None) -> str:
    """How items were grouped for the splits, in a sentence or three."""
    near = grouping["near_duplicate"]
    joined = (
        f"near-duplicates ({near['signature']} correlating at {near['min_correlation']:g} or more)"
        " outside them were joined"
    )
    how = {
        "recording folders": "by the recording folder each item sits in",
        "near-duplicates": "by near-duplicates the audit found (no recording folders): "
        f"{near['signature']} correlating at {near['min_correlation']:g} or more joined",
        "recording folders, near-duplicates outside them": f"by recording folder, and {joined}",
    }[grouping["by"]]
    text = (
        f"Items were grouped {how}: {grouping['num_groups']} groups"
        f" ({_span(grouping['groups_per_identity'])} per identity), and the cross-validation never puts"
        " items of one group on both sides of a split."
    )
    if grouping["num_near_duplicate_pairs_across_groups"]:
        text += (
            f" {grouping['num_near_duplicate_pairs_across_groups']} pairs of items in different recordings look"
            " near-identical all the same; figures may be inflated by them."
        )
    if left_out:
        names = ", ".join(f"{name} ({why})" for name, why in list(left_out.items())[:8])
        more = f" and {len(left_out) - 8} more" if len(left_out) > 8 else ""
        text += (
            f" Left out, with no second group to be recognised from: {len(left_out)} identities,"
            f" {names}{more}."
        )
    return text


def _scene_grouping_text(grouping: dict) -> str:
    near = grouping["near_duplicate"]
    return (
        "Scenes were grouped by recording (the subfolder of the groups folder they sit in), and outside"
        f" subfolders as near-duplicates ({near['signature']} correlating at {near['min_correlation']:g} or"
        f" more): {grouping['num_groups']} groups."
    )


def _frame_folder_note(count: int) -> list[str]:
    if not count:
        return []
    return [
        "",
        f"{count} items are frame folders, each one clip (a video as frames); with `--layout sessions` the"
        " images of each subfolder are items of one recording instead.",
    ]


def _reidentification(result: dict) -> list[str]:
    ids = result["identities"]
    return [
        "## Re-identification",
        "",
        "Top-1 accuracy of re-identifying held-out items of the same identities (grouped cross-validation),"
        " with 95 % Wilson intervals, for each representation of the model, for the input itself (the"
        " trivial baseline) and for a real recogniser (the ceiling).",
        "",
        grouping_text(result["grouping"], ids.get("left_out")),
        *_frame_folder_note(ids.get("num_frame_folders", 0)),
        "",
        f"Chance: {_pct(result['chance'])} (1 / {ids['num_identities']}).",
        "",
        "| representation | what | dim | 1-NN (cosine) | logistic regression |",
        "|---|---|---|---|---|",
        *(_accuracy_row(name, entry) for name, entry in _rows(result)),
        "",
        "## Leakage",
        "",
        "(accuracy − chance) / (reference − chance) for each probe, at its accuracy and (in brackets) at the"
        " ends of its Wilson interval. Against the input: 0 is chance, 1 as much identity as the input itself"
        f" (`{result['baseline']['name']}`), above 1 more than the input shows. Against the ceiling: 1 is as"
        " much as a real recogniser.",
        "",
        "| representation | vs input, 1-NN | vs input, logreg | vs ceiling, 1-NN | vs ceiling, logreg |",
        "|---|---|---|---|---|",
        *(_leakage_row(name, entry) for name, entry in _rows(result)),
    ]


def _ceiling_note(ceiling: dict | None) -> list[str]:
    if not ceiling:
        return ["", "No ceiling was computed (`--no-ceiling`): leakage against it is not defined."]
    found = "a face" if ceiling["name"] == "face_recognition" else "audio"
    return [
        "",
        f"The ceiling found {found} in {_pct(ceiling['coverage'])} of the items; the others count as errors.",
    ]


def _auc(summary: dict) -> str:
    return "–" if summary["auc"] is None else f"{summary['auc']:.3f}"


def _presence(presence: dict | None) -> list[str]:
    if not presence:
        return []
    lines = [
        "",
        "## Presence in a group",
        "",
        f"{presence['num_scenes']} group scenes; for each identity, as many scenes without them as with them, of the"
        " same numbers of people. ROC AUC (mean over identities; 0.5 = chance): `logreg` is a logistic regression"
        " on the scene's representation, cross-validated with the scenes grouped by recording, `prototype` its"
        " cosine similarity to the identity's mean representation over its own items.",
        "",
    ]
    if presence.get("grouping"):
        lines += [_scene_grouping_text(presence["grouping"]), ""]
    if presence.get("note"):
        return [*lines, presence["note"]]
    lines += ["| representation | logreg AUC | prototype AUC | identities | pairs |", "|---|---|---|---|---|"]
    rows = [(f"`{name}`", entry) for name, entry in presence["representations"].items()]
    if presence.get("baseline"):
        rows.append((f"`{presence['baseline']['name']}` (input baseline)", presence["baseline"]))
    for name, entry in rows:
        lg, pr = entry["logreg"], entry["prototype"]
        lines.append(f"| {name} | {_auc(lg)} | {_auc(pr)} | {lg['num_identities']} | {lg['num_pairs']} |")
    if presence.get("ceiling"):
        pr = presence["ceiling"]["prototype"]
        lines.append(
            f"| `face_recognition` (ceiling, best face) | – | {_auc(pr)} | {pr['num_identities']} | {pr['num_pairs']} |"
        )
    return lines


def render_markdown(result: dict) -> str:
    """``audit.md``: what was audited, re-identification, leakage and presence tables, how to read them."""
    ids = result["identities"]
    lines = [
        "# Privacy audit",
        "",
        f"Model `{result['model']}` ({result['mode']}, stage {result['stage']}"
        f"{', multimodal' if result['multimodal'] else ''}); {ids['num_items']} {result['media']} items of"
        f" {ids['num_identities']} identities from `{ids['root']}` ({_span(ids['items_per_identity'])}"
        f" per identity); vemd {result['vemd_version']}, {result['seconds']:g} s.",
        "",
        *_reidentification(result),
        *_ceiling_note(result["ceiling"]),
        *_presence(result.get("presence")),
        "",
        "![re-identification accuracy per representation](audit.png)",
        "",
        "Nothing per item is kept: this report and `audit.json` hold aggregate figures only.",
        "",
    ]
    return "\n".join(lines)


def plot_audit(result: dict, path: str | Path) -> Path:
    """Write :func:`audit_figure` to ``path``."""
    from vemd.eval.plots import _save

    return _save(audit_figure(result), path)


def audit_figure(result: dict) -> Figure:
    """Horizontal bars (representation × probe) of re-identification accuracy with their 95 %
    Wilson intervals (``ci95``, computed by the audit), a row per representation, the input
    baseline's and the ceiling's bars hatched below a rule; chance and ceiling lines."""
    import numpy as np
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    ceiling = result["ceiling"]
    rows = _rows(result)
    names = [label.replace("`", "") for label, _ in rows]
    entries = [entry for _, entry in rows]
    num_own = len(result["representations"])  # the rows after them are the references
    figure = Figure(figsize=(8, 2.2 + 0.55 * len(names)), layout="constrained")
    ax = figure.subplots()
    y = np.arange(len(names))
    height = 0.38
    colours = {"knn": "#4C72B0", "logreg": "#DD8452"}
    for k, kind in enumerate(PROBE_NAMES):
        values = np.array([e[kind]["accuracy"] for e in entries])
        bounds = np.array([e[kind]["ci95"] for e in entries])  # (rows, 2)
        errors = np.clip(np.stack([values - bounds[:, 0], bounds[:, 1] - values]), 0, None)  # (2, rows)
        bars = ax.barh(
            y + (k - 0.5) * height,
            values,
            height,
            xerr=errors,
            error_kw={"ecolor": "0.2", "capsize": 3, "elinewidth": 1},
            label=PROBE_NAMES[kind],
            color=colours[kind],
        )
        for bar, hatch in zip(bars[num_own:], ("..", "//"), strict=False):
            bar.set_hatch(hatch)
            bar.set_edgecolor("black")
    if num_own < len(names):
        ax.axhline(num_own - 0.5, color="0.5", linewidth=0.8)
    ax.axvline(
        result["chance"],
        color="black",
        linestyle="--",
        linewidth=1,
        label=f"chance ({_pct(result['chance'])})",
    )
    if ceiling:
        for kind, style in (("knn", ":"), ("logreg", "-.")):
            ax.axvline(
                ceiling[kind]["accuracy"],
                color=colours[kind],
                linestyle=style,
                linewidth=1.2,
                label=f"ceiling, {PROBE_NAMES[kind]} ({_pct(ceiling[kind]['accuracy'])})",
            )
    ax.set_yticks(y, names)
    ax.invert_yaxis()  # the first representation on top
    ax.set_xlim(0, 1.02)  # room for a cap at 100 %
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("top-1 re-identification accuracy, with its 95 % Wilson interval")
    ax.grid(axis="x", alpha=0.3)
    ids = result["identities"]
    ax.set_title(f"Identity leakage: {ids['num_items']} items of {ids['num_identities']} identities")
    figure.legend(fontsize=8, loc="outside lower center", ncol=3, frameon=False)
    return figure
