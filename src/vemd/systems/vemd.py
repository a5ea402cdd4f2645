"""VE-MD, the paper's model (Figure 1), as a registered system.

Its parts live in :mod:`vemd.models`, its training in :mod:`vemd.train.fit` (Lightning, two
stages), its evaluation in :mod:`vemd.eval.evaluate`; this file says what a VE-MD model file
can do and wires those together.
"""

from __future__ import annotations

from vemd.systems.base import Artifact, Capabilities, Clips, System, TestOptions, register


@register
class VEMDSystem(System):
    kind = "ve-md"
    title = "VE-MD: variational encoder – multi-decoder (paper Figure 1)"

    @classmethod
    def trains(cls, cfg) -> bool:
        return cfg.system.kind == cls.kind and not cfg.multimodal.enabled

    @classmethod
    def fit(cls, cfg, *, resume: bool = False) -> dict:
        from vemd.train.fit import fit_vemd

        return fit_vemd(cfg, resume=resume)

    @classmethod
    def load(cls, file) -> Artifact:
        from vemd.models.checkpoint import vemd_from_file

        model, cfg, class_names = vemd_from_file(file)
        return Artifact(cls, model, cfg, class_names, file.path, capabilities_of(model, cfg))

    @staticmethod
    def predict_clips(model, frames, waveforms=None, present=None) -> Clips:
        output = model.classify(model.preprocess(frames))
        valence = None if output.valence is None else output.valence.float().cpu().numpy()
        return Clips(probs=output.logits.float().softmax(-1).cpu().numpy(), valence=valence)

    @classmethod
    def evaluate(cls, artifact: Artifact, options: TestOptions) -> dict:
        from vemd.eval.evaluate import evaluate_vemd

        return evaluate_vemd(artifact, options)

    @staticmethod
    def vision(model):
        return model


def capabilities_of(model, cfg) -> Capabilities:
    """What a VE-MD gives: class probabilities, valence with a valence head; it exports and is audited."""
    return Capabilities(valence=bool(cfg.model.valence_head), mode=model.mode)
