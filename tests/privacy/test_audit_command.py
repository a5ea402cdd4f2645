"""``vemd audit`` end to end on tiny models: its files, the model card, its errors, what it leaves on disk."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from tests.models.helpers import tiny_config, tiny_model, write_model_file
from tests.privacy.helpers import WriteSpy, use_tmpdir

from vemd.card import fit_facts, read_facts, write_model_card
from vemd.cli import main
from vemd.config import to_dict

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"
EMODB = FIXTURES / "audio" / "emodb"
VISUAL = {"probs", "clip_embedding", "frame_embedding", "latent", "sr_body"}


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """A tiny VE-MD-SR model file (random weights) with its model card."""
    cfg, model = tiny_model("data.frames=1")
    path = tmp_path_factory.mktemp("model") / "model.pt"
    write_model_file(path, to_dict(cfg), model.inference_state_dict())
    facts = fit_facts(
        cfg, ["a", "b", "c"], sizes={"train": 1, "val": 1}, validation={"monitor": "val/accuracy"}
    )
    write_model_card(path, facts)
    return path


@pytest.fixture(scope="module")
def identities(tmp_path_factory):
    """4 identities × 5 images told apart by their colour, and 24 group scenes with members.csv."""
    root = tmp_path_factory.mktemp("audit_data")
    rng = np.random.default_rng(0)
    colours = rng.integers(0, 255, (4, 3))
    for k, colour in enumerate(colours):
        folder = root / "ids" / f"p{k:03d}"
        folder.mkdir(parents=True)
        for j in range(5):
            image = (rng.integers(0, 40, (64, 64, 3)) + 0.8 * colour).clip(0, 255).astype(np.uint8)
            cv2.imwrite(str(folder / f"{j:03d}.png"), image)
    groups = root / "groups"
    groups.mkdir()
    rows = ["file,identities,label"]
    for i in range(24):
        present = sorted(rng.choice(4, 2, replace=False))
        image = np.zeros((64, 64, 3), np.uint8)
        image[:, :32] = 0.8 * colours[present[0]]
        image[:, 32:] = 0.8 * colours[present[1]]
        cv2.imwrite(str(groups / f"{i:06d}.png"), image)
        rows.append(f"{i:06d}.png,{';'.join(f'p{m:03d}' for m in present)},Neutral")
    (groups / "members.csv").write_text("\n".join(rows) + "\n")
    return root


def _listing(*roots: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for root in roots for p in root.rglob("*") if p.is_file()}


def test_audit_writes_report_and_card(model_file, identities, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "audit"
    use_tmpdir(monkeypatch, tmp_path / "tmp")
    before = _listing(identities, model_file.parent, tmp_path)
    with WriteSpy() as spy:
        code = main(
        ["audit", "--ckpt", str(model_file), "--identities", str(identities / "ids"),
         "--groups", str(identities / "groups"), "--out", str(out), "--record"]
    )  # fmt: skip
    assert code == 0
    result = json.loads((out / "audit.json").read_text())
    assert result["format"] == "vemd-audit" and result["media"] == "visual"
    assert result["chance"] == pytest.approx(0.25)
    assert result["identities"]["num_identities"] == 4 and result["identities"]["num_items"] == 20
    assert set(result["representations"]) == VISUAL
    for entry in result["representations"].values():
        assert {"knn", "logreg"} <= set(entry) and 0.0 <= entry["knn"]["accuracy"] <= 1.0
    assert result["ceiling"]["name"] == "face_recognition"
    assert result["presence"]["num_scenes"] == 24
    assert set(result["presence"]["representations"]) == VISUAL
    # identity is the colour of the images: the model's latent carries it
    assert result["representations"]["latent"]["logreg"]["accuracy"] >= 0.9
    text = (out / "audit.md").read_text()
    assert "## Re-identification" in text and "## Presence in a group" in text and "`clip_embedding`" in text
    assert (out / "audit.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "clip_embedding" in printed and "chance 25.0 %" in printed

    facts = read_facts(model_file)
    audit = facts["audits"]["visual"]
    assert audit["num_identities"] == 4
    assert audit["representations"]["latent"]["logreg"]["accuracy"] == pytest.approx(
        result["representations"]["latent"]["logreg"]["accuracy"]
    )
    card = (model_file.parent / "MODEL_CARD.md").read_text()
    assert "## Measured identity leakage" in card and "none is recorded in this card" not in card

    # nothing but the report and the redrawn card: no frame, crop or embedding reached the disk
    after = _listing(identities, model_file.parent, tmp_path)
    changed = {p for p in after if before.get(p) != after[p]}
    assert changed == {
        out / "audit.json",
        out / "audit.md",
        out / "audit.png",
        model_file.parent / "MODEL_CARD.md",
    }
    assert set(spy.media_writes()) <= {str(out / "audit.png")}  # anywhere on disk: only the chart


def test_no_ceiling_has_no_leakage_ratio(model_file, identities, tmp_path):
    out = tmp_path / "a"
    card = (model_file.parent / "MODEL_CARD.md").read_bytes()
    assert main(["audit", "--ckpt", str(model_file), "--identities", str(identities / "ids"),
                 "--out", str(out), "--no-ceiling"]) == 0  # fmt: skip
    assert (model_file.parent / "MODEL_CARD.md").read_bytes() == card  # without --record: left as it is
    result = json.loads((out / "audit.json").read_text())
    assert result["ceiling"] is None and result["presence"] is None
    assert all(e["knn"]["leakage"] is None for e in result["representations"].values())


def _write_emodb_like(root: Path, speakers: int = 3, per: int = 6) -> None:
    """EMO-DB-named WAVs whose speakers differ in pitch (a voice the MFCCs tell apart)."""
    from vemd.synth.audio import write_wav

    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    for s in range(speakers):
        for j in range(per):
            f0 = 110 * (1.6**s) * (1 + 0.02 * rng.normal())
            wave = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 6)) * 0.2
            write_wav(root / f"{10 + s:02d}a0{j}{'WLEAFTN'[j % 7]}a.wav", wave.astype(np.float32))


@pytest.fixture(scope="module")
def multimodal_file(tmp_path_factory):
    """A tiny multimodal model file (random weights) with a Mel-CNN audio branch."""
    from tests.multimodal.conftest import TINY_MM

    from vemd.models.checkpoint import load_model, save_multimodal
    from vemd.models.multimodal import MultimodalVEMD

    root = tmp_path_factory.mktemp("mm")
    cfg, model = tiny_model("data.frames=1", "model.mode=ve-md")
    write_model_file(root / "video.pt", to_dict(cfg), model.inference_state_dict())
    video, _, _ = load_model(root / "video.pt")
    mm_cfg = tiny_config(
        "data.frames=1", "model.mode=ve-md", *TINY_MM, f"multimodal.video_model={root / 'video.pt'}"
    )
    return save_multimodal(MultimodalVEMD(mm_cfg, video), mm_cfg, ["a", "b", "c"], root / "model.pt",
                           video_path=root / "video.pt")  # fmt: skip


def test_speaker_audit_of_an_audio_branch(multimodal_file, tmp_path):
    voices = tmp_path / "emodb"
    _write_emodb_like(voices)
    out = tmp_path / "out"
    assert (
        main(["audit", "--ckpt", str(multimodal_file), "--identities", str(voices), "--out", str(out)]) == 0
    )
    result = json.loads((out / "audit.json").read_text())
    assert result["media"] == "audio" and result["identities"]["num_identities"] == 3  # speakers 10, 11, 12
    assert set(result["representations"]) == {"audio_probs", "audio_embedding"}
    assert result["ceiling"]["name"] == "voice_mfcc" and result["ceiling"]["logreg"]["accuracy"] == 1.0


@pytest.mark.skipif(not EMODB.is_dir(), reason=f"{EMODB} absent (the real EMO-DB fixture)")
def test_speaker_audit_on_real_emodb(multimodal_file, tmp_path):
    """Four real EMO-DB speakers, 8 utterances each: MFCC statistics re-identify them far above chance."""
    voices = tmp_path / "emodb"
    voices.mkdir()
    by_speaker: dict[str, list[Path]] = {}
    for path in sorted(EMODB.glob("*.wav")):
        by_speaker.setdefault(path.name[:2], []).append(path)
    for speaker in sorted(by_speaker)[:4]:
        for path in by_speaker[speaker][:8]:
            (voices / path.name).symlink_to(path)
    out = tmp_path / "out"
    assert (
        main(["audit", "--ckpt", str(multimodal_file), "--identities", str(voices), "--out", str(out)]) == 0
    )
    result = json.loads((out / "audit.json").read_text())
    assert result["identities"]["num_identities"] == 4 and result["chance"] == 0.25
    assert result["ceiling"]["logreg"]["accuracy"] >= 0.6


def test_audit_errors_are_one_line(model_file, identities, tmp_path, capsys):
    cases = [
        (["--identities", str(tmp_path / "nowhere")], "no such folder of identities"),
        (["--identities", str(identities / "ids" / "p000")], "identities with media found"),
        (["--identities", str(identities / "ids"), "--groups", str(tmp_path)], "members.csv: missing"),
    ]
    voices = tmp_path / "voices"
    _write_emodb_like(voices, speakers=2, per=2)
    cases.append((["--identities", str(voices)], "has no audio branch"))
    for extra, message in cases:
        code = main(["audit", "--ckpt", str(model_file), "--out", str(tmp_path / "o"), *extra])
        err = capsys.readouterr().err.strip()
        assert code == 1 and message in err and len(err.splitlines()) == 1, (extra, err)
