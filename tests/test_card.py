"""The model card (:mod:`vemd.card`): its encoder line names what the model has (no ``None`` for a
missing ViT branch); its facts are Hugging Face metadata, read back, also from cards of earlier
versions, and updated atomically."""

from __future__ import annotations

import json

import pytest
from huggingface_hub import ModelCard

from vemd.card import add_evaluation, card_path, fit_facts, read_facts, render, write_model_card
from vemd.config import load_config


def test_a_model_without_vit_branch_says_so():
    cfg = load_config("quickstart")  # model.vit.enabled: false
    card = render(fit_facts(cfg, ["a", "b", "c"], sizes={"train": 4}, validation={"monitor": "val/uar"}))
    assert "no ViT branch" in card and "`None`" not in card


def test_a_model_with_vit_branch_names_it():
    cfg = load_config("quickstart", ["model.vit.enabled=true"])
    card = render(fit_facts(cfg, ["a", "b", "c"], sizes={"train": 4}, validation={"monitor": "val/uar"}))
    assert f"ViT branch `{cfg.model.vit.name}`" in card


# ---- the card's metadata: Hugging Face front matter --------------------------------------------


def _facts() -> dict:
    cfg = load_config("quickstart")
    validation = {"monitor": "val/accuracy", "score": 0.5, "ci95": (0.3, 0.7)}
    return fit_facts(cfg, ["a", "b", "c"], sizes={"train": 8, "val": 4}, validation=validation)


def test_the_card_is_a_hugging_face_model_card_with_its_facts_in_the_metadata(tmp_path):
    facts = _facts()
    path = write_model_card(tmp_path / "model.pt", facts)
    text = path.read_text()
    assert text.startswith("---\n") and "vemd-card" not in text and "<!--" not in text
    card = ModelCard.load(path)
    meta = card.data.to_dict()
    assert (
        meta["library_name"] == "vemd"
        and meta["license"] == "other"
        and meta["datasets"] == [facts["dataset"]["name"]]
    )
    assert meta["tags"] == ["vemd", "group-emotion-recognition", facts["mode"]]
    assert meta["metrics"] == ["accuracy"]  # the validation monitor; none is evaluated yet
    assert meta["vemd"] == json.loads(json.dumps(facts))  # every fact, the ci95 tuple as a list
    assert card.text.lstrip().startswith("# Model card\n") and "## Privacy design" in card.text
    assert read_facts(tmp_path / "model.pt") == meta["vemd"]


def test_updates_redraw_the_metadata(tmp_path):
    model = tmp_path / "model.pt"
    write_model_card(model, _facts())
    add_evaluation(model, "test", {"num_items": 4, "accuracy": 0.75, "uar": 0.7, "f1_weighted": 0.7}, "rep")
    meta = ModelCard.load(card_path(model)).data.to_dict()
    assert meta["metrics"] == ["accuracy", "uar", "f1_weighted"]
    assert meta["vemd"]["evaluations"]["test"] == {
        "num_items": 4,
        "accuracy": 0.75,
        "uar": 0.7,
        "f1_weighted": 0.7,
        "report": "rep",
    }
    assert "| test (`vemd test`) | 4 | 75.0 % |" in card_path(model).read_text()


def test_a_systems_card_is_tagged_with_its_system():
    facts = {"system": "emotiw20", "title": "EmotiW 2020", "model": {}, "data": {"dataset": "x at y"}}
    meta = ModelCard(render(facts)).data.to_dict()
    assert meta["tags"] == ["vemd", "group-emotion-recognition", "emotiw20"]
    assert "datasets" not in meta and "metrics" not in meta and meta["vemd"] == facts


# A card as vemd 0.1.0 wrote it (`git show 8344767:src/vemd/card.py`, render() of a VE-MD's facts
# and one evaluation; the body cut short): its facts in a trailing HTML comment, no metadata.
OLD_CARD = """# Model card

vemd 0.1.0 · group emotion recognition · classes: a, b, c

## Model

- Architecture: VE-MD-SR: structural decoders whose scene-level structural representations (SR) feed the emotion decoder; the SR maps stay inside the model.

<!-- vemd-card {"class_names": ["a", "b", "c"], "cnn": "custom", "dataset": {"name": "synth", "root": "data/synth", "splits": {"train": 8, "val": 4}, "val_split": "val"}, "decoder": "heatmap", "evaluations": {"test": {"accuracy": 0.75, "num_items": 4, "report": "runs/tiny/test-test", "uar": 0.7}}, "frames": 4, "image_size": 64, "modalities": ["body"], "mode": "ve-md-sr", "sampling": "uniform", "stage": "2", "validation": {"ci95": [0.3, 0.7], "monitor": "val/accuracy", "score": 0.5}, "variational": "ve", "vemd_version": "0.1.0", "vit": "vit_tiny_patch16_224"} -->
"""  # noqa: E501


def test_a_card_of_an_earlier_version_is_read_and_redrawn_as_a_model_card(tmp_path):
    model = tmp_path / "model.pt"
    card_path(model).write_text(OLD_CARD)
    facts = read_facts(model)
    assert facts["mode"] == "ve-md-sr" and facts["evaluations"]["test"]["accuracy"] == 0.75
    add_evaluation(model, "val", {"num_items": 4, "accuracy": 0.5}, "runs/tiny/test-val")
    text = card_path(model).read_text()
    assert text.startswith("---\n") and "vemd-card" not in text
    assert read_facts(model) == facts | {
        "evaluations": facts["evaluations"]
        | {"val": {"num_items": 4, "accuracy": 0.5, "report": "runs/tiny/test-val"}}
    }


@pytest.mark.parametrize(
    "text",
    [
        "# Notes\n\nno facts here\n",
        "---\nlicense: mit\n---\n\n# A card of someone else's\n",
        "---\nvemd: [1, 2]\n---\n",
        "---\nvemd: {a: [1\n---\n",  # YAML that does not parse
        "---\n- a list\n---\n",
        '<!-- vemd-card {"a": } -->\n',
    ],
)
def test_a_card_without_readable_facts_has_none_and_is_left_as_it_is(tmp_path, text):
    model = tmp_path / "model.pt"
    card_path(model).write_text(text)
    assert read_facts(model) is None
    assert add_evaluation(model, "test", {"accuracy": 0.5}, "r") is None
    assert card_path(model).read_text() == text


def test_an_update_that_fails_leaves_the_card_as_it_was(tmp_path, monkeypatch):
    model = tmp_path / "model.pt"
    before = write_model_card(model, _facts()).read_text()

    def refused(src, dst):
        raise OSError(28, "No space left on device", str(dst))

    monkeypatch.setattr("vemd.io.os.replace", refused)
    with pytest.raises(OSError, match="No space left"):
        add_evaluation(model, "test", {"num_items": 4, "accuracy": 0.75}, "rep")
    assert card_path(model).read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["MODEL_CARD.md"]  # no temporary file left
