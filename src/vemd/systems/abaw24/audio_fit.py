"""Training of the ABAW 2024 audio model inside ``vemd fit`` (``system.abaw24.audio.enabled``).

Each split's items are read once for their sampled frames' source numbers, targets and (with
``voice_activity: mouth``) mouth openings (:mod:`~vemd.systems.abaw24.mouth`); their sources'
audio is cut into §4.2.1's windows (:mod:`~vemd.systems.abaw24.audio_windows`) and read mono at
16 kHz (:mod:`~vemd.systems.abaw24.audio_data`). The model
(:class:`~vemd.systems.abaw24.audio.AudioVA`) trains with :func:`vemd.train.epochs.train_epochs`
into ``<out>/abaw24/audio/`` (resumable, exact after a kill) on the windows that are voiced,
heard and labelled, with §4.2.1's augmentations, the loss ``audio.loss`` summed over valence
and arousal; the best validation epoch is kept by the mean CCC of the validation windows chosen
the same way (Table 2's measure, §5.1: "4-second windows excluding the silent segments";
fit.json ``audio.window_mean_ccc``). Its predictions of every validation window, spread over the
sampled frames, go to the fusion, and :mod:`~vemd.systems.abaw24.fit` scores them as it scores
the other models (its ``Selection``: fit.json ``val_mean_ccc.audio``, what ``vemd test`` reports).
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from vemd.config import Config
from vemd.errors import VemdError
from vemd.models.regression import regression_loss
from vemd.systems.abaw24.audio import augment
from vemd.systems.abaw24.audio_data import audio_split
from vemd.systems.abaw24.evaluate import batches, ccc_scores, frame_targets
from vemd.systems.abaw24.mouth import MouthOpening
from vemd.train.epochs import train_epochs
from vemd.train.resume import stage_setting

log = logging.getLogger(__name__)


def scan(dataset, batch_size: int, mouth: MouthOpening | None):
    """Each item's sampled source frames (T,), targets (N, T, 2) and mouth openings (N, T) or None."""
    indices, targets, openings = [], [], []
    for _, batch in batches(dataset, torch.arange(len(dataset)), batch_size):
        indices += [row.numpy() for row in batch["frame_indices"]]
        targets.append(frame_targets(batch).double().numpy())
        if mouth is not None:
            openings += [
                mouth(clip) for clip in batch["frames"].permute(0, 1, 3, 4, 2).numpy()
            ]  # (T, S, S, 3)
    return indices, np.concatenate(targets), np.stack(openings) if mouth is not None else None


def fit_audio(model, cfg: Config, train, val, *, folder, resume: bool) -> tuple[float, np.ndarray, dict]:
    """Train ``model.audio`` on the ``train`` windows, keep its best epoch on ``val``'s; returns
    that window-level mean CCC, its predictions at the validation items' sampled frames (N, T, 2)
    and the window counts of both splits."""
    au = cfg.system.abaw24.audio
    mouth = MouthOpening() if au.voice_activity == "mouth" else None
    try:
        data = {
            split: audio_split(cfg, dataset, *scan(dataset, au.train.batch_size, mouth))
            for split, dataset in (("train", train), ("val", val))
        }
    finally:
        if mouth is not None:
            mouth.close()
    for split, part in data.items():
        log.info("abaw24 audio, %s: %s", split, ", ".join(f"{v} {k}" for k, v in part.counts.items()))
    rows = {split: part.usable.nonzero().squeeze(1) for split, part in data.items()}
    if not len(rows["train"]):
        raise VemdError(
            f"abaw24 audio: none of the {data['train'].counts['windows']} training windows is heard, voiced "
            "and labelled (see the counts above; voice_activity=none keeps the silent ones)"
        )
    one = regression_loss(au.loss)

    def loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:  # (B, 2) each
        return one(pred[:, 0], target[:, 0]) + one(pred[:, 1], target[:, 1])

    t = data["train"]

    def loss_of(batch: torch.Tensor) -> torch.Tensor:
        chosen = rows["train"][batch]
        waveforms = augment(t.waveforms[chosen].float(), t.lengths[chosen], au)
        return loss(model.audio(waveforms, t.lengths[chosen]), t.targets[chosen])

    def score_of() -> float:
        v, chosen = data["val"], rows["val"]
        pred = model.audio.predict(v.waveforms[chosen], v.lengths[chosen], au.train.batch_size)
        return ccc_scores(pred.numpy(), v.targets[chosen].double().numpy())["mean_ccc"]

    if not len(rows["val"]):
        log.warning(
            "abaw24 audio: no validation window is heard, voiced and labelled: its first epoch is kept"
        )
    score = train_epochs(
        "abaw24 audio",
        3,
        model.audio,
        [p for p in model.audio.parameters() if p.requires_grad],
        loss_of=loss_of,
        score_of=score_of if len(rows["val"]) else (lambda: 0.0),
        train_rows=torch.arange(len(rows["train"])),
        schedule=au.train,
        seed=cfg.train.seed,
        folder=folder,
        setting=stage_setting(cfg, "audio"),
        resume=resume,
    )
    model.audio.eval()
    v = data["val"]
    frames = v.windows.frames(model.audio.predict(v.waveforms, v.lengths, au.train.batch_size).numpy())
    return float(score), frames, {split: part.counts for split, part in data.items()}
