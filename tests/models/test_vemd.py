"""VE-MD end to end on the tiny config: shapes per mode, gradients, frozen ViT, caching, privacy."""

from __future__ import annotations

import pytest
import torch

from vemd.models import build_criterion, build_model
from vemd.structure.skeleton import skeleton_for

from .helpers import B, T, frames, heatmap_targets, tiny_model

MODALITIES = [["body"], ["face"], ["body", "face"]]


@pytest.mark.parametrize("mode", ["ve-sd", "ve-md", "ve-md-sr"])
@pytest.mark.parametrize("modalities", MODALITIES, ids=["body", "face", "body+face"])
@pytest.mark.parametrize("projection", [None, 1.0], ids=["raw", "proj1"])
def test_output_shapes(mode, modalities, projection):
    if mode != "ve-md-sr" and (projection is not None or modalities != ["body", "face"]):
        pytest.skip("without SR input, one case per mode suffices")
    cfg, model = tiny_model(
        f"model.mode={mode}",
        f"model.sr.modalities={modalities}",
        f"model.sr.projection={projection or 'null'}",
    )
    x = frames(cfg)
    out = model.train()(x)
    assert out.logits.shape == (B, cfg.model.num_classes)
    assert torch.allclose(out.probs.sum(-1), torch.ones(B))
    latent_dim, s = cfg.model.latent_dim, cfg.model.latent_size
    assert out.latent.shape == (B * T, 2 * latent_dim, s, s)
    for m in ("body", "face"):
        pred = out.structure(m)
        if mode == "ve-sd" or m not in modalities:
            assert pred is None
        else:
            assert pred["pred_heatmaps"].shape == (B * T, skeleton_for(m, "heatmap").num_limbs, 56, 56)
    sr = 0 if mode != "ve-md-sr" else len(modalities) * (56 * 56 if projection is None else latent_dim)
    assert model.emotion_decoder.frame_dim == 2 * latent_dim + sr


@pytest.mark.parametrize(
    "overrides",
    [
        ("model.mode=ve-md-sr", "model.sr.modalities=[body,face]", "model.sr.projection=0.5"),
        ("model.mode=ve-md", "model.variational=vae"),
        ("model.mode=ve-sd", "model.variational=vanilla"),
        ("model.mode=ve-md-sr", "model.heatmap.num_stages=3", "model.cnn.name=resnet18"),
    ],
    ids=["sr-proj-body+face", "md-vae", "sd-vanilla", "sr-3stages-resnet18"],
)
def test_every_trainable_parameter_gets_a_finite_gradient(overrides):
    cfg, model = tiny_model(*overrides)
    criterion = build_criterion(cfg.loss, model, cfg.model.decoder)
    x = frames(cfg)
    out = model.train()(x)
    losses, diagnostics = criterion(out, torch.tensor([0, 2]), targets=heatmap_targets(cfg), frames=x)
    stages = [f"heatmap_stage{s}" for s in range(1, cfg.model.heatmap.num_stages)] + ["heatmap"]
    expected = {"loss", "loss_cls"} | {f"loss_{m}" for m in model.modalities}
    expected |= {f"loss_{m}_{stage}" for m in model.modalities for stage in stages}
    expected |= {"ve": {"loss_mmd"}, "vae": {"loss_kl", "loss_recon"}, "vanilla": set()}[
        cfg.model.variational
    ]
    assert set(losses) == expected
    losses["loss"].backward()
    for name, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None, f"{name} received no gradient"
            assert torch.isfinite(p.grad).all(), f"{name} has a non-finite gradient"
    assert all(torch.isfinite(v) for v in losses.values()) and not diagnostics


def test_frozen_vit_is_unchanged_by_an_optimiser_step_and_stays_in_eval_mode():
    cfg, model = tiny_model()
    vit = model.encoder.vit_branch
    before = {k: v.clone() for k, v in vit.vit.state_dict().items()}
    model.train()
    assert not vit.vit.training and not any(p.requires_grad for p in vit.vit.parameters())
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    criterion = build_criterion(cfg.loss, model, cfg.model.decoder)
    criterion(model(frames(cfg)), torch.tensor([0, 1]), targets=heatmap_targets(cfg))[0]["loss"].backward()
    optimiser.step()
    for k, v in vit.vit.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert not torch.equal(vit.proj.weight, torch.zeros_like(vit.proj.weight))


def test_stage1_vit_logits_train_the_vit_when_unfrozen():
    cfg, model = tiny_model()
    vit = model.encoder.vit_branch
    vit.set_frozen(False)
    model.train()
    assert vit.vit.training
    logits = model.vit_logits(frames(cfg))
    assert logits.shape == (B, cfg.model.num_classes)
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1])).backward()
    assert vit.head.weight.grad is not None and vit.vit.patch_embed.proj.weight.grad is not None


def test_cached_vit_features_give_the_same_output():
    cfg, model = tiny_model()
    model.eval()
    x = frames(cfg)
    cached = model.vit_features(x)
    assert cached.shape == (B, T, model.encoder.vit_branch.num_features, 4, 4)
    with torch.no_grad():
        torch.testing.assert_close(model(x, vit_features=cached).logits, model(x).logits)


def test_eval_output_is_deterministic_latent_mean():
    cfg, model = tiny_model()
    model.eval()
    x = frames(cfg)
    with torch.no_grad():
        out = model(x)
    torch.testing.assert_close(out.latent, out.latent_mean)


def test_ve_md_skips_structural_decoders_at_inference_and_loads_without_them():
    cfg, model = tiny_model("model.mode=ve-md", "model.sr.modalities=[body,face]")
    calls = []
    for name, decoder in model.struct_decoders.items():
        decoder.register_forward_hook(lambda *_, name=name: calls.append(name))
    x = frames(cfg)
    model.train()(x)
    assert sorted(calls) == ["body", "face"]
    calls.clear()
    model.eval()
    with torch.no_grad():
        full = model(x)
    assert calls == [] and full.pred_body is None and full.pred_face is None

    state = model.inference_state_dict()
    assert not any(k.startswith("struct_decoders.") for k in state)
    slim = build_model(cfg.model, inference=True).eval()
    slim.load_state_dict(state, strict=True)
    assert len(slim.struct_decoders) == 0
    with torch.no_grad():
        torch.testing.assert_close(slim(x).logits, full.logits)


def test_ve_md_sr_runs_decoders_in_eval():
    cfg, model = tiny_model("model.mode=ve-md-sr")
    calls = []
    model.struct_decoders["body"].register_forward_hook(lambda *_: calls.append(1))
    with torch.no_grad():
        model.eval()(frames(cfg))
    assert calls == [1]


def test_stgcn_mixes_the_frames_of_a_clip_and_only_them():
    cfg, model = tiny_model("model.decoder=personquery", "model.personquery.stgcn=true")
    model.eval()
    x = frames(cfg, b=2, t=3)
    base = model(x).pred_body["sr_refined"].view(2, 3, -1)
    changed = x.clone()
    changed[0, 2] += 1.0  # perturb the last frame of the first clip
    out = model(changed).pred_body["sr_refined"].view(2, 3, -1)
    assert not torch.allclose(out[0, 1], base[0, 1])  # its temporal neighbour sees it
    assert torch.allclose(out[1], base[1])  # the other clip does not
