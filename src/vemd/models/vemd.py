"""VE-MD: variational encoder, structural decoders and emotion decoder, composed by injection.

Batch convention (the whole model, training and inference):

* ``frames``: (B, T, 3, H, W) float, normalised with the ViT's mean/std; T = 1 for an image.
  :meth:`VEMD.preprocess` makes them from RGB pixels in [0, 255] of any size: the model owns
  its input statistics (``pixel_mean`` / ``pixel_std`` buffers) and input size, so training,
  evaluation, inference and export cannot disagree.
* ``vit_features`` (optional): cached frozen ViT tokens, (B, T, D, gh, gw) or (B·T, D, gh, gw),
  as returned by :meth:`VEMD.vit_features`; they replace the ViT forward pass.
* Structural targets (criterion side): ``{modality: (B, T, L, 56, 56)}`` limb heatmaps in [0, 1]
  for the heatmap decoder, or ``{modality: list of B·T dicts}`` (``limbs`` (P, 4L),
  ``limb_mask`` (P, L), ``adjacency`` (P, L, L)) for PersonQuery; plus ``target_mask`` (B, T)
  bool, True for frames that carry an annotation.

Modes (paper §4.2, §4.4, §5.1): ``ve-sd`` has no structural decoder; ``ve-md`` trains them as auxiliary tasks
and does not run them at inference; ``ve-md-sr`` runs them and feeds their SR to the emotion
decoder. The public result of inference is ``logits``/``probs`` and, with a valence head, the
clip's ``valence`` (all group level) only.

The latent probe (``model.latent_probe``, vemd's own addition, not the paper's) is a linear
classifier on the latent map pooled over space and frames, trained with its own cross-entropy
(``loss.latent_probe``) beside the emotion decoder. Between the latent and the logits the
emotion decoder stacks φ, a transformer layer and an MLP: at init their product passes the
encoder a gradient that differs from batch to batch, and a model trained from scratch sat at
chance (cross-entropy ln 3) for hundreds of steps, or for a whole run: on the quickstart's
encoder a linear head reached 57 % validation in its second epoch where the emotion decoder was
at 35 % (``benchmarks/bench_plateau.py``, seed 1, cross-entropy only). The probe
gives the encoder that linear gradient from the first step; the emotion decoder still makes every
prediction, and the probe is training-only (never run at inference, not in model files).

Stages (paper §3.4): a stage-1 model is its ViT branch with a linear head; a stage-2 model is
the whole network. :meth:`VEMD.classify` is the one place that tells them apart; ``stage``
says which the weights were trained for (set from the model file).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vemd.models.emotion_decoder import EmotionDecoder
from vemd.models.outputs import VEMDOutput
from vemd.models.vae_decoder import VAEDecoder
from vemd.models.variational_encoder import VariationalEncoder

MODES = ("ve-sd", "ve-md", "ve-md-sr")
STAGES = ("1", "2")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VEMD(nn.Module):
    """The VE-MD model.

    Args:
        encoder: the two-branch variational encoder.
        emotion_decoder: per-frame embedding → transformer → FAP → MLP.
        struct_decoders: one structural decoder per SR modality (``body``, ``face``); each has
            ``forward(latent, num_frames) -> dict``, ``sr_features(out) -> (N, raw)`` and
            ``loss(out, targets)``; ``num_frames`` = T lets a decoder mix frames (the ST-GCN).
            Empty for ``ve-sd`` and for a ``ve-md`` model built for inference.
        mode: ``ve-sd``, ``ve-md`` or ``ve-md-sr``.
        recon_decoder: reconstruction decoder of the ``vae`` variant.
        image_size: side of the square input frames.
        pixel_mean, pixel_std: per-channel statistics in [0, 1] units the backbones expect
            (those of the ViT's pretrained config; ImageNet's for vemd's own encoders).
        stage: ``"1"`` or ``"2"``, the training stage the weights are for.
        latent_probe: the training-only linear classifier on the pooled latent (module docstring).
    """

    def __init__(
        self,
        *,
        encoder: VariationalEncoder,
        emotion_decoder: EmotionDecoder,
        struct_decoders: dict[str, nn.Module],
        mode: str,
        recon_decoder: VAEDecoder | None = None,
        image_size: int = 224,
        pixel_mean: tuple[float, float, float] = IMAGENET_MEAN,
        pixel_std: tuple[float, float, float] = IMAGENET_STD,
        stage: str = "2",
        latent_probe: nn.Linear | None = None,
    ) -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"mode={mode!r}: expected one of {MODES}")
        if mode == "ve-sd" and struct_decoders:
            raise ValueError("ve-sd has no structural decoders")
        if mode == "ve-md-sr" and set(struct_decoders) != set(emotion_decoder.sr):
            raise ValueError("ve-md-sr needs one structural decoder per SR input of the emotion decoder")
        self.encoder = encoder
        self.struct_decoders = nn.ModuleDict(struct_decoders)
        self.emotion_decoder = emotion_decoder
        self.recon_decoder = recon_decoder
        self.latent_probe = latent_probe
        self.mode = mode
        self.image_size = image_size
        self.stage = stage
        # Not persistent: derived from the config, so model files of any version load.
        self.register_buffer(
            "pixel_mean", torch.tensor(pixel_mean).view(1, 1, 3, 1, 1) * 255, persistent=False
        )
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(1, 1, 3, 1, 1) * 255, persistent=False)

    @property
    def stage(self) -> str:
        return self._stage

    @stage.setter
    def stage(self, stage: str) -> None:
        if stage not in STAGES:
            raise ValueError(f"stage={stage!r}: expected one of {STAGES}")
        self._stage = stage

    def preprocess(self, frames: torch.Tensor) -> torch.Tensor:
        """RGB pixels (B, T, 3, H, W) in [0, 255] (uint8 or float) → normalised (B, T, 3, S, S) float.

        Frames not of the model's size S are resized (bilinear, antialiased); vemd's datasets
        and predictor resize on the CPU first, so their frames arrive at size S.
        """
        x = frames.float()
        if x.shape[-2:] != (self.image_size, self.image_size):
            b, t = x.shape[:2]
            x = F.interpolate(
                x.flatten(0, 1),
                size=(self.image_size,) * 2,
                mode="bilinear",
                antialias=True,
                align_corners=False,
            ).view(b, t, 3, self.image_size, self.image_size)
        return (x - self.pixel_mean) / self.pixel_std

    def classify(
        self,
        frames: torch.Tensor,
        vit_features: torch.Tensor | None = None,
        *,
        stage: str | None = None,
        auxiliary: bool | None = None,
    ) -> VEMDOutput:
        """Normalised frames (B, T, 3, S, S) → the group emotion of the model's ``stage``
        (or the one given): the ViT head in stage 1 (``logits``/``probs`` only), the full
        forward pass in stage 2 (see :meth:`forward` for ``vit_features`` and ``auxiliary``)."""
        if (stage or self.stage) == "1":
            logits = self.vit_logits(frames)
            return VEMDOutput(logits=logits, probs=logits.float().softmax(-1))
        return self(frames, vit_features, auxiliary=auxiliary)

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.struct_decoders)

    def vit_features(self, frames: torch.Tensor) -> torch.Tensor:
        """Frozen ViT tokens to cache: (B, T, 3, H, W) → (B, T, D, gh, gw)."""
        self._require_vit()
        tokens = self.encoder.vit_branch.tokens(frames.flatten(0, 1))
        return tokens.view(*frames.shape[:2], *tokens.shape[1:])

    def vit_logits(self, frames: torch.Tensor) -> torch.Tensor:
        """Stage 1: the ViT branch alone with its linear head, (B, T, 3, H, W) → (B, num_classes)."""
        self._require_vit()
        return self.encoder.vit_branch.logits(frames)

    def _require_vit(self) -> None:
        if self.encoder.vit_branch is None:
            raise RuntimeError("this model has no ViT branch (model.vit.enabled=false)")

    def runs_auxiliary(self, auxiliary: bool | None = None) -> bool:
        """Whether the training-only decoders run (structural ones in ve-md, reconstruction in vae)."""
        return self.training if auxiliary is None else auxiliary

    def forward(
        self, frames: torch.Tensor, vit_features: torch.Tensor | None = None, *, auxiliary: bool | None = None
    ) -> VEMDOutput:
        """Frames (B, T, 3, H, W) → :class:`VEMDOutput` with logits (B, num_classes) (and valence (B,)).

        ``auxiliary`` (default: ``self.training``) asks for the training-only outputs, e.g. to
        compute validation losses; in ``ve-md-sr`` the structural decoders always run.
        """
        b, t = frames.shape[:2]
        tokens = (
            vit_features.flatten(0, 1)
            if vit_features is not None and vit_features.dim() == 5
            else vit_features
        )
        enc = self.encoder(frames.flatten(0, 1), vit_tokens=tokens)  # latent (B·T, 2·C_e, s, s)
        aux = self.runs_auxiliary(auxiliary)
        preds: dict[str, dict] = {}
        if self.mode == "ve-md-sr" or (self.mode == "ve-md" and aux):
            if not self.struct_decoders:
                raise RuntimeError("this model was built without its structural decoders (inference build)")
            preds = {
                name: decoder(enc.latent, num_frames=t) for name, decoder in self.struct_decoders.items()
            }
        sr = {}
        if self.mode == "ve-md-sr":
            sr = {name: self.struct_decoders[name].sr_features(p).view(b, t, -1) for name, p in preds.items()}
        logits, valence, frame_tokens, clip = self.emotion_decoder.decode_all(
            enc.latent.view(b, t, *enc.latent.shape[1:]), sr
        )
        recon = self.recon_decoder(enc.latent) if self.recon_decoder is not None and aux else None
        probe = None
        if self.latent_probe is not None and aux:
            pooled = enc.latent.mean(dim=(-2, -1)).view(b, t, -1).mean(1)  # (B, 2·C_e)
            probe = self.latent_probe(pooled)
        return VEMDOutput(
            logits=logits,
            probs=logits.softmax(-1),
            valence=valence,
            pred_body=preds.get("body"),
            pred_face=preds.get("face"),
            latent=enc.latent,
            latent_mean=enc.mean,
            latent_logvar=enc.logvar,
            recon=recon,
            frame_tokens=frame_tokens,
            clip_embedding=clip,
            latent_logits=probe,
        )

    def inference_state_dict(self) -> dict[str, torch.Tensor]:
        """The state dict without training-only modules (structural decoders in ve-md,
        reconstruction, the latent probe)."""
        drop = training_only_prefixes(self.mode)
        return {k: v for k, v in self.state_dict().items() if not k.startswith(drop)}


def training_only_prefixes(mode: str) -> tuple[str, ...]:
    """State-dict prefixes of the modules a model file leaves out: the reconstruction decoder,
    the latent probe and, in ``ve-md``, the structural decoders."""
    return ("recon_decoder.", "latent_probe.") + (("struct_decoders.",) if mode == "ve-md" else ())
