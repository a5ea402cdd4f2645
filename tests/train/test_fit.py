"""vemd fit / test / predict / compare end to end on a tiny SynthGroups set."""

import csv
import json
import os
import subprocess
import sys

import pytest
import torch
from tests.faults.cases import payload

from conftest import TINY
from vemd.cli import main
from vemd.config import load_config
from vemd.inference.predictor import PUBLIC_KEYS, WINDOW_KEYS, GroupEmotionPredictor
from vemd.models.checkpoint import load_model
from vemd.systems import evaluate, fit


def _cfg(root, out, *extra):
    return load_config("tiny", [f"data.root={root}", f"train.out_dir={out}", *TINY, *extra])


@pytest.fixture(scope="module")
def trained(synth_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    summary = fit(_cfg(synth_root, out, "train.stage=both"))
    return out, summary


def test_two_stage_fit_exports_a_weights_only_model(trained):
    out, summary = trained
    assert [s["stage"] for s in summary["stages"]] == ["1", "2"]
    assert summary["stages"][1]["steps"] == 2 * (16 // 4)
    data = torch.load(out / "model.pt", weights_only=True)
    assert data["format"] == "vemd-model" and data["class_names"] == ["Negative", "Neutral", "Positive"]
    assert data["config"]["model"]["mode"] == "ve-md-sr" and data["vemd_version"]
    assert (out / "config.yaml").exists() and (out / "fit.json").exists()
    header = (out / "stage2" / "logs" / "metrics.csv").read_text().splitlines()[0]
    for term in ("train/loss_cls", "train/loss_body", "train/loss_mmd", "val/accuracy", "val/uar"):
        assert term in header


def test_stage2_starts_from_stage1_vit(trained):
    out, _ = trained
    stage1 = torch.load(out / "stage1" / "best.ckpt", weights_only=True)["state_dict"]
    final = torch.load(out / "model.pt", weights_only=True)["state_dict"]
    key = "encoder.vit_branch.vit.blocks.0.attn.qkv.weight"
    assert torch.equal(stage1[f"model.{key}"], final[key])  # frozen in stage 2


def test_vemd_test_writes_reports(trained, synth_root, tmp_path):
    out, _ = trained
    card = (out / "MODEL_CARD.md").read_bytes()
    assert main(["test", "--ckpt", str(out / "model.pt"), "--split", "val", "--out", str(tmp_path)]) == 0
    assert (out / "MODEL_CARD.md").read_bytes() == card  # only --record changes the card
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    for key in (
        "accuracy",
        "accuracy_ci95",
        "f1_weighted",
        "f1_macro",
        "uar",
        "war",
        "per_class",
        "confusion",
    ):
        assert key in metrics
    assert metrics["num_items"] == 8 and 0 <= metrics["accuracy"] <= 1
    assert sum(map(sum, metrics["confusion"])) == 8
    rows = list(csv.DictReader((tmp_path / "predictions.csv").open()))
    assert len(rows) == 8 and {"item_id", "true_label", "pred_label"} <= set(rows[0])
    assert (tmp_path / "confusion.png").stat().st_size > 1000
    assert not (tmp_path / "sr_heatmaps.png").exists()  # it shows test frames: only when asked
    frames = tmp_path / "with-frames"
    args = ["test", "--ckpt", str(out / "model.pt"), "--split", "val", "--out", str(frames), "--save-frames"]
    assert main(args) == 0
    assert (frames / "sr_heatmaps.png").stat().st_size > 1000
    # comparing the same predictions with themselves: no discordant pair, p = 1
    assert (
        main(["compare", str(tmp_path / "predictions.csv"), str(tmp_path / "predictions.csv"), "--json"]) == 0
    )


def test_predict_is_group_level_only(trained, synth_root, tmp_path, capsys):
    out, _ = trained
    predictor = GroupEmotionPredictor(out / "model.pt")
    result = predictor.predict(synth_root / "frames" / "val-000000").to_dict()
    assert set(result) == PUBLIC_KEYS
    assert all(set(w) == WINDOW_KEYS for w in result["windows"])
    assert result["label"] in predictor.class_names
    assert sum(result["probs"].values()) == pytest.approx(1.0, abs=1e-4)
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video")
    image = next((synth_root / "frames" / "val-000001").iterdir())
    code = main(
        ["predict", str(bad), str(image), "--ckpt", str(out / "model.pt"), "--json", "--out", str(tmp_path)]
    )
    captured = capsys.readouterr()
    assert code == 1  # one input failed ...
    err = captured.err.strip().splitlines()  # trained on SynthGroups: one note says so, then the error
    assert err[0] == "vemd predict: note: trained on drawn scenes (SynthGroups), not a model of real people"
    assert len(err) == 2 and "broken.mp4" in err[1]
    assert json.loads(captured.out.strip().splitlines()[-1])["input"] == str(image)  # ... the other still ran
    assert (tmp_path / "predictions.json").exists() and (tmp_path / "timeline.csv").exists()


def test_ve_md_model_has_no_structural_decoders_at_inference(synth_root, tmp_path):
    summary = fit(_cfg(synth_root, tmp_path, "model.mode=ve-md", "train.max_epochs=1"))
    data = torch.load(summary["model"], weights_only=True)
    assert not any(k.startswith("struct_decoders.") for k in data["state_dict"])
    model, cfg, _ = load_model(summary["model"])
    assert cfg.model.mode == "ve-md" and len(model.struct_decoders) == 0


def test_resuming_a_finished_run_trains_nothing_more(synth_root, tmp_path):
    # periodic saves every 3 steps, 4 steps per epoch: the last periodic save is mid-run
    cfg = _cfg(synth_root, tmp_path, "train.max_epochs=1", "train.checkpoint_every_n_steps=3")
    first = fit(cfg)
    weights = torch.load(first["model"], weights_only=True)["state_dict"]
    assert torch.load(tmp_path / "stage2" / "last.ckpt", weights_only=False)["global_step"] == 4
    again = fit(cfg, resume=True)
    assert again["stages"][-1]["steps"] == first["stages"][-1]["steps"] == 4
    for key, value in torch.load(again["model"], weights_only=True)["state_dict"].items():
        assert torch.equal(value, weights[key]), key


def test_bad_config_and_missing_data_are_one_line_errors(tmp_path, capsys):
    assert main(["fit", "--config", "tiny", "--set", "model.mode=nonsense"]) == 1
    assert "model.mode" in capsys.readouterr().err
    assert main(["fit", "--config", "tiny", "--set", f"data.root={tmp_path / 'nothing'}"]) == 1
    err = capsys.readouterr().err.strip()
    assert str(tmp_path / "nothing") in err and len(err.splitlines()) == 1


@pytest.mark.slow
def test_ddp_two_cpu_processes(synth_root, tmp_path):
    """The same command trains with DDP on two CPU processes (gloo) by configuration alone."""
    out = tmp_path / "ddp"
    args = [
        sys.executable,
        "-m",
        "vemd.cli",
        "fit",
        "--config",
        "tiny",
        *sum((["--set", s] for s in TINY), []),
    ]
    args += [
        "--set",
        f"data.root={synth_root}",
        "--set",
        f"train.out_dir={out}",
        "--set",
        "train.max_epochs=1",
    ]
    args += ["--set", "train.strategy=ddp", "--set", "train.devices=2", "--set", "train.accelerator=cpu"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "CI": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((out / "fit.json").read_text())
    # 16 clips, batch 4 per process, 2 processes: 2 steps per epoch
    assert summary["stages"][-1]["steps"] == 2
    assert "distributed_backend=gloo" in done.stderr or "gloo" in done.stderr.lower()
    assert torch.load(out / "model.pt", weights_only=True)["format"] == "vemd-model"


def test_csv_log_of_a_resumed_run_drops_the_steps_trained_again(tmp_path):
    from vemd.train.fit import CSV_LOG, _restore_csv_log, _set_aside_csv_log

    log = tmp_path / CSV_LOG
    log.parent.mkdir(parents=True)
    log.write_text("step,train/loss\n" + "".join(f"{s},{s}\n" for s in range(7)))  # killed after step 6
    kept = _set_aside_csv_log(tmp_path, before_step=4)  # its last checkpoint was at step 4
    assert not log.exists()
    # resumed from step 4, saved at step 6 with step 5's row pending, killed before writing it
    log.write_text("step,train/loss\n4,x\n")
    assert _set_aside_csv_log(tmp_path, before_step=6, pending={"step": 5, "train/loss": "p"}) == kept
    log.write_text("step,train/loss,val/accuracy\n6,y,\n7,y,0.5\n")  # resumed from step 6, done
    _restore_csv_log(tmp_path, kept)
    with open(log, newline="") as f:
        rows = [(r["step"], r["train/loss"]) for r in csv.DictReader(f)]
    assert rows == [
        ("0", "0"),
        ("1", "1"),
        ("2", "2"),
        ("3", "3"),
        ("4", "x"),
        ("5", "p"),  # the pending row of the checkpoint the killed resumed run started from
        ("6", "y"),
        ("7", "y"),
    ]
    assert not kept.exists()


def test_a_model_without_vit_branch_trains_and_loads(synth_root, tmp_path):
    """Table 3's setting: the Custom encoder alone gives the whole latent (here the VAE variant)."""
    cfg = _cfg(synth_root, tmp_path, "model.vit.enabled=false", "model.variational=vae", "train.max_epochs=1")
    summary = fit(cfg)
    data = torch.load(summary["model"], weights_only=True)
    assert not any(k.startswith("encoder.vit_branch.") for k in data["state_dict"])
    model, loaded, _ = load_model(summary["model"])
    assert model.encoder.vit_branch is None and not loaded.model.vit.enabled
    assert model.encoder.cnn_branch.proj.out_channels == 2 * loaded.model.latent_dim
    metrics = evaluate(summary["model"], split="val", out_dir=tmp_path / "test")
    assert metrics["num_items"] == 8


def test_resume_refuses_a_crafted_checkpoint_without_running_it(synth_root, tmp_path, capsys):
    marker = tmp_path / "pwned"
    (tmp_path / "stage2").mkdir(parents=True)
    torch.save({"global_step": 3, "payload": payload(marker)}, tmp_path / "stage2" / "last.ckpt")
    (tmp_path / "stage2" / "logs").mkdir()
    (tmp_path / "stage2" / "logs" / "metrics.csv").write_text(
        "step,train/loss\n0,1.0\n"
    )  # an interrupted run's log
    args = ["fit", "--config", "tiny", "--resume", "--set", f"data.root={synth_root}"]
    args += ["--set", f"train.out_dir={tmp_path}"]
    for item in TINY:
        args += ["--set", item]
    assert main(args) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "last.ckpt: not a checkpoint vemd fit wrote" in err
    assert not marker.exists()
    assert (tmp_path / "stage2" / "logs" / "metrics.csv").exists()  # the log is left where it was


def test_a_stage_shorter_than_one_epoch_validates_once_and_exports(synth_root, tmp_path):
    """train.max_steps inside the first epoch: no epoch-end validation ran, the final model is
    validated once, becomes best.ckpt with that score and is exported."""
    summary = fit(_cfg(synth_root, tmp_path, "train.max_steps=2"))  # 4 steps per epoch
    assert summary["stages"][-1]["steps"] == 2
    assert summary["best_val_score"] is not None and 0 <= summary["best_val_score"] <= 1
    assert summary["stages"][-1]["best_checkpoint"] == str(tmp_path / "stage2" / "best.ckpt")
    best = torch.load(tmp_path / "stage2" / "best.ckpt", weights_only=True)
    final = torch.load(tmp_path / "stage2" / "last.ckpt", weights_only=True)
    for key, value in final["state_dict"].items():
        assert torch.equal(best["state_dict"][key], value), key
    load_model(summary["model"])


def test_best_checkpoint_state_follows_the_best_ckpt_on_disk(tmp_path):
    """Killed after best.ckpt was replaced but before last.ckpt recorded it: the restored
    selection state takes the score best.ckpt itself records."""
    from vemd.train.callbacks import BestCheckpoint

    best = BestCheckpoint(tmp_path, "val/accuracy")
    path = str(tmp_path / "best.ckpt")
    state = {"best_model_score": torch.tensor(0.5), "best_model_path": path, "dirpath": str(tmp_path)}
    torch.save({"callbacks": {best.state_key: state}}, path)
    stale = {**best.state_dict(), **state, "best_model_score": torch.tensor(0.25)}
    stale["best_k_models"] = {path: torch.tensor(0.25)}
    best.load_state_dict(stale)
    assert float(best.best_model_score) == 0.5 and float(best.best_k_models[path]) == 0.5


def test_resume_with_other_training_settings_is_refused(synth_root, tmp_path, capsys):
    """A resumed run must take the steps the interrupted one would have taken: a changed lr or
    batch size is one line naming last.ckpt and the setting; a longer schedule is allowed."""
    args = [
        "fit",
        "--config",
        "tiny",
        "--set",
        f"data.root={synth_root}",
        "--set",
        f"train.out_dir={tmp_path}",
    ]
    for item in [*TINY, "train.max_epochs=1"]:
        args += ["--set", item]
    assert main(args) == 0
    capsys.readouterr()
    saved = (tmp_path / "config.yaml").read_text()
    assert main([*args, "--resume", "--set", "train.lr=0.01"]) == 1
    assert (tmp_path / "config.yaml").read_text() == saved  # nothing rewritten
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "last.ckpt: trained with other settings" in err
    assert "train.lr: 0.001 → 0.01" in err
    assert main([*args, "--resume", "--set", "train.max_epochs=2"]) == 0
    assert json.loads((tmp_path / "fit.json").read_text())["stages"][-1]["steps"] == 8


def test_fit_writes_a_model_card_that_vemd_test_completes(trained, tmp_path):
    import shutil

    from vemd.card import read_facts
    from vemd.train.fit import StageResult, _write_card

    out, summary = trained
    card = (out / "MODEL_CARD.md").read_text()
    for text in ("VE-MD-SR", "Negative, Neutral, Positive", "Out of scope", "Privacy design", "16 items"):
        assert text in card, text
    facts = read_facts(out / "model.pt")
    assert facts["validation"]["score"] == pytest.approx(summary["best_val_score"])
    low, high = facts["validation"]["ci95"]
    assert low <= facts["validation"]["score"] <= high
    # vemd test --record adds its split to the card beside the model it evaluated
    shutil.copy(out / "model.pt", tmp_path / "model.pt")
    shutil.copy(out / "MODEL_CARD.md", tmp_path / "MODEL_CARD.md")
    assert main(["test", "--ckpt", str(tmp_path / "model.pt"), "--split", "val", "--record"]) == 0
    metrics = json.loads((tmp_path / "test-val" / "metrics.json").read_text())
    evaluated = read_facts(tmp_path / "model.pt")["evaluations"]["val"]
    assert evaluated["accuracy"] == metrics["accuracy"] and evaluated["num_items"] == 8
    assert "| val (`vemd test`) | 8 |" in (tmp_path / "MODEL_CARD.md").read_text()
    # exporting the same model again keeps its evaluations; another model starts afresh
    cfg = load_config(out / "config.yaml")
    final = StageResult(**summary["stages"][-1])
    _write_card(cfg, tmp_path / "model.pt", final)
    assert "val" in read_facts(tmp_path / "model.pt")["evaluations"]
    _write_card(cfg, tmp_path / "model.pt", StageResult(**{**summary["stages"][-1], "best_score": 0.0}))
    assert not read_facts(tmp_path / "model.pt").get("evaluations")


def test_a_setting_newer_than_the_checkpoint_is_not_a_change_while_at_its_default():
    from vemd.config import load_config, to_dict
    from vemd.train.resume import changed_settings as _changed_settings

    current = to_dict(load_config("tiny"))
    saved = to_dict(load_config("tiny"))
    del saved["loss"]["valence_loss"], saved["system"]  # a checkpoint of a vemd without them
    assert _changed_settings(saved, current) == []
    changed = to_dict(load_config("tiny", ["loss.valence_loss=ccc"]))
    assert _changed_settings(saved, changed) == [("loss.valence_loss", None, "ccc")]
    saved["loss"]["mmd"] = 0.5  # a setting both have, changed, is still refused
    assert ("loss.mmd", 0.5, current["loss"]["mmd"]) in _changed_settings(saved, current)
