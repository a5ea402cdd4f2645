"""The resume fingerprint (vemd.train.resume): the settings a resume may change are declared once,
a state written under other settings is refused in one line naming them, and a state of an
earlier vemd (other resumable keys left in, a newer setting missing) still resumes."""

from __future__ import annotations

import json

import pytest
import torch

from vemd.config import Config, ConfigError, load_config, to_dict
from vemd.train.epochs import save_state
from vemd.train.resume import (
    RESUMABLE,
    fingerprint_tree,
    load_state,
    refuse_other_settings,
    setting_changes,
    stage_setting,
)


def _cfg(*overrides: str) -> Config:
    return load_config("systems/abaw24_synth", list(overrides))


def test_resumable_settings_leave_the_fingerprint_unchanged():
    a = _cfg("train.out_dir=/tmp/a", "train.num_workers=0", "data.root=/data/here")
    b = _cfg("train.out_dir=/tmp/b", "train.num_workers=4", "data.root=/data/moved")
    assert stage_setting(a, "static") == stage_setting(b, "static")
    assert {"train.out_dir", "train.num_workers", "multimodal.video_model"} <= RESUMABLE
    tree = fingerprint_tree(a)
    assert "out_dir" not in tree["train"] and "root" not in tree["data"]
    assert "video_model" not in tree["multimodal"] and "embeddings" not in tree["multimodal"]["text"]


def test_a_change_is_named_and_the_stage_counts():
    old = stage_setting(_cfg(), "static")
    changed = setting_changes(old, stage_setting(_cfg("system.abaw24.kelm_C=[1.0]"), "static"))
    assert changed == [("system.abaw24.kelm_C", [0.1, 1.0, 10.0, 100.0], [1.0])]
    assert setting_changes(old, stage_setting(_cfg(), "dynamic")) == [("stage", "static", "dynamic")]
    assert setting_changes("not json", old) == [("setting", "(unreadable)", "(this run's)")]


def test_a_fingerprint_of_an_earlier_vemd_still_resumes():
    """Written when only out_dir and num_workers were left out (data.root kept in) and before a
    setting existed (a key missing at its default): no change. A missing key set otherwise is one."""
    cfg = _cfg()
    tree = to_dict(cfg)
    for key in ("out_dir", "num_workers"):
        tree["train"].pop(key)
    tree["data"]["root"] = "/where/it/was"
    tree["loss"].pop("valence_loss")
    assert to_dict(Config())["loss"]["valence_loss"] == cfg.loss.valence_loss
    earlier = json.dumps({"stage": "static", "config": tree}, sort_keys=True, default=str)
    assert setting_changes(earlier, stage_setting(cfg, "static")) == []
    other = _cfg("loss.valence_loss=ccc")
    assert setting_changes(earlier, stage_setting(other, "static")) == [("loss.valence_loss", None, "ccc")]


def test_a_state_of_other_settings_is_refused_in_one_line(tmp_path):
    cfg = _cfg(f"train.out_dir={tmp_path}")
    folder = tmp_path / "abaw24"
    save_state(folder / "static" / "state.pt", {"setting": stage_setting(cfg, "static"), "w": torch.zeros(1)})
    refuse_other_settings(cfg, folder)  # same settings: nothing to refuse
    assert load_state(folder / "static" / "state.pt", stage_setting(cfg, "static"))["w"].shape == (1,)
    with pytest.raises(ConfigError, match="other settings") as info:
        refuse_other_settings(_cfg(f"train.out_dir={tmp_path}", "system.abaw24.static.lr=0.5"), folder)
    message = str(info.value)
    assert "\n" not in message and "state.pt" in message and "system.abaw24.static.lr" in message
