"""Speaker-independent emotion recognition on EMO-DB with vemd's audio branch and a classical baseline.

EMO-DB (Burkhardt et al., Interspeech 2005): 535 German utterances by 10 actors, 7 acted emotions.
Labels and speakers come from the file names (``SSTTTEV.wav``: characters 1-2 the speaker,
character 6 the emotion's German initial). The folds leave speakers out: each fold tests on its
own speakers and trains on the others, so no speaker is heard in both (results that mix speakers
are far higher than what a new speaker gets).

Two systems, each scored by UAR (unweighted average recall, sklearn's balanced accuracy) and
accuracy, mean ± sd over the folds:

* ``mel-cnn``: the EmotiW 2023 audio branch (log-Mel → 4 CNN blocks → transformer encoder,
  :class:`vemd.models.audio.mel_cnn.MelCNNTransformer`) trained from scratch at a CPU size
  (:class:`MelCNNSettings`: 64 Mel bands every 20 ms, 16-128 channels, a 128-wide transformer)
  on random crops of the clips, with class-weighted cross-entropy and Adam; the epoch kept is the
  one with the best UAR on a held-out training speaker (never a test speaker).
* ``svm``: an RBF SVM (standardised features, balanced class weights) on per-utterance statistics
  of librosa features: 40 MFCCs and their deltas, spectral centroid, bandwidth, rolloff and
  contrast, zero-crossing rate and RMS energy. C is chosen by leave-speakers-out search within
  the training speakers.

    .venv/bin/python benchmarks/bench_emodb.py [--root DIR] [--folds 5] [--epochs 8] [--json FILE]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shlex
import statistics
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from vemd.data.audio import SAMPLE_RATE, read_audio
from vemd.errors import DataError

DEFAULT_ROOT = Path("/work/shared/fixtures/audio/emodb")
# German initial in the file name → emotion, in the order of the class indices
EMOTIONS = {
    "W": "anger",
    "L": "boredom",
    "E": "disgust",
    "A": "fear",
    "F": "happiness",
    "T": "sadness",
    "N": "neutral",
}
CLASSES = tuple(EMOTIONS.values())
SVM_C = (1.0, 10.0, 100.0)  # searched within the training speakers of each fold


@dataclass(frozen=True)
class Utterance:
    path: Path
    speaker: str
    label: int  # index into CLASSES


def parse_name(name: str) -> tuple[str, int]:
    """Speaker id and class index of an EMO-DB file name, e.g. ``03a01Fa.wav`` → ("03", happiness).

    Raises:
        DataError: the name is not ``SSTTTEV.wav`` with a known emotion letter.
    """
    stem = Path(name).stem
    if len(stem) != 7 or not stem[:2].isdigit() or Path(name).suffix.lower() != ".wav":
        raise DataError(f"{name}: not an EMO-DB file name (expected SSTTTEV.wav, e.g. 03a01Fa.wav)")
    letter = stem[5]
    if letter not in EMOTIONS:
        raise DataError(
            f"{name}: unknown emotion letter {letter!r} at character 6 (expected one of {''.join(EMOTIONS)})"
        )
    return stem[:2], CLASSES.index(EMOTIONS[letter])


def list_corpus(root: str | Path) -> list[Utterance]:
    """The utterances under ``root`` (its ``*.wav`` files), sorted by name."""
    utterances = []
    for path in sorted(Path(root).glob("*.wav")):
        speaker, label = parse_name(path.name)
        utterances.append(Utterance(path, speaker, label))
    if not utterances:
        raise DataError(f"{root}: no EMO-DB .wav files in this folder")
    return utterances


def speaker_folds(speakers: Sequence[str], num_folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Leave-speakers-out folds over items spoken by ``speakers`` (one id per item).

    The sorted distinct speakers are dealt round-robin to ``num_folds`` test groups; each fold is
    (train indices, test indices), the test indices being the items of its group. Every speaker is
    tested in exactly one fold and never trained on in that fold.
    """
    distinct = sorted(set(speakers))
    if not 2 <= num_folds <= len(distinct):
        raise ValueError(f"--folds must be between 2 and the {len(distinct)} speakers, got {num_folds}")
    ids = np.asarray(speakers)
    folds = []
    for k in range(num_folds):
        tested = np.isin(ids, distinct[k::num_folds])
        folds.append((np.flatnonzero(~tested), np.flatnonzero(tested)))
    return folds


def read_waveforms(utterances: Sequence[Utterance]) -> np.ndarray:
    """(U, N) float32 mono 16 kHz samples, zero-padded to the longest utterance."""
    clips = [read_audio(u.path, missing="error").samples for u in utterances]
    waveforms = np.zeros((len(clips), max(len(c) for c in clips)), dtype=np.float32)
    for row, samples in zip(waveforms, clips):
        row[: len(samples)] = samples
    return waveforms


def scores(labels: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, balanced_accuracy_score

    return {
        "uar": float(balanced_accuracy_score(labels, predictions)),
        "accuracy": float(accuracy_score(labels, predictions)),
    }


# --- the classical baseline -------------------------------------------------------------------


def utterance_features(samples: np.ndarray, sample_rate: int = 16_000) -> np.ndarray:
    """(F,) statistics of one utterance: mean and sd over frames of 40 MFCCs, their deltas,
    spectral centroid, bandwidth, rolloff, 7 contrast bands, zero-crossing rate and RMS."""
    import librosa

    mfcc = librosa.feature.mfcc(y=samples, sr=sample_rate, n_mfcc=40)  # (40, T)
    frames = np.concatenate(
        [
            mfcc,
            librosa.feature.delta(mfcc),
            librosa.feature.spectral_centroid(y=samples, sr=sample_rate),
            librosa.feature.spectral_bandwidth(y=samples, sr=sample_rate),
            librosa.feature.spectral_rolloff(y=samples, sr=sample_rate),
            librosa.feature.spectral_contrast(y=samples, sr=sample_rate),  # (7, T)
            librosa.feature.zero_crossing_rate(samples),
            librosa.feature.rms(y=samples),
        ]
    )  # (F/2, T)
    return np.concatenate([frames.mean(1), frames.std(1)]).astype(np.float32)


def svm_predictions(
    features: np.ndarray, labels: np.ndarray, speakers: Sequence[str], train: np.ndarray, test: np.ndarray
) -> np.ndarray:
    """Fit the SVM on the ``train`` items (C by a leave-speakers-out search among them) and
    predict the ``test`` items."""
    from sklearn.model_selection import GridSearchCV, GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    pipeline = make_pipeline(StandardScaler(), SVC(kernel="rbf", gamma="scale", class_weight="balanced"))
    groups = np.asarray(speakers)[train]
    if len(set(groups)) < 2:  # nothing to search over: the middle value
        search = pipeline.set_params(svc__C=SVM_C[len(SVM_C) // 2])
        search.fit(features[train], labels[train])
    else:
        cv = GroupKFold(n_splits=min(4, len(set(groups))))
        search = GridSearchCV(pipeline, {"svc__C": SVM_C}, scoring="balanced_accuracy", cv=cv, n_jobs=1)
        with warnings.catch_warnings():  # a speaker without some emotion scores over the ones it has
            warnings.filterwarnings("ignore", "y_pred contains classes not in y_true")
            search.fit(features[train], labels[train], groups=groups)
    return search.predict(features[test])


# --- the EmotiW 2023 audio branch, trained from scratch -----------------------------------------


@dataclass(frozen=True)
class MelCNNSettings:
    """A CPU-sized :class:`MelCNNTransformer` and how it is trained."""

    channels: tuple[int, int, int, int] = (16, 32, 64, 128)
    convs_per_block: int = 1
    dim: int = 128
    num_layers: int = 1
    num_heads: int = 4
    feedforward_dim: int = 256
    dropout: float = 0.2
    n_mels: int = 64
    hop_length: int = 320  # 20 ms frames (vemd's default is 10 ms: half the CNN's work on a CPU)
    epochs: int = 8
    batch_size: int = 32
    lr: float = 1e-3  # Adam, decayed to 0 by a cosine over the epochs
    weight_decay: float = 1e-4
    crop_seconds: float = 1.25  # training clips are random crops of this length (all of it at test)
    val_speakers: int = 1  # training speakers held out to pick the epoch


def build_mel_cnn(settings: MelCNNSettings):
    from vemd.models.audio.mel_cnn import LogMel, MelCNNTransformer

    return MelCNNTransformer(
        log_mel=LogMel(n_mels=settings.n_mels, hop_length=settings.hop_length),
        channels=settings.channels,
        convs_per_block=settings.convs_per_block,
        dim=settings.dim,
        num_layers=settings.num_layers,
        num_heads=settings.num_heads,
        feedforward_dim=settings.feedforward_dim,
        dropout=settings.dropout,
        num_classes=len(CLASSES),
    )


@torch.no_grad()
def mel_cnn_predictions(model, waveforms: np.ndarray, batch_size: int) -> np.ndarray:
    """(U,) predicted class indices of (U, N) waveforms."""
    model.eval()
    out = [
        model(torch.from_numpy(waveforms[i : i + batch_size])).logits.argmax(1)
        for i in range(0, len(waveforms), batch_size)
    ]
    return torch.cat(out).numpy()


def train_mel_cnn(
    waveforms: np.ndarray,
    labels: np.ndarray,
    speakers: Sequence[str],
    train: np.ndarray,
    settings: MelCNNSettings,
    *,
    seed: int,
    log: str = "",
):
    """Train on the ``train`` items minus ``settings.val_speakers`` of their speakers, which pick
    the epoch (best UAR); returns the model at that epoch."""
    generator = np.random.default_rng(seed)
    torch.manual_seed(seed)
    train_speakers = sorted(set(np.asarray(speakers)[train]))
    held_out = list(generator.choice(train_speakers, settings.val_speakers, replace=False))
    is_val = np.isin(np.asarray(speakers)[train], held_out)
    fit, val = train[~is_val], train[is_val]
    model = build_mel_cnn(settings)
    optimizer = torch.optim.Adam(model.parameters(), settings.lr, weight_decay=settings.weight_decay)
    steps = settings.epochs * -(-len(fit) // settings.batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    crop = min(round(settings.crop_seconds * SAMPLE_RATE), waveforms.shape[1])
    counts = np.bincount(labels[fit], minlength=len(CLASSES)).clip(min=1)
    weight = torch.tensor(len(fit) / (len(CLASSES) * counts), dtype=torch.float32)  # balanced classes
    best_uar, best_state = -1.0, None
    for epoch in range(settings.epochs):
        model.train()
        order = generator.permutation(fit)
        total = 0.0
        for i in range(0, len(order), settings.batch_size):
            batch = order[i : i + settings.batch_size]
            if len(batch) < 2:  # BatchNorm needs two clips
                schedule.step()
                continue
            offset = int(generator.integers(0, waveforms.shape[1] - crop + 1))  # one crop per batch
            clips = torch.from_numpy(waveforms[batch, offset : offset + crop])  # (B, crop)
            logits = model(clips).logits  # (B, num_classes)
            loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(labels[batch]), weight=weight)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(batch)
        val_uar = scores(labels[val], mel_cnn_predictions(model, waveforms[val], settings.batch_size))["uar"]
        if val_uar > best_uar:
            best_uar, best_state = val_uar, copy.deepcopy(model.state_dict())
        print(
            f"{log}epoch {epoch + 1}/{settings.epochs}: loss {total / len(fit):.3f}, "
            f"val UAR {val_uar:.3f} (speakers {', '.join(held_out)})",
            file=sys.stderr,
            flush=True,
        )
    model.load_state_dict(best_state)
    return model


# --- the report ---------------------------------------------------------------------------------


def summary(per_fold: list[dict[str, float]]) -> dict[str, float]:
    """Mean and sd (n - 1) over folds of each score."""
    out = {}
    for name in per_fold[0]:
        values = [fold[name] for fold in per_fold]
        out[f"{name}_mean"] = statistics.fmean(values)
        out[f"{name}_sd"] = statistics.stdev(values) if len(values) > 1 else 0.0
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="folder of the EMO-DB .wav files")
    parser.add_argument("--folds", type=int, default=5, help="leave-speakers-out folds (2..10)")
    parser.add_argument("--systems", nargs="+", default=["mel-cnn", "svm"], choices=["mel-cnn", "svm"])
    parser.add_argument("--epochs", type=int, default=MelCNNSettings.epochs)
    parser.add_argument("--channels", type=int, nargs=4, default=list(MelCNNSettings.channels))
    parser.add_argument("--convs-per-block", type=int, default=MelCNNSettings.convs_per_block)
    parser.add_argument("--dim", type=int, default=MelCNNSettings.dim)
    parser.add_argument("--n-mels", type=int, default=MelCNNSettings.n_mels)
    parser.add_argument("--hop-length", type=int, default=MelCNNSettings.hop_length)
    parser.add_argument("--lr", type=float, default=MelCNNSettings.lr)
    parser.add_argument("--batch-size", type=int, default=MelCNNSettings.batch_size)
    parser.add_argument("--crop-seconds", type=float, default=MelCNNSettings.crop_seconds)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args()
    if not args.root.is_dir():
        print(f"{args.root}: EMO-DB folder not found (give its place with --root)")
        return 2
    command = shlex.join([sys.executable, *sys.argv])
    torch.set_num_threads(args.threads)
    settings = MelCNNSettings(
        channels=tuple(args.channels),
        convs_per_block=args.convs_per_block,
        dim=args.dim,
        n_mels=args.n_mels,
        hop_length=args.hop_length,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        crop_seconds=args.crop_seconds,
    )
    started = time.perf_counter()
    try:
        utterances = list_corpus(args.root)
        speakers = [u.speaker for u in utterances]
        folds = speaker_folds(speakers, args.folds)
        labels = np.array([u.label for u in utterances])
        print(f"reading {len(utterances)} utterances", file=sys.stderr, flush=True)
        waveforms = read_waveforms(utterances)
    except (DataError, ValueError) as err:
        print(err)
        return 2

    features = None
    if "svm" in args.systems:
        print("librosa features", file=sys.stderr, flush=True)
        features = np.stack([utterance_features(w) for w in waveforms])
    results: dict[str, list[dict[str, float]]] = {name: [] for name in args.systems}
    fold_speakers = []
    for k, (train, test) in enumerate(folds):
        tested = sorted(set(np.asarray(speakers)[test]))
        fold_speakers.append(tested)
        log = f"fold {k + 1}/{len(folds)} (test speakers {', '.join(tested)}): "
        if "svm" in args.systems:
            results["svm"].append(
                scores(labels[test], svm_predictions(features, labels, speakers, train, test))
            )
            print(f"{log}svm {results['svm'][-1]}", file=sys.stderr, flush=True)
        if "mel-cnn" in args.systems:
            model = train_mel_cnn(waveforms, labels, speakers, train, settings, seed=args.seed + k, log=log)
            predictions = mel_cnn_predictions(model, waveforms[test], settings.batch_size)
            results["mel-cnn"].append(scores(labels[test], predictions))
            print(f"{log}mel-cnn {results['mel-cnn'][-1]}", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - started

    chance_uar = 1 / len(CLASSES)
    majority = np.bincount(labels).max() / len(labels)
    print(f"command: {command}")
    print(
        f"EMO-DB: {len(utterances)} utterances, {len(set(speakers))} speakers, {len(CLASSES)} emotions; "
        f"{len(folds)} leave-speakers-out folds, test speakers {' | '.join(','.join(s) for s in fold_speakers)}"
    )
    print(f"{'system':8s}  {'UAR (mean ± sd)':>18s}  {'accuracy (mean ± sd)':>22s}")
    summaries = {name: summary(per_fold) for name, per_fold in results.items()}
    for name, s in summaries.items():
        print(
            f"{name:8s}  {100 * s['uar_mean']:9.1f} ± {100 * s['uar_sd']:4.1f} %  "
            f"{100 * s['accuracy_mean']:13.1f} ± {100 * s['accuracy_sd']:4.1f} %"
        )
    print(
        f"{'chance':8s}  {100 * chance_uar:9.1f} % (1/{len(CLASSES)})   {100 * majority:13.1f} % (majority class)"
    )
    if "mel-cnn" in args.systems:
        print(f"mel-cnn: {settings}")
    print(f"{args.threads} threads, run time {seconds:.0f} s")
    if args.json:
        report = {
            "command": command,
            "root": str(args.root),
            "folds": fold_speakers,
            "classes": CLASSES,
            "mel_cnn_settings": asdict(settings),
            "systems": {name: {"per_fold": results[name], **summaries[name]} for name in results},
            "chance_uar": chance_uar,
            "majority_accuracy": float(majority),
            "seconds": seconds,
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
