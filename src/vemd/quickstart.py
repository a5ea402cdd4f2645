"""``vemd quickstart``: the whole pipeline on built-in data, in minutes, on a CPU.

1. Generate a SynthGroups set (group scenes with exact pose/face annotations).
2. Train the quickstart recipe: the tiny VE-MD-SR model with the Heatmap decoder (body limb
   and face landmark heatmaps learnt as structural tasks and fed to the emotion decoder as SR).
3. Evaluate it on the validation split (on which the checkpoint was selected) and on a held-out
   test split of the same size (metrics, confusion matrix, SR heatmaps).
4. Predict the group emotion of a generated video whose mood changes over time.
5. Audit its privacy (``vemd audit``): re-identification of recurring built-in people
   (``vemd synth --identities``) from the model's outputs and embeddings, against chance and
   dlib's face recogniser, and their presence in group scenes; the model card records it.
6. Write ``report.md`` with the numbers and the plots.

Every step resumes: rerunning after an interruption continues where it stopped.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from vemd.config import load_config
from vemd.io import atomic_write_text

log = logging.getLogger(__name__)

RECIPE = "quickstart"
MULTIMODAL_RECIPE = "quickstart_multimodal"
DEMO_LABELS = ("Negative", "Neutral", "Positive")
AUDIT_PER_IDENTITY = 8  # items of each built-in identity alone
AUDIT_GROUPS_PER_IDENTITY = 12  # group scenes per identity for the presence test
DEMO_SECONDS_PER_SCENE = 5


def _demo_video(
    out: Path, seed: int, seconds_per_clip: int = DEMO_SECONDS_PER_SCENE, fps: int = 5
) -> tuple[Path, list[str]]:
    """A video of three generated scenes in a row, one per class: the mood changes twice."""
    import av

    from vemd.data.manifest import read_manifest
    from vemd.data.media import read_frames
    from vemd.synth import generate_dataset

    clips = generate_dataset(
        out / "demo_clips",
        n_train=0,
        n_val=9,
        frames=seconds_per_clip,
        seed=seed + 1,
        workers=1,
        progress=False,
    )
    records, _ = read_manifest(clips)
    chosen = [next(r for r in records if r.label == label) for label in DEMO_LABELS]
    path = out / "demo_video.mp4"
    tmp = path.with_name(".demo_video.tmp.mp4")
    with av.open(str(tmp), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.pix_fmt = "yuv420p"
        stream.width = stream.height = 224
        for record in chosen:
            frames, _ = read_frames(clips / record.path, seconds_per_clip)
            for frame in frames:  # each scene frame is held for one second
                for _ in range(fps):
                    container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    tmp.replace(path)
    return path, [r.label for r in chosen]


def _privacy_audit(out: Path, model: Path, seed: int, identities: int) -> dict | None:
    """Step 5: audit ``model`` on ``identities`` built-in people; a finished audit of this model is reused."""
    from vemd.card import add_audit
    from vemd.privacy.audit import AUDIT_VERSION, file_digest, run_audit
    from vemd.synth import generate_dataset

    if identities == 0:
        return None
    report = out / "audit" / "audit.json"
    if report.is_file():
        result = json.loads(report.read_text())
        same = result.get("model_sha256") == file_digest(model) and result.get("version") == AUDIT_VERSION
        if same and result.get("identities", {}).get("num_identities") == identities:
            add_audit(model, result, report.with_name("audit.md"))  # a card rewritten since has it again
            return result
    data = generate_dataset(
        out / "identities",
        n_train=0,
        n_val=0,
        frames=1,
        seed=seed + 2,
        identities=identities,
        per_identity=AUDIT_PER_IDENTITY,
        n_groups=AUDIT_GROUPS_PER_IDENTITY * identities,
    )
    result = run_audit(model, data / "identities", groups=data / "groups", out_dir=out / "audit")
    add_audit(model, result, report.with_name("audit.md"))  # the card of the model it trained
    return result


def run_quickstart(
    out: str | Path, *, n_train: int, n_val: int, seed: int, overrides: list[str], audit_identities: int = 10
) -> dict:
    """Run every step into ``out``; returns the summary also written to ``summary.json``."""
    from vemd.eval.plots import plot_training_curves
    from vemd.inference.predictor import GroupEmotionPredictor
    from vemd.inference.report import write_prediction_report
    from vemd.synth import generate_dataset
    from vemd.systems import evaluate, fit

    out = Path(out)
    timings = {}
    start = time.perf_counter()
    data = out / "data"
    cfg = load_config(
        RECIPE, [f"data.root={data}", f"train.out_dir={out / 'run'}", f"train.seed={seed}", *overrides]
    )
    log.info("1/5 generating SynthGroups: %d train + %d val scenes in %s", n_train, n_val, data)
    generate_dataset(
        data,
        n_train=n_train,
        n_val=n_val,
        n_test=n_val,
        frames=cfg.data.frames,
        seed=seed,
        workers=2,
        preview=True,
    )
    timings["synth_s"] = time.perf_counter() - start

    log.info(
        "2/5 training %s (%s, %s decoder, SR %s)",
        RECIPE,
        cfg.model.mode,
        cfg.model.decoder,
        ", ".join(cfg.model.sr.modalities),
    )
    fit_start = time.perf_counter()
    fitted = fit(cfg, resume=True)
    timings["fit_s"] = time.perf_counter() - fit_start
    model = Path(fitted["model"])
    plot_training_curves(out / "run" / "stage2" / "logs" / "metrics.csv", out / "training_curves.png")

    log.info("3/5 evaluating on the validation and test splits")
    # its own model, card and drawn scenes: the scores go in the card, the SR figure in the report
    metrics = evaluate(model, split="val", out_dir=out / "eval", record=True, save_frames=True)
    test_metrics = evaluate(model, split="test", out_dir=out / "test", record=True)

    log.info("4/5 predicting a generated video")
    video, truth = _demo_video(out, seed)
    predictor = GroupEmotionPredictor(model)
    prediction = predictor.predict(video).to_dict()
    scenes = [
        {"start": DEMO_SECONDS_PER_SCENE * i, "end": DEMO_SECONDS_PER_SCENE * (i + 1), "label": label}
        for i, label in enumerate(truth)
    ]
    write_prediction_report([prediction], predictor.class_names, out / "predict", truth={str(video): scenes})

    if audit_identities:
        log.info("5/5 privacy audit: re-identifying %d built-in people from the model", audit_identities)
    audit_start = time.perf_counter()
    audit = _privacy_audit(out, model, seed, audit_identities)
    timings["audit_s"] = time.perf_counter() - audit_start
    timings["total_s"] = time.perf_counter() - start

    summary = {
        "accuracy": metrics["accuracy"],
        "accuracy_ci95": metrics["accuracy_ci95"],
        "uar": metrics["uar"],
        "f1_weighted": metrics["f1_weighted"],
        "num_val_items": metrics["num_items"],
        "test_accuracy": test_metrics["accuracy"],
        "test_accuracy_ci95": test_metrics["accuracy_ci95"],
        "num_test_items": test_metrics["num_items"],
        "demo_video": {"truth": truth, "windows": [w["label"] for w in prediction["windows"]]},
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
        "model": str(model),
        "privacy": _privacy_summary(audit),
    }
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2))
    has_sr_figure = (out / "eval" / "sr_heatmaps.png").exists()  # only models that keep their decoders
    atomic_write_text(out / "report.md", _report(cfg, summary, metrics, prediction, has_sr_figure))
    return summary


def _privacy_summary(audit: dict | None) -> dict | None:
    """The audit's re-identification accuracies (best probe) and presence AUCs, for summary.json."""
    if audit is None:
        return None
    best = lambda e: max(e[p]["accuracy"] for p in ("knn", "logreg"))  # noqa: E731
    presence = (audit.get("presence") or {}).get("representations") or {}
    ceiling = audit.get("ceiling")
    return {
        "num_identities": audit["identities"]["num_identities"],
        "num_items": audit["identities"]["num_items"],
        "chance": audit["chance"],
        "reid_accuracy": {name: best(e) for name, e in audit["representations"].items()},
        "ceiling_accuracy": best(ceiling) if ceiling else None,
        "presence_auc": {name: e["logreg"]["auc"] for name, e in presence.items()},
        "presence_ceiling_auc": ((audit.get("presence") or {}).get("ceiling") or {})
        .get("prototype", {})
        .get("auc"),
    }


def _privacy_section(privacy: dict | None) -> str:
    if privacy is None:
        return ""
    rows = "\n".join(
        f"| `{name}` | {100 * acc:.1f} % | "
        + ("" if privacy["presence_auc"].get(name) is None else f"{privacy['presence_auc'][name]:.2f}")
        + " |"
        for name, acc in privacy["reid_accuracy"].items()
    )
    ceiling = privacy["ceiling_accuracy"]
    top = (
        ""
        if ceiling is None
        else f"\n| dlib face recognition (ceiling) | {100 * ceiling:.1f} % | "
        + ("" if privacy["presence_ceiling_auc"] is None else f"{privacy['presence_ceiling_auc']:.2f}")
        + " |"
    )
    return f"""## Privacy audit (`audit/`)

Re-identification of {privacy["num_items"]} held-out images of {privacy["num_identities"]} recurring built-in
people (`identities/`, `vemd synth --identities`) from what the model computes, best of a cosine
1-NN and a logistic-regression probe; chance {100 * privacy["chance"]:.1f} %. Presence: ROC AUC of
telling whether a person is among the people of a group scene (0.5 = chance). Details, leakage
ratios and the chart in `audit/audit.md`.

| representation | re-identification | presence AUC |
|---|---|---|
{rows}{top}

"""


def _report(cfg, summary: dict, metrics: dict, prediction: dict, has_sr_figure: bool) -> str:
    from vemd.inference.report import plot_name

    lo, hi = (100 * v for v in metrics["accuracy_ci95"])
    test_lo, test_hi = (100 * v for v in summary["test_accuracy_ci95"])
    rows = "\n".join(
        f"| {w['start']:.0f}–{w['end']:.0f} s | {truth} | {w['label']} | "
        + ", ".join(f"{c} {p:.2f}" for c, p in w["probs"].items())
        + " |"
        for w, truth in zip(prediction["windows"], summary["demo_video"]["truth"])
    )
    per_class = ", ".join(
        f"{c} {100 * v['recall']:.1f} %" for c, v in metrics["per_class"].items() if v["recall"] is not None
    )
    t = summary["timings_s"]
    from vemd.eval.evaluate import sr_figure_name

    sr_figure = "".join(
        f"![{name} SR heatmaps](eval/{sr_figure_name(number, name)})\n\n"
        for number, name in enumerate(cfg.model.sr.modalities if has_sr_figure else [])
    )
    structure = "SR fed to the emotion decoder:" if cfg.model.mode == "ve-md-sr" else "auxiliary structure:"
    modalities = ", ".join(cfg.model.sr.modalities)
    return f"""# vemd quickstart report

Model: `{cfg.model.mode}` with the `{cfg.model.decoder}` decoder, {structure} {modalities},
input {cfg.model.image_size}×{cfg.model.image_size}, T = {cfg.data.frames}; trained on SynthGroups
(`data/`, {summary["num_val_items"]} validation scenes). Chance is 33.3 %.

## Validation (`eval/`)

| metric | value |
|---|---|
| accuracy | {100 * metrics["accuracy"]:.1f} % (95 % Wilson CI {lo:.1f}–{hi:.1f}) |
| UAR (macro recall) | {100 * metrics["uar"]:.1f} % |
| weighted F1 | {100 * metrics["f1_weighted"]:.1f} % |
| per-class recall | {per_class} |

The checkpoint was selected on this split. On the held-out test split (`test/`,
{summary["num_test_items"]} scenes, never seen in training or selection): accuracy
{100 * summary["test_accuracy"]:.1f} % (95 % Wilson CI {test_lo:.1f}–{test_hi:.1f}).

![confusion](eval/confusion.png)

{sr_figure}![training curves](training_curves.png)

## Prediction on a generated video (`predict/`)

`demo_video.mp4`: three scenes of 5 s each. Whole video: **{prediction["label"]}**.

| window | truth | predicted | probabilities |
|---|---|---|---|
{rows}

![timeline](predict/{plot_name(prediction["input"])})

{_privacy_section(summary.get("privacy"))}## Time

Generation {t["synth_s"]:.0f} s, training {t["fit_s"]:.0f} s, privacy audit {t.get("audit_s", 0):.0f} s,
whole quickstart {t["total_s"]:.0f} s.
Rerun with `vemd quickstart --out DIR`; `vemd test --ckpt {summary["model"]} --split val` re-evaluates.
"""


def run_multimodal_quickstart(
    out: str | Path,
    *,
    n_train: int,
    n_val: int,
    seed: int,
    overrides: list[str],
    video_model: str | Path | None = None,
    n_video: int = 10000,
) -> dict:
    """The multimodal quickstart (paper §7 on SynthGroups) into ``out``; resumes like
    :func:`run_quickstart`.

    1. Generate two SynthGroups sets: ``n_video`` training scenes without audio for the VE-MD
       (``data_video``, the quickstart's own set), and ``n_train`` with audio (``data``), where
       half of the labels are only heard.
    2. Train the VE-MD on the first with the quickstart's recipe and budget (the visual task:
       the group's emotion as drawn), freeze it.
    3. Train the audio branch, then the fusion, on the second; evaluate each modality alone and
       fused on its validation and test splits; ``summary.json`` and ``report.md``.

    ``video_model`` (e.g. ``runs/quickstart/run/model.pt`` of ``vemd quickstart``) skips step 2
    and freezes that VE-MD instead.

    The VE-MD learns from frames whose label it can see: trained on the audio set itself, where
    half of the labels are not in the frames, it stayed at chance for 464 steps (the quickstart
    leaves chance within 311), and on 5,000 scenes without audio for 8 epochs it had not left
    chance at step 419 (both with batches of 64 at lr 3e-3, the quickstart's former recipe):
    the VE-MD gets the quickstart's 10,000 scenes and its recipe.
    """
    import copy

    from vemd.config import MultimodalConfig
    from vemd.synth import generate_dataset
    from vemd.systems import evaluate, fit

    out = Path(out)
    timings = {}
    start = time.perf_counter()
    data, video_data = out / "data", out / "data_video"
    cfg = load_config(
        MULTIMODAL_RECIPE,
        [
            f"data.root={data}",
            f"train.out_dir={out / 'run'}",
            f"train.seed={seed}",
            f"multimodal.video_model={video_model or out / 'run' / 'video' / 'model.pt'}",
            *overrides,
        ],
    )
    log.info(
        "1/4 generating SynthGroups: %d + %d scenes with audio (and %d for the VE-MD)",
        n_train,
        n_val,
        n_video,
    )
    generate_dataset(
        video_data, n_train=n_train, n_val=n_val, frames=cfg.data.frames, seed=seed + 1, workers=2
    )
    generate_dataset(
        data,
        n_train=n_train,
        n_val=n_val,
        n_test=n_val,
        frames=cfg.data.frames,
        seed=seed,
        workers=2,
        audio=True,
    )
    timings["synth_s"] = time.perf_counter() - start
    log.info(
        "2/4 %s",
        f"freezing the VE-MD of {video_model}"
        if video_model
        else f"training the VE-MD ({cfg.model.mode}), then freezing it",
    )
    fit_start = time.perf_counter()
    if video_model is None:
        vision = copy.deepcopy(cfg)
        vision.multimodal = MultimodalConfig()
        vision.data.root, vision.train.out_dir = str(video_data), str(out / "run" / "video")
        fit(vision, resume=True)
    log.info(
        "3/4 training the audio branch (%s), then the %s fusion",
        cfg.multimodal.audio.encoder,
        cfg.multimodal.fusion.kind,
    )
    fitted = fit(cfg, resume=True)
    timings["fit_s"] = time.perf_counter() - fit_start
    model = Path(fitted["model"])
    log.info("4/4 evaluating each modality and the fusion on the validation and test splits")
    results = {
        split: evaluate(model, split=split, out_dir=out / split, group_sizes=None, record=True)
        for split in ("val", "test")
    }
    timings["total_s"] = time.perf_counter() - start
    summary = {split: dict(result["modalities"]) for split, result in results.items()}
    summary |= {
        "mcnemar_test": results["test"]["mcnemar"],
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
        "model": str(model),
    }
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2))
    source = (
        f"`{video_model}`, given"
        if video_model
        else "trained on SynthGroups scenes without audio (`data_video/`)"
    )
    atomic_write_text(out / "report.md", _multimodal_report(cfg, summary, source))
    return summary


def _multimodal_report(cfg, summary: dict, video_source: str) -> str:
    def row(split: str, name: str) -> str:
        m = summary[split][name]
        lo, hi = (100 * v for v in m["accuracy_ci95"])
        return f"| {split} | {name} | {100 * m['accuracy']:.1f} % | {lo:.1f}–{hi:.1f} | {m['num_items']} |"

    rows = "\n".join(row(split, name) for split in ("val", "test") for name in summary[split])
    tests = ", ".join(
        f"fused vs {key.removeprefix('fused_vs_')} p = {value['p_value']:.2g}"
        for key, value in summary["mcnemar_test"].items()
    )
    t = summary["timings_s"]
    return f"""# vemd multimodal quickstart report

SynthGroups with audio: half of the clips show their class in the drawn group only, half in
the voices only (`vemd synth --audio`), so each modality alone can reach 2/3 at best and the
fusion 8/9. Video: `{cfg.model.mode}` VE-MD, {video_source}, frozen; audio:
`{cfg.multimodal.audio.encoder}`; fusion: `{cfg.multimodal.fusion.kind}` (paper §7.1.2).
Chance is 33.3 %.

| split | modality | accuracy | 95 % Wilson CI | clips |
|---|---|---|---|---|
{rows}

McNemar on the test split: {tests}. Per-split details: `val/modalities.md`, `test/modalities.md`.

Time: generation {t["synth_s"]:.0f} s, training {t["fit_s"]:.0f} s, whole quickstart {t["total_s"]:.0f} s.
"""
