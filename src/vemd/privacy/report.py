"""The audit's files: ``audit.json`` (every figure), ``audit.md`` (tables) and ``audit.png``
(re-identification accuracy per representation, with chance and ceiling lines)."""

from __future__ import annotations

import json
from pathlib import Path

from vemd.io import atomic_write_text

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


def _ratio(value) -> str:
    return "–" if value is None else f"{value:.2f}"


def _span(bounds: list[int]) -> str:
    low, high = bounds
    return str(low) if low == high else f"{low}–{high}"


def _row(name: str, entry: dict) -> str:
    cells = [f"`{name}`", entry.get("description", ""), str(entry.get("dim", ""))]
    for kind in PROBE_NAMES:
        p = entry[kind]
        lo, hi = p["ci95"]
        cells.append(f"{_pct(p['accuracy'])} ({100 * lo:.1f}–{100 * hi:.1f})")
    cells += [_ratio(entry["knn"].get("leakage")), _ratio(entry["logreg"].get("leakage"))]
    return "| " + " | ".join(cells) + " |"


def render_markdown(result: dict) -> str:
    """``audit.md``: what was audited, re-identification and presence tables, how to read them."""
    ids = result["identities"]
    ceiling = result["ceiling"]
    lines = [
        "# Privacy audit",
        "",
        f"Model `{result['model']}` ({result['mode']}, stage {result['stage']}"
        f"{', multimodal' if result['multimodal'] else ''}); {ids['num_items']} {result['media']} items of"
        f" {ids['num_identities']} identities from `{ids['root']}` ({_span(ids['items_per_identity'])}"
        f" per identity); vemd {result['vemd_version']}, {result['seconds']:g} s.",
        "",
        "## Re-identification",
        "",
        "Top-1 accuracy of re-identifying held-out items of the same identities (stratified cross-validation),"
        " with 95 % Wilson intervals. Leakage = (accuracy − chance) / (ceiling − chance): 0 is chance, 1 is a"
        " real recogniser.",
        "",
        f"Chance: {_pct(result['chance'])} (1 / {ids['num_identities']}).",
        "",
        "| representation | what | dim | 1-NN (cosine) | logistic regression | leakage 1-NN | leakage logreg |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [_row(name, entry) for name, entry in result["representations"].items()]
    if ceiling:
        entry = dict(ceiling, dim=128 if ceiling["name"] == "face_recognition" else 80)
        entry["knn"] = dict(ceiling["knn"], leakage=1.0)
        entry["logreg"] = dict(ceiling["logreg"], leakage=1.0)
        lines.append(_row(f"{ceiling['name']} (ceiling)", entry))
        found = "a face" if ceiling["name"] == "face_recognition" else "audio"
        lines += [
            "",
            f"The ceiling found {found} in {_pct(ceiling['coverage'])} of the items; the others count as errors.",
        ]
    else:
        lines += ["", "No ceiling was computed (`--no-ceiling`): leakage ratios are not defined."]
    presence = result.get("presence")
    if presence:
        lines += [
            "",
            "## Presence in a group",
            "",
            f"{presence['num_scenes']} group scenes; for each identity, as many scenes without them as with them, of the same numbers of people. ROC AUC"
            " (mean over identities; 0.5 = chance): `logreg` is a cross-validated logistic regression on the"
            " scene's representation, `prototype` its cosine similarity to the identity's mean representation"
            " over its own items.",
            "",
        ]
        if presence.get("note"):
            lines.append(presence["note"])
        else:
            lines += [
                "| representation | logreg AUC | prototype AUC | identities | pairs |",
                "|---|---|---|---|---|",
            ]
            for name, entry in presence["representations"].items():
                lg, pr = entry["logreg"], entry["prototype"]
                lines.append(
                    f"| `{name}` | {lg['auc']:.3f} | {pr['auc']:.3f} | {lg['num_identities']} | {lg['num_pairs']} |"
                )
            if presence.get("ceiling"):
                pr = presence["ceiling"]["prototype"]
                lines.append(
                    f"| `face_recognition` (ceiling, best face) | – | {pr['auc']:.3f} | {pr['num_identities']} |"
                    f" {pr['num_pairs']} |"
                )
    lines += [
        "",
        "![re-identification accuracy per representation](audit.png)",
        "",
        "Nothing per item is kept: this report and `audit.json` hold aggregate figures only.",
        "",
    ]
    return "\n".join(lines)


def plot_audit(result: dict, path: str | Path) -> Path:
    """Grouped bars (representation × probe) of re-identification accuracy, chance and ceiling lines."""
    import numpy as np
    from matplotlib.figure import Figure

    from vemd.eval.plots import _save

    names = list(result["representations"])
    ceiling = result["ceiling"]
    entries = [result["representations"][n] for n in names]
    if ceiling:
        names.append(f"{ceiling['name']}\n(ceiling)")
        entries.append(ceiling)
    figure = Figure(figsize=(max(6.0, 1.1 * len(names) + 2), 4.2))
    ax = figure.subplots()
    x = np.arange(len(names))
    width = 0.38
    colours = {"knn": "#4C72B0", "logreg": "#DD8452"}
    for k, kind in enumerate(PROBE_NAMES):
        values = [e[kind]["accuracy"] for e in entries]
        bars = ax.bar(x + (k - 0.5) * width, values, width, label=PROBE_NAMES[kind], color=colours[kind])
        if ceiling:
            bars[-1].set_hatch("//")
            bars[-1].set_edgecolor("black")
    ax.axhline(
        result["chance"],
        color="black",
        linestyle="--",
        linewidth=1,
        label=f"chance ({_pct(result['chance'])})",
    )
    if ceiling:
        for kind, style in (("knn", ":"), ("logreg", "-.")):
            ax.axhline(
                ceiling[kind]["accuracy"],
                color=colours[kind],
                linestyle=style,
                linewidth=1.2,
                label=f"ceiling, {PROBE_NAMES[kind]} ({_pct(ceiling[kind]['accuracy'])})",
            )
    ax.set_xticks(x, names, rotation=25, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("top-1 re-identification accuracy")
    ids = result["identities"]
    ax.set_title(f"Identity leakage: {ids['num_items']} items of {ids['num_identities']} identities")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=3, frameon=False)
    figure.tight_layout()
    return _save(figure, path)
