"""The ABAW 2024 system with its audio model: Table 5's audio-visual systems 2-4.

:class:`ABAW24AudioVisual` is the visual model of :class:`~vemd.systems.abaw24.model.ABAW24`
(static backbone, dynamic transformer, functionals + KELM) with the audio model of §3.1
(:mod:`~vemd.systems.abaw24.audio`) beside it, and a decision fusion (§3.3) over the models
``system.abaw24.fusion_members`` names, in that order: Table 5's Sys 2 "DWF (Sys1 + Audio)"
fuses ``[dynamic, audio]``, Sys 3 "DWF (Sys1 + Audio + Func.)" and Sys 4 "RF (Sys1 + Audio +
Func.)" ``[dynamic, audio, kelm]``. The audio model predicts each window of a clip's audio and
each frame takes the windows covering it (:mod:`~vemd.systems.abaw24.audio_windows`).

The model file keeps the audio encoder's transformers config, so loading builds it without
reading the hub (its weights, fine-tuned or not, are among the file's own).
"""

from __future__ import annotations

import numpy as np
import torch

from vemd.config import Config
from vemd.data.audio import SAMPLE_RATE
from vemd.errors import VemdError
from vemd.systems.abaw24.audio import build_audio_model
from vemd.systems.abaw24.audio_windows import frames_from_windows, window_spans
from vemd.systems.abaw24.fusion import apply_weights
from vemd.systems.abaw24.model import ABAW24


class ABAW24AudioVisual(ABAW24):
    """:class:`ABAW24` with the audio model and a fusion over ``fusion_members`` (module docstring)."""

    def __init__(self, cfg: Config, *, for_loading: bool = False, extra: dict | None = None) -> None:
        super().__init__(cfg, for_loading=for_loading, extra=extra)
        a = cfg.system.abaw24
        self.members = tuple(a.fusion_members)
        encoder_config = None
        if for_loading:
            encoder_config = (extra or {}).get("audio_encoder")
            if not isinstance(encoder_config, dict):
                raise ValueError("the model file keeps no audio encoder config")
        self.audio = build_audio_model(a.audio, encoder_config=encoder_config)
        # the fusion's weights and random-forest inputs, one row per member (ABAW24: dynamic, kelm)
        self.fusion_weights = torch.full((len(self.members), 2), 1.0 / len(self.members), dtype=torch.float64)
        self.rf_preds = torch.zeros(len(self.members), 0, 2, dtype=torch.float64)

    def extra_state_for_file(self) -> dict:
        return {**super().extra_state_for_file(), "audio_encoder": self.audio.encoder.model.config.to_dict()}

    def fuse(self, dynamic: np.ndarray, kelm: np.ndarray, audio: np.ndarray | None = None) -> np.ndarray:
        """Per-frame predictions (N, 2) of the members → fused (N, 2) by the configured fusion."""
        kind = self.cfg.system.abaw24.fusion
        if kind == "none":
            return dynamic
        given = {"dynamic": dynamic, "kelm": kelm, "audio": audio}
        if any(given[m] is None for m in self.members):
            raise VemdError("an ABAW 2024 model with audio fuses its audio predictions: none were given")
        preds = np.stack([given[m] for m in self.members])  # (M, N, 2)
        if kind == "random_forest" and self.forest is not None:
            return self.forest.predict(preds)
        return apply_weights(preds, self.fusion_weights.cpu().numpy())

    @torch.no_grad()
    def audio_frames(self, waveforms: torch.Tensor, lengths: torch.Tensor, num_frames: int) -> np.ndarray:
        """Each clip's audio (B, N) at 16 kHz, (B,) samples long, heard over the span of its
        ``num_frames`` evenly spread frames → the audio model's (B, T, 2) at those frames."""
        au = self.cfg.system.abaw24.audio
        out = np.zeros((len(waveforms), num_frames, 2))
        for i, (wave, n) in enumerate(zip(waveforms, lengths.tolist())):
            duration = n / SAMPLE_RATE
            spans = window_spans(0.0, duration, au.window_s, au.step_s)
            cuts = [wave[round(s * SAMPLE_RATE) : round(e * SAMPLE_RATE)] for s, e in spans]
            clips = torch.nn.utils.rnn.pad_sequence(cuts, batch_first=True)  # (W, L)
            preds = self.audio.predict(clips, torch.tensor([len(c) for c in cuts]), au.train.batch_size)
            times = (np.arange(num_frames) + 0.5) * duration / num_frames
            out[i] = frames_from_windows(times, spans, preds.numpy())
        return out

    @torch.no_grad()
    def heard(self, frames: torch.Tensor, waveforms=None, present=None) -> np.ndarray:
        """The audio model's (B, T, 2) at the T frames of each window of ``frames`` (B, T, 3, S, S),
        its audio ``waveforms`` (B, N) at 16 kHz (zero-padded; a tensor or an array, as ``vemd
        predict`` gives it); a window without audio (``present`` False, or no ``waveforms``) takes
        0 at its frames, as an item without an audio file does in training and ``vemd test``
        (:func:`~vemd.systems.abaw24.audio_windows.split_windows`)."""
        from vemd.models.multimodal import audio_lengths

        b, t = frames.shape[:2]
        out = np.zeros((b, t, 2))
        if waveforms is None:
            return out
        has = np.ones(b, dtype=bool) if present is None else np.asarray(present, dtype=bool)
        if has.any():
            waves = torch.as_tensor(waveforms).float().cpu()[torch.from_numpy(has)]  # (B', N)
            out[has] = self.audio_frames(waves, audio_lengths(waves), t)
        return out
