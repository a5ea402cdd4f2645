"""The ABAW 2024 models as its paper describes them: 256 features per frame (§3.2.1, Fig. 2), a
dynamic model of three encoder layers with 8 heads over MinMax-scaled embeddings with
sinusoidal positions (§3.2.2, §4.2.2, §4.4), and §4.4's training: a warm-up then cyclic rates,
discriminative rates per layer group and gradual unfreezing; model files written before these
settings existed still load."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from tests.systems.conftest import ABAW24_RECIPE, ABAW24_TINY, abaw24_config, fit_keeping_model, split_frames
from torch import nn

from vemd.config import StageTrainConfig, load_config, to_dict
from vemd.systems import SYSTEMS, load_artifact
from vemd.systems.abaw24.model import MinMaxScaling, TemporalTransformer, sinusoidal_positions
from vemd.systems.abaw24.schedule import (
    GradualUnfreezing,
    StepSchedule,
    backbone_layers,
    discriminative_groups,
    scheduler,
)
from vemd.systems.common import save_system
from vemd.train.epochs import train_epochs

# ---- the model -----------------------------------------------------------------------------------


def test_the_paper_recipe_builds_the_papers_model():
    cfg = load_config("paper/systems/abaw24_affwild2", ["system.abaw24.pretrained=false"])
    a = cfg.system.abaw24
    assert (a.faces, a.face_margin, a.embed_dim) == ("detect", 15, 256)
    model = SYSTEMS["abaw24"].build(cfg).eval()
    frames = torch.zeros(1, 2, 3, 64, 64, dtype=torch.uint8)
    with torch.no_grad():
        assert model.features(frames).shape == (1, 2, 1280)  # EfficientNet-B1's own
        assert model.embed(frames).shape == (1, 2, 256)  # §3.2.1: 256 features per frame
    assert model.kelm_x.shape[1] == 3 * 256  # mean, min, max of 256 features
    dynamic = model.dynamic
    assert isinstance(dynamic.project[0], MinMaxScaling) and isinstance(dynamic.project[1], nn.Identity)
    assert not any(isinstance(m, nn.LayerNorm) for m in dynamic.project.modules())
    assert len(dynamic.encoder.layers) == 3 and dynamic.encoder.layers[0].self_attn.num_heads == 8
    assert "position" not in dict(dynamic.named_parameters())  # fixed sinusoidal positions
    assert (a.warmup_steps, a.warmup_lr, a.cycle_epochs, a.min_lr) == (100, 5e-5, 5, 1e-4)
    assert (a.layer_decay, a.unfreeze_per_epoch) == (0.9, 1)


def test_sinusoidal_positions_are_vaswanis():
    pe = sinusoidal_positions(50, 6)
    t = torch.arange(50, dtype=torch.float32)
    for i in range(3):
        rate = 10000.0 ** (-2 * i / 6)
        torch.testing.assert_close(pe[:, 2 * i], torch.sin(t * rate))
        torch.testing.assert_close(pe[:, 2 * i + 1], torch.cos(t * rate))
    assert sinusoidal_positions(4, 5).shape == (4, 5)  # an odd width


def test_minmax_scaling_maps_the_training_range_onto_0_1():
    train = torch.tensor([[[0.0, 5.0, 2.0]], [[4.0, 1.0, 2.0]]])  # (2, 1, 3): feature 2 constant
    scaling = MinMaxScaling(3)
    scaling.fit(train)
    torch.testing.assert_close(scaling(torch.tensor([0.0, 1.0, 2.0])), torch.tensor([0.0, 0.0, 0.0]))
    torch.testing.assert_close(scaling(torch.tensor([4.0, 5.0, 3.0])), torch.tensor([1.0, 1.0, 1.0]))
    torch.testing.assert_close(scaling(torch.tensor([2.0, 7.0, 2.0])), torch.tensor([0.5, 1.5, 0.0]))


def test_the_dynamic_model_reads_every_frame_in_its_place():
    """Fixed positions: the same embeddings in another order give other predictions, and the
    model takes windows longer than any learnt table."""
    torch.manual_seed(0)
    model = TemporalTransformer(8, 8, 3, 8, 0.0, scaling="minmax", position="sinusoidal").eval()
    x = torch.randn(1, 600, 8)
    model.fit_scaling(x)
    with torch.no_grad():
        out = model(x)
        flipped = model(x.flip(1)).flip(1)
    assert out.shape == (1, 600, 2) and out.abs().max() <= 1
    assert not torch.allclose(out, flipped, atol=1e-4)


# ---- §4.4's training -----------------------------------------------------------------------------


def test_discriminative_rates_fall_by_the_factor_per_layer_group_below_the_new_layers():
    import timm

    backbone = timm.create_model("test_efficientnet", num_classes=0)
    head = nn.Linear(backbone.num_features, 2)
    groups = discriminative_groups(backbone, list(head.parameters()), layer_decay=0.9, weight_decay=0.0)
    assert groups[0]["lr_scale"] == 1.0 and groups[0]["params"] == list(head.parameters())
    layers = backbone_layers(backbone)  # input first
    scale_of = {id(p): g["lr_scale"] for g in groups[1:] for p in g["params"]}
    assert len(scale_of) == sum(1 for _ in backbone.parameters())  # every parameter, once
    for i, params in enumerate(layers):
        for p in params:
            assert scale_of[id(p)] == pytest.approx(0.9 ** (len(layers) - i))


def test_gradual_unfreezing_opens_one_more_top_group_each_epoch():
    layers = [[nn.Parameter(torch.zeros(1))] for _ in range(4)]
    unfreeze = GradualUnfreezing(layers, per_epoch=1)
    trained = lambda: [p[0].requires_grad for p in layers]  # noqa: E731
    unfreeze(0)
    assert trained() == [False, False, False, False]  # the new layers alone
    unfreeze(1)
    assert trained() == [False, False, False, True]
    unfreeze(3)
    assert trained() == [False, True, True, True]
    unfreeze(9)
    assert trained() == [True, True, True, True]


class Recorder:
    """The learning rate of the first parameter group at every step of any optimizer."""

    def __init__(self) -> None:
        self.rates: list[float] = []

    def __call__(self, optimizer, args, kwargs) -> None:
        self.rates.append(optimizer.param_groups[0]["lr"])


def _train(folder, epochs: int, resume: bool = False, fail_at: int | None = None) -> list[float]:
    """A linear model on 8 rows, 4 a batch (2 updates an epoch), trained by the epoch loop on
    §4.4's schedule: 3 warm-up updates from 1e-3 to 1e-2, then cosine cycles of 2 epochs down
    to 1e-4. Returns the rate of each update (``fail_at``: the update that raises, a kill)."""
    from torch.optim.optimizer import register_optimizer_step_post_hook

    a = load_config(
        ABAW24_RECIPE, ["system.abaw24.warmup_steps=3", "system.abaw24.warmup_lr=1e-3"]
    ).system.abaw24
    a.cycle_epochs, a.min_lr = 2, 1e-4
    torch.manual_seed(0)
    module = nn.Linear(3, 1)
    x, y = torch.randn(8, 3), torch.randn(8, 1)
    params = list(module.parameters())
    plan = StepSchedule(lambda optimizer: scheduler(optimizer, a, 2), params, 2)
    calls = []

    def loss_of(rows):
        calls.append(1)
        if fail_at is not None and len(calls) > fail_at:
            raise KeyboardInterrupt
        return ((module(x[rows]) - y[rows]) ** 2).mean()

    recorder = Recorder()
    handle = register_optimizer_step_post_hook(recorder)
    try:
        with plan.active():
            train_epochs(
                "schedule",
                1,
                module,
                params,
                loss_of=loss_of,
                score_of=lambda: 0.0,
                train_rows=torch.arange(8),
                schedule=StageTrainConfig("adamw", 1e-2, 0.0, 4, epochs, 100),
                seed=0,
                folder=folder,
                setting="s",
                resume=resume,
                on_epoch=plan.at_epoch,
            )
    except KeyboardInterrupt:
        pass
    finally:
        handle.remove()
    return recorder.rates


def test_rates_warm_up_linearly_then_follow_cosine_cycles(tmp_path):
    rates = _train(tmp_path, epochs=5)
    assert rates[:3] == pytest.approx([1e-3, 4e-3, 7e-3])  # from 5e-5 in the paper, over 100 steps
    cycle = [1e-4 + 0.5 * (1e-2 - 1e-4) * (1 + math.cos(math.pi * t / 4)) for t in range(4)]
    assert rates[3:7] == pytest.approx(cycle)  # 2 epochs of 2 updates, down towards 1e-4
    assert rates[7] == pytest.approx(1e-2)  # the next cycle starts again from the top


def test_a_killed_stage_resumes_on_the_rates_of_an_uninterrupted_one(tmp_path):
    whole = _train(tmp_path / "whole", epochs=5)
    first = _train(tmp_path / "killed", epochs=5, fail_at=6)  # killed in epoch 4: 3 epochs saved
    rest = _train(tmp_path / "killed", epochs=5, resume=True)
    assert len(first) == 6 and first + rest[-4:] == pytest.approx(whole)
    assert len(rest) == 4


# ---- a fit with all of it --------------------------------------------------------------------


# the paper's model at the tiny recipe's size: a 48-feature embedding, three layers of 8 heads
PAPER_MODEL = (
    "system.abaw24.embed_dim=48",
    "system.abaw24.dynamic_layers=3",
    "system.abaw24.dynamic_heads=8",
    "system.abaw24.dynamic_scaling=minmax",
    "system.abaw24.dynamic_position=sinusoidal",
)


@pytest.fixture(scope="module")
def paper_fit(va_root, tmp_path_factory):
    """The tiny synthetic recipe with the paper's model and training: warm-up, cycles, ×0.9 per
    layer group, one more group unfrozen a static epoch (2 static epochs: the backbone's lower
    groups never train)."""
    run = tmp_path_factory.mktemp("abaw24_paper") / "run"
    cfg = abaw24_config(
        va_root,
        run,
        *PAPER_MODEL,
        "system.abaw24.static.epochs=2",
        "system.abaw24.warmup_steps=2",
        "system.abaw24.cycle_epochs=1",
        "system.abaw24.layer_decay=0.9",
        "system.abaw24.unfreeze_per_epoch=1",
    )
    torch.manual_seed(cfg.train.seed)
    start = SYSTEMS["abaw24"].build(cfg)
    summary, model = fit_keeping_model(cfg)
    return cfg, run, start, model, summary


def test_gradual_unfreezing_leaves_the_lower_backbone_as_it_started(paper_fit):
    """After 2 static epochs (the last epoch's weights, kept in the stage's state): the top
    layer group trained in epoch 1, every group below it never did."""
    from timm.models import group_parameters

    from vemd.io import load_weights_only

    _, run, start, model, _ = paper_fit
    last = load_weights_only(run / "abaw24" / "static" / "state.pt")["module"]
    groups = group_parameters(start.backbone, start.backbone.group_matcher(coarse=False))
    top = max(groups)
    before = dict(start.backbone.named_parameters())
    for k, names in groups.items():
        changed = [not torch.equal(last[f"backbone.{n}"], before[n]) for n in names]
        assert any(changed) if k == top else not any(changed), k
    assert not torch.equal(model.static_head.weight, start.static_head.weight)


def test_the_dynamic_models_scaling_is_the_range_of_the_training_embeddings(paper_fit):
    cfg, _, _, model, _ = paper_fit
    _, frames = split_frames(cfg, "train")
    with torch.no_grad():
        embeddings = model.embed(frames).reshape(-1, 48)  # every frame's 48 features
    scaling = model.dynamic.project[0]
    assert isinstance(scaling, MinMaxScaling)
    torch.testing.assert_close(scaling.low, embeddings.amin(0))
    torch.testing.assert_close(scaling.high, embeddings.amax(0))


def test_the_paper_trained_model_file_predicts_as_the_model_fit_made(paper_fit):
    cfg, run, _, model, summary = paper_fit
    assert set(summary["val_mean_ccc"]) == {"static", "dynamic", "kelm", "fused"}
    loaded = load_artifact(run / "model.pt")
    _, frames = split_frames(cfg, "test")
    ours, theirs = model.all_predictions(frames[:4]), loaded.model.all_predictions(frames[:4])
    for name in ours:
        np.testing.assert_array_equal(theirs[name], ours[name])


# ---- files written before ------------------------------------------------------------------------

NEW_KEYS = (
    "faces",
    "face_margin",
    "embed_dim",
    "dynamic_scaling",
    "dynamic_position",
    "warmup_steps",
    "warmup_lr",
    "cycle_epochs",
    "min_lr",
    "layer_decay",
    "unfreeze_per_epoch",
)


def test_a_model_file_written_before_these_settings_loads_and_predicts_as_it_did(tmp_path):
    """A file of the first layout (whole frames, the backbone's own features, a LayerNorm and
    learnt positions) whose config has none of the new keys."""
    cfg = load_config(ABAW24_RECIPE, list(ABAW24_TINY))  # the new settings at their defaults
    a = cfg.system.abaw24
    assert (a.faces, a.embed_dim, a.dynamic_scaling, a.dynamic_position) == (
        "none",
        None,
        "layernorm",
        "learnt",
    )
    torch.manual_seed(0)
    model = SYSTEMS["abaw24"].build(cfg).eval()
    assert {
        k for k in model.state_dict() if k.startswith(("embedding", "dynamic.project", "dynamic.pos"))
    } == {
        "dynamic.project.0.weight",
        "dynamic.project.0.bias",
        "dynamic.project.1.weight",
        "dynamic.project.1.bias",
        "dynamic.position",
    }
    path = save_system(model, cfg, ["a", "b", "c"], tmp_path / "model.pt")
    payload = torch.load(path, weights_only=True)
    config = to_dict(cfg)
    for key in NEW_KEYS:
        del config["system"]["abaw24"][key]
    payload["config"] = config
    torch.save(payload, path)
    loaded = load_artifact(path)
    frames = torch.randint(
        0, 256, (2, 4, 3, 64, 64), dtype=torch.uint8, generator=torch.Generator().manual_seed(1)
    )
    ours, theirs = model.all_predictions(frames), loaded.model.all_predictions(frames)
    for name in ours:
        np.testing.assert_array_equal(theirs[name], ours[name])
    assert loaded.cfg.system.abaw24.faces == "none"


def test_the_new_settings_are_checked():
    from vemd.config import ConfigError

    for overrides, problem in (
        (["system.abaw24.layer_decay=1.5"], "layer_decay=1.5"),
        (["system.abaw24.backbone=plain", "system.abaw24.unfreeze_per_epoch=1"], "no timm layer groups"),
        (["system.abaw24.dynamic_scaling=per_clip_minmax"], "system.abaw24.dynamic_scaling"),
        (["system.abaw24.dynamic_position=rotary"], "system.abaw24.dynamic_position"),
        (["system.abaw24.embed_dim=0"], "system.abaw24.embed_dim=0"),
        (["system.abaw24.warmup_steps=-1"], "system.abaw24.warmup_steps"),
    ):
        with pytest.raises(ConfigError, match=problem):
            load_config(ABAW24_RECIPE, overrides)
    # §4.2.2's two scalings: over the training set, and per video
    for scaling in ("minmax", "minmax_video"):
        cfg = load_config(ABAW24_RECIPE, [f"system.abaw24.dynamic_scaling={scaling}"])
        assert SYSTEMS["abaw24"].outputs(cfg).whole_video == (
            None
            if scaling == "minmax"
            else "per-video MinMax scaling, system.abaw24.dynamic_scaling=minmax_video"
        )
