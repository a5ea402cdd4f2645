"""The valence head (MER2023 protocol): one regressed valence per clip beside the class logits."""

from __future__ import annotations

import pytest
import torch

from vemd.config import to_dict

from .helpers import B, frames, tiny_model, write_model_file


@pytest.mark.parametrize("mode", ["ve-sd", "ve-md-sr"])
def test_valence_head_gives_one_value_per_clip_and_trains(mode):
    cfg, model = tiny_model(f"model.mode={mode}", "model.valence_head=true")
    out = model.train()(frames(cfg))
    assert out.valence.shape == (B,) and out.logits.shape == (B, cfg.model.num_classes)
    torch.nn.functional.mse_loss(out.valence, torch.tensor([0.5, -1.0])).backward()
    head = model.emotion_decoder.valence_head
    for name, p in head.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0 and torch.isfinite(p.grad).all(), name
    # the head reads the pooled clip embedding the classifier reads: the shared trunk learns too
    assert model.emotion_decoder.pool.score.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.emotion_decoder.head.parameters())


def test_without_the_switch_there_is_no_valence_and_no_extra_weight():
    cfg, model = tiny_model()
    assert cfg.model.valence_head is False and model.emotion_decoder.valence_head is None
    assert model.eval()(frames(cfg)).valence is None
    assert not any("valence" in key for key in model.state_dict())
    _, with_head = tiny_model("model.valence_head=true")
    extra = set(with_head.state_dict()) - set(model.state_dict())
    assert extra and all(key.startswith("emotion_decoder.valence_head.") for key in extra)


def test_decoder_forward_is_the_logits_of_decode():
    cfg, model = tiny_model("model.mode=ve-sd", "model.valence_head=true")
    decoder = model.emotion_decoder.eval()
    c, s = 2 * cfg.model.latent_dim, cfg.model.latent_size
    latent = torch.randn(3, 2, c, s, s)
    logits, valence = decoder.decode(latent)
    torch.testing.assert_close(decoder(latent), logits)
    assert valence.shape == (3,)


def test_a_model_file_saved_before_the_valence_key_loads_without_a_head(tmp_path):
    from vemd.models.checkpoint import load_model

    cfg, model = tiny_model("model.mode=ve-sd")
    config = to_dict(cfg)
    del config["model"]["valence_head"], config["loss"]["valence"]  # written by a vemd without them
    write_model_file(tmp_path / "model.pt", config, model.inference_state_dict())
    loaded, loaded_cfg, _ = load_model(tmp_path / "model.pt")
    assert loaded_cfg.model.valence_head is False and loaded.emotion_decoder.valence_head is None
    assert loaded(frames(cfg)).valence is None


def test_loss_valence_is_the_mse_over_items_with_a_target_and_is_weighted_once():
    from dataclasses import replace

    from vemd.models import build_criterion

    cfg, model = tiny_model("model.mode=ve-sd", "model.valence_head=true")
    out = model.eval()(frames(cfg))
    labels = torch.tensor([0, 2])
    criterion = build_criterion(replace(cfg.loss, valence=0.5), model, cfg.model.decoder)
    assert criterion.weight_dict["loss_valence"] == 0.5
    torch.manual_seed(0)  # the MMD draws prior samples
    losses, _ = criterion(out, labels, valence=torch.tensor([1.5, float("nan")]))
    torch.testing.assert_close(losses["loss_valence"], (out.valence[0] - 1.5) ** 2)
    expected = losses["loss_cls"] + cfg.loss.mmd * losses["loss_mmd"] + 0.5 * losses["loss_valence"]
    torch.testing.assert_close(losses["loss"], expected)
    # a batch without any valence target: a zero that keeps the graph, never a NaN
    losses, _ = criterion(out, labels, valence=torch.full((2,), float("nan")))
    assert losses["loss_valence"].item() == 0.0 and losses["loss_valence"].requires_grad
    assert torch.isfinite(losses["loss"])
    # a model without the head has no valence term at all
    cfg, plain = tiny_model("model.mode=ve-sd")
    criterion = build_criterion(cfg.loss, plain, cfg.model.decoder)
    assert "loss_valence" not in criterion.weight_dict
    assert "loss_valence" not in criterion(plain.eval()(frames(cfg)), labels, valence=torch.ones(2))[0]


def test_loss_valence_can_be_one_minus_ccc_over_the_items_with_a_target():
    from dataclasses import replace

    from vemd.models import build_criterion

    cfg, model = tiny_model("model.mode=ve-sd", "model.valence_head=true")
    x = torch.cat([frames(cfg), frames(cfg)])  # four clips
    out = model.eval()(x)
    criterion = build_criterion(replace(cfg.loss, valence_loss="ccc"), model, cfg.model.decoder)
    target = torch.tensor([0.5, -0.5, float("nan"), 0.25])
    torch.manual_seed(0)
    losses, _ = criterion(out, torch.tensor([0, 1, 2, 0]), valence=target)
    p, t = out.valence[[0, 1, 3]].double(), target[[0, 1, 3]].double()
    ccc = (
        2
        * ((p - p.mean()) * (t - t.mean())).mean()
        / (p.var(unbiased=False) + t.var(unbiased=False) + (p.mean() - t.mean()) ** 2)
    )
    assert losses["loss_valence"].item() == pytest.approx(1 - ccc.item(), abs=1e-5)
    with pytest.raises(Exception, match="loss.valence_loss"):
        from vemd.config import load_config

        load_config("tiny", ["loss.valence_loss=huber"])
