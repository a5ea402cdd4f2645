"""The ABAW 2024 valence/arousal system, as a vemd system (``system.kind: abaw24``).

Per-frame valence and arousal in [-1, 1] (the ABAW 2024 VA paper, §3):

* **faces** (§4.2.2): what the static model sees of a frame, ``faces``: its face found by
  vemd's offline detector and cropped with ``face_margin`` (15) more pixels on every side,
  AffWild2's own ``cropped_aligned`` crops, or the whole frame (``none``, the first version's);
  a frame without a face takes its neighbour's (:mod:`~vemd.systems.abaw24.faces`); ``vemd
  predict`` crops each sampled frame's face the same way (a ``cropped_aligned`` model: faces
  found by the detector, as a video has no AffWild2 crops);
* **static model** (§3.2.1, Fig. 2): a per-frame timm backbone (EfficientNet-B1 by default; any
  timm name, or vemd's small ``plain`` stack for drawn scenes) with the paper's new layers, an
  ``embed_dim``-unit embedding (256: "the feature extractors always output 256 features per
  frame"; null: the backbone's own features) and a tanh regression head, fine-tuned on single
  frames against their valence/arousal with ``static_loss`` (LogCosh, §5.2). The paper's
  backbone was first pretrained on emotion data; ``backbone: vemd`` with ``weights: model.pt``
  uses a trained VE-MD that way (frozen: each frame's emotion-decoder token, the new layers
  alone trained), which is how the built-in recipe gets a backbone that already reads drawn
  faces;
* **dynamic model** (§3.2.2, Fig. 1b): the static model frozen; its embeddings of a window's
  frames, scaled (``dynamic_scaling``: §4.2.2's MinMax over the training set, its
  Per-Video-MinMax ``minmax_video`` over each video's own frames, or a LayerNorm; per video,
  ``vemd predict`` reads every window of a video before predicting any, and refuses a live
  source),
  with positions (``dynamic_position``: §4.4's sinusoidal encoding, or learnt), go through a
  transformer encoder (the paper: three layers, 8 heads, dropout 0.1) that predicts every
  frame. The window is the item's ``data.frames`` frames ``data.frame_interval`` seconds apart:
  the paper's 1–8 s at 5 fps are ``frames`` 5–40 with ``frame_interval: 0.2``;
* **functionals + KELM** (§3.2, Eq. 1): mean / min / max (``functionals``) of the embeddings
  over non-overlapping ``functional_window_s`` windows, a Kernel ELM (β = (I/C + K)⁻¹T,
  :class:`vemd.systems.abaw24.kelm.KELM`) per window, its C chosen on the validation split (the
  paper's development set) from ``kelm_C``; each frame takes its window's prediction;
* **audio model** (§3.1, §4.2.1, Table 2; ``audio.enabled``, Table 5 Sys 2-4): a wav2vec2 speech
  encoder (the paper's PDEM) with its top layers fine-tuned and a GRU or transformer head
  (AudioModelV1-V3), on 4-s windows every 2 s of the audio, the windows where the mouth stays
  closed left out of its training (MediaPipe face landmarks); each frame takes the windows covering
  it (:mod:`~vemd.systems.abaw24.audio`, :mod:`~vemd.systems.abaw24.audiovisual`);
* **decision fusion** (§3.3): Dirichlet-based random weighted fusion
  (:func:`vemd.systems.abaw24.fusion.dirichlet_fusion_search`) or a random forest
  (:class:`vemd.systems.abaw24.fusion.RandomForestFusion`) over the predictions of the models
  ``fusion_members`` names (dynamic and KELM; with the audio model, Table 5's), fitted
  on the validation split; ``none`` keeps the dynamic model alone;
* **post-processing** (§4.3): ``vemd predict`` interpolates the window predictions to the
  video's frame rate and smooths them with a ``smoothing_s`` Hamming window
  (:mod:`vemd.inference.smoothing`); ``vemd test`` scores the same way (§4.3, its Table 5): each
  video's predictions at the sampled frames interpolated to every frame and smoothed, the CCC
  over every annotated frame of all videos (:mod:`~vemd.systems.abaw24.evaluate`: a source
  without a frame rate is not smoothed, an item without a per-frame file is scored at its sampled
  frames; ``ccc_sampled``: the sampled frames alone). Training makes every choice (the best
  epoch of the static and dynamic models, the KELM's C, the Dirichlet weights) on the score
  ``vemd test`` gives the validation split (:class:`~vemd.systems.abaw24.evaluate.Selection`),
  recorded in ``fit.json``'s ``selection``; the audio model's best epoch alone is chosen on the
  CCC of its voiced validation windows (Table 2's measure), its frame predictions then scored
  and fused as the others'.

Targets come from each item's per-frame ``va`` (AffWild2 files, SynthGroups ``--va``), or, for
an item without any per-frame value, from its clip-level valence/arousal on every frame; frames
without a target are left out of every loss and score (CCC, Eq. 2, per dimension; their mean is the
challenge score). The static and dynamic models train with :func:`vemd.train.epochs.train_epochs`
(the dynamic model's ``loss``: 1 − CCC, LogCosh or MSE, summed over the two dimensions; the best validation mean
CCC kept; resumable, exact after a kill), on §4.4's warm-up and cyclic rates, the static model
with discriminative rates per layer group and gradual unfreezing, where the config sets them
(:mod:`~vemd.systems.abaw24.schedule`). The model file holds the KELM's training windows and
β, the Dirichlet weights, and for a random forest the validation predictions it is refitted on
when the file is read (no estimator is pickled).

The sampled frames are taken as ``data.frame_interval`` seconds apart when the functional
windows are cut, whatever ``data.sampling``: uniform sampling of short clips (SynthGroups) gives
one window per ``functional_window_s / frame_interval`` frames.

The folder holds all of it: this file registers the system (light: loading a model file for
prediction imports no training stack), :mod:`~vemd.systems.abaw24.model` the model,
:mod:`~vemd.systems.abaw24.fit` its training (:mod:`~vemd.systems.abaw24.schedule` its rates),
:mod:`~vemd.systems.abaw24.evaluate` its ``vemd test`` (targets and CCC),
:mod:`~vemd.systems.abaw24.faces` the faces its datasets read, and the parts
:mod:`~vemd.systems.abaw24.functionals`, :mod:`~vemd.systems.abaw24.kelm`,
:mod:`~vemd.systems.abaw24.fusion`.
"""

from __future__ import annotations

from vemd.systems.base import Artifact, Capabilities, Clips, TestOptions, register
from vemd.systems.common import SeedSystem


@register
class ABAW24System(SeedSystem):
    kind = "abaw24"
    name = "an ABAW 2024 system"
    parts = "backbone, transformer, KELM and fusion"
    title = "ABAW 2024 valence/arousal system (static backbone, dynamic transformer, functionals + KELM)"

    @classmethod
    def build(cls, cfg, *, for_loading: bool = False, extra: dict | None = None):
        from vemd.systems.abaw24.model import ABAW24

        if cfg.system.abaw24.audio.enabled:
            from vemd.systems.abaw24.audiovisual import ABAW24AudioVisual

            return ABAW24AudioVisual(cfg, for_loading=for_loading, extra=extra)
        return ABAW24(cfg, for_loading=for_loading, extra=extra)

    @classmethod
    def outputs(cls, cfg) -> Capabilities:
        """Valence and arousal of the scene, no class; its own timeline smoothing (0: none); a
        per-video scaling needs the whole video."""
        smoothing = float(cfg.system.abaw24.smoothing_s)
        hears = cfg.system.abaw24.audio.enabled
        per_video = cfg.system.abaw24.dynamic_scaling == "minmax_video"
        return Capabilities(
            classes=False,
            valence=True,
            arousal=True,
            smoothing_s=smoothing if smoothing > 0 else None,
            # the audio model (Table 5 Sys 2-4) hears each window's span of the audio track
            audio_seconds=cfg.data.frames * cfg.data.frame_interval if hears else None,
            whole_video="per-video MinMax scaling, system.abaw24.dynamic_scaling=minmax_video"
            if per_video
            else None,
        )

    @classmethod
    def fit(cls, cfg, *, resume: bool = False) -> dict:
        from vemd.systems.abaw24.fit import fit_abaw24

        return fit_abaw24(cfg, resume=resume, title=cls.title)

    @staticmethod
    def predict_clips(model, frames, waveforms=None, present=None) -> Clips:
        """Each clip's fused valence and arousal (B,), averaged over its frames; a model with the
        audio model hears each clip's ``waveforms`` (B, N), the others nothing."""
        out = model.predict_clips(frames, waveforms, present)
        return Clips(valence=out["valence"], arousal=out["arousal"])

    @classmethod
    def predict_video(cls, model, batches) -> list[Clips]:
        """Each batch's clips of one video, its windows scaled by the whole video's range (and, with
        the audio model, each window's audio heard as :meth:`predict_clips` hears it)."""
        return [Clips(valence=o["valence"], arousal=o["arousal"]) for o in model.predict_video(batches)]

    @classmethod
    def frame_view(cls, model, cfg):
        """Faces cropped as training cropped them, for a model of faces (:func:`~vemd.systems.abaw24.faces.face_view`)."""
        from vemd.systems.abaw24.faces import face_view

        return face_view(cfg, cls.image_size(model))

    @classmethod
    def evaluate(cls, artifact: Artifact, options: TestOptions) -> dict:
        from vemd.systems.abaw24.evaluate import evaluate_abaw24

        return evaluate_abaw24(artifact, options)
