"""The EmotiW 2020 audio-video group emotion system, as a vemd system (``system.kind: emotiw20``).

Two branches and a score-level fusion (the EmotiW 2020 AV-GER paper, §II):

* **video** (§II-B): a timm ResNet inflated to 3D (:mod:`vemd.models.inflated`: each k×k kernel
  repeated over t and divided by t, or a user-supplied activity-recognition 3D checkpoint) over
  the clip's frames — ten frames of a 5-s clip, 2 per second, in the paper's recipe — with a new
  ``num_classes``-way layer. §II-D trains only that layer over the pretrained 3D network
  (``train_backbone: false``); without pretrained weights (offline, built-in data) the whole
  network is trained (``train_backbone: true``). Time is padded as the weights were trained
  (``time_padding``: zeros for the Multi-Moments checkpoint, replication for an inflated 2D
  network; the model file keeps which).
* **audio** (§II-C): the 34 short-term features of each 25-ms window every 10 ms
  (:mod:`vemd.systems.emotiw20.window_features`, librosa), standardised with the training split's
  mean and standard deviation, through a Bi-LSTM with local attention
  (:mod:`vemd.systems.emotiw20.bilstm`). A clip without audio is heard as silence.
* **fusion** (§II-D): a multi-class SVM (scikit-learn) on the six concatenated class
  probabilities. It is fitted on *out-of-fold* probabilities of the training split: the split
  is cut into ``folds`` stratified folds, and each fold is scored by branches trained on the
  other folds (:func:`vemd.systems.emotiw20.svm_fusion.out_of_fold_probabilities`), so the SVM never learns
  from the over-confident scores of clips a branch was trained on. At test time it reads the
  probabilities of the branches trained on the whole training split. Its C, kernel and degree
  are chosen by grid search over those scores (``svm_search``, §III-D; scikit-learn's
  ``GridSearchCV``); ``svm_refit_train_val`` refits it on the training and validation scores
  (§III-D's "full train" set).

Every branch (whole split and each fold) trains with :func:`vemd.train.epochs.train_epochs`
(Adam + cross-entropy, best validation accuracy kept, early stopping; resumable and exact after
a kill) into ``<out>/emotiw20/<stage>/``. The model file keeps the scores and labels the SVM was
fitted on and its chosen setting, and refits it on loading (deterministic), so no estimator is
pickled.

``vemd test`` reports the accuracy by group size as Table VI does (``group_sizes: paper``): faces
per frame averaged over the clip, fewer than 5 vs 5 or more, for each branch and the fusion
(:mod:`vemd.systems.emotiw20.evaluate`); ``group_sizes: buckets`` gives vemd's report instead.

The folder holds all of it: this file registers the system (light: loading a model file for
prediction imports no training stack), :mod:`~vemd.systems.emotiw20.model` the model,
:mod:`~vemd.systems.emotiw20.fit` its training, :mod:`~vemd.systems.emotiw20.evaluate` its
``vemd test``, and the parts :mod:`~vemd.systems.emotiw20.bilstm`,
:mod:`~vemd.systems.emotiw20.window_features`, :mod:`~vemd.systems.emotiw20.svm_fusion`.
"""

from __future__ import annotations

from vemd.systems.base import Artifact, Capabilities, Clips, TestOptions, register
from vemd.systems.common import SeedSystem


@register
class EmotiW20System(SeedSystem):
    kind = "emotiw20"
    name = "an EmotiW 2020 system"
    parts = "3D ResNet, Bi-LSTM and an SVM refitted on loading"
    title = "EmotiW 2020 audio-video group emotion system (inflated 3D ResNet, Bi-LSTM, SVM fusion)"

    @classmethod
    def build(cls, cfg, *, for_loading: bool = False, extra: dict | None = None):
        from vemd.systems.emotiw20.model import EmotiW20

        return EmotiW20(cfg, for_loading=for_loading, extra=extra)

    @classmethod
    def outputs(cls, cfg) -> Capabilities:
        """Class probabilities of clips that are heard: each window's first ``audio_seconds``."""
        return Capabilities(
            classes=True,
            audio_seconds=float(cfg.system.emotiw20.audio_seconds),
        )

    @classmethod
    def fit(cls, cfg, *, resume: bool = False) -> dict:
        from vemd.systems.emotiw20.fit import fit_emotiw20

        return fit_emotiw20(cfg, resume=resume, title=cls.title)

    @staticmethod
    def predict_clips(model, frames, waveforms=None, present=None) -> Clips:
        """The SVM-fused probabilities (B, C); without ``waveforms`` every clip is heard as silence."""
        import numpy as np

        from vemd.systems.emotiw20.model import SAMPLE_RATE

        if waveforms is None:
            length = round(model.audio_seconds * SAMPLE_RATE)
            waveforms = np.zeros((frames.shape[0], length), np.float32)
            present = np.zeros(frames.shape[0], bool)
        return Clips(probs=np.asarray(model.predict_clips(frames, waveforms, present)["probs"]))

    @classmethod
    def evaluate(cls, artifact: Artifact, options: TestOptions) -> dict:
        from vemd.systems.emotiw20.evaluate import evaluate_emotiw20

        return evaluate_emotiw20(artifact, options)
