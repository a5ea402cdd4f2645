"""In ``ve-md`` mode no structural decoder runs at inference (paper §3.3: they are auxiliary
tasks of training), nor the ``vae`` reconstruction decoder; a loaded ``ve-md`` model does not
even hold them. In ``ve-md-sr`` they run, inside the model, and its result is still group level.

Forward hooks on every decoder module record what runs; each test also shows the same hooks
firing where the decoders do run, so that a hook that cannot fire does not pass for privacy.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import torch
from tests.data import bad_media
from tests.models.helpers import frames, tiny_model
from tests.privacy.helpers import key_paths, per_person_keys

from vemd.inference.predictor import GroupEmotionPredictor
from vemd.models.checkpoint import load_model

TRAINING_ONLY = ("struct_decoders", "recon_decoder")
# Modules whose classes are structural or reconstruction decoders, wherever they sit in a model.
DECODER_MODULES = (
    "vemd.models.heatmap_decoder",
    "vemd.models.personquery",
    "vemd.models.stgcn",
    "vemd.models.vae_decoder",
)
VARIANTS = {  # name: overrides of a VE-MD model with training-only decoders
    "heatmap": ("model.mode=ve-md", "model.sr.modalities=[body,face]"),
    "personquery": ("model.mode=ve-md", "model.decoder=personquery"),
    "vae": ("model.mode=ve-md", "model.variational=vae"),
}


@contextmanager
def decoder_hooks(model: torch.nn.Module) -> Iterator[list[str]]:
    """The names of the training-only decoders' modules (every submodule) as they run."""
    fired: list[str] = []
    handles = []
    for name, module in model.named_modules():
        if name.startswith(("struct_decoders.", "recon_decoder")):
            handles.append(module.register_forward_hook(lambda m, i, o, name=name: fired.append(name)))
    assert handles, "the model has no training-only decoder to watch"
    try:
        yield fired
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def every_module_run() -> Iterator[list[torch.nn.Module]]:
    """Every module of any model that runs in the block (a global forward hook)."""
    ran: list[torch.nn.Module] = []
    handle = torch.nn.modules.module.register_module_forward_hook(lambda m, i, o: ran.append(m))
    try:
        yield ran
    finally:
        handle.remove()


def decoders_among(modules: list[torch.nn.Module]) -> list[str]:
    return sorted({type(m).__qualname__ for m in modules if type(m).__module__.startswith(DECODER_MODULES)})


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_an_eval_ve_md_model_runs_no_training_only_decoder(variant):
    cfg, model = tiny_model(*VARIANTS[variant])
    x = frames(cfg)
    model.eval()
    with torch.no_grad(), decoder_hooks(model) as fired:
        model.classify(x)
        model(x)
        model(x, auxiliary=False)
        model.classify(x, stage="2")
    assert fired == []

    expected = {"struct_decoders." + m for m in model.modalities} | (
        {"recon_decoder"} if variant == "vae" else set()
    )
    with torch.no_grad(), decoder_hooks(model) as fired:  # validation losses ask for them
        model(x, auxiliary=True)
    assert expected <= set(fired)
    model.train()
    with decoder_hooks(model) as fired:  # training runs them
        out = model(x)
    assert expected <= set(fired) and out.pred_body is not None


def test_a_loaded_ve_md_model_holds_no_training_only_decoder(ve_md):
    for path in (ve_md.model, ve_md.training):  # the export, and a file holding every weight
        model, cfg, _ = load_model(path)
        assert cfg.model.mode == "ve-md" and len(model.struct_decoders) == 0 and model.recon_decoder is None
        names = [name for name, _ in model.named_modules()] + list(model.state_dict())
        assert not [n for n in names if n.startswith(TRAINING_ONLY) and n != "struct_decoders"]
        assert not decoders_among(list(model.modules()))


def test_the_predictor_runs_no_decoder_of_a_ve_md_model_and_runs_those_of_ve_md_sr(ve_md, ve_md_sr, tmp_path):
    image = bad_media.good_jpeg(tmp_path)
    clip = bad_media.video(tmp_path, 20, fps=10)
    predictor = GroupEmotionPredictor(ve_md.model, window=1)
    with every_module_run() as ran:
        results = [predictor.predict(image), predictor.predict(clip)]
    assert len(ran) > 10  # the hook saw the model run
    assert decoders_among(ran) == []

    predictor = GroupEmotionPredictor(ve_md_sr.model, window=1)
    with every_module_run() as ran:
        results += [predictor.predict(image), predictor.predict(clip)]
    assert "HeatmapDecoder" in decoders_among(ran)  # the SR decoders run, inside the model
    for result in results:  # and nothing of theirs comes out
        paths = key_paths(result.to_dict())
        assert not per_person_keys(paths), paths
        assert {p.split("[]")[0].split(".")[0] for p in paths} <= {
            "input",
            "duration",
            "label",
            "probs",
            "valence",
            "windows",
        }
