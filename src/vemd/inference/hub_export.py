"""``vemd export --format hf``: a folder to upload to the Hugging Face Hub as a model repository.

The folder holds the model file (``model.pt``, what ``hf://ORG/NAME`` loads: :mod:`vemd.hub`)
with the same weights, classes and training-data record, its config and facts with every
absolute path cut to its last part (the dataset's folder, the run folder: nothing a model
needs to load, and nothing the Hub should learn about the machine that trained it), and
``README.md``, a Hugging Face model card: the metadata of vemd's own card
(:func:`vemd.card.card_data`: library, tags, the training dataset, the metrics the model was
measured with, its facts, absolute paths cut to their last part), with the license and what
the model file says (its system, its pipeline, synthetic training data) added, above a usage
note and the body of that card (from
the facts of the ``MODEL_CARD.md`` beside the model file; a short card from the model file alone
where there is none). Both files are written under temporary names, then renamed.
"""

from __future__ import annotations

from pathlib import Path

from vemd.card import DEFAULT_LICENSE
from vemd.errors import VemdError

CARD_FILE = "README.md"
EXPORTED = {"model.pt", CARD_FILE}  # what a folder may already hold to be written over


def export_hf(
    ckpt: str | Path, out: str | Path, *, license: str | None = None
) -> tuple[int, tuple[str, ...]]:
    """Write ``out/model.pt`` and ``out/README.md`` for the model in ``ckpt``; (bytes written, the
    model's outputs). One-line VemdError for a bad model file, an ``out`` that is a file, or a
    folder holding anything else."""
    from vemd.hub import FILENAME
    from vemd.io import atomic_write_text
    from vemd.systems import load_artifact

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise VemdError(f"{out}: is a file; --out names the folder to write with --format hf")
    other = sorted(p.name for p in out.iterdir() if p.name not in EXPORTED) if out.is_dir() else []
    if other:
        raise VemdError(f"{out}: holds other files ({', '.join(other[:3])}); give an empty or new folder")
    artifact = load_artifact(ckpt)
    target = out / FILENAME
    if target.exists() and target.resolve() == Path(artifact.path).resolve():
        raise VemdError(f"{target}: is the model file itself; give another --out")
    out.mkdir(parents=True, exist_ok=True)
    card = model_card(artifact, license=license or DEFAULT_LICENSE)
    public_model_file(artifact.path, target)
    atomic_write_text(out / CARD_FILE, str(card))
    outputs = tuple(artifact.class_names) if artifact.capabilities.classes else ("valence", "arousal")
    return sum((out / name).stat().st_size for name in EXPORTED), outputs


def public_model_file(source: str | Path, target: Path) -> Path:
    """``source`` written again at ``target`` with :func:`public_facts` of its config and extra;
    weights, class names, system and training-data record as they are."""
    from vemd.model_file import read_model_file, write_model_file

    file = read_model_file(source)
    return write_model_file(
        target,
        system=file.system,
        config=public_facts(file.config),
        class_names=file.class_names,
        state_dict=file.state_dict,
        extra=public_facts(file.extra),
        weights=[],  # checked when the file was written and again when it was read
        trained_on=file.training_data,
    )


def model_card(artifact, *, license: str = DEFAULT_LICENSE):
    """The ``huggingface_hub.ModelCard`` of a loaded model: its card's metadata and body, with what
    the model file adds."""
    from huggingface_hub import ModelCard, ModelCardData

    from vemd.card import LIBRARY, TAGS, card_body, card_data, read_facts

    facts = public_facts(read_facts(artifact.path))
    data = (
        card_data(facts) if facts else ModelCardData(license=license, library_name=LIBRARY, tags=list(TAGS))
    )
    tags = [*data.tags, artifact.system.kind, artifact.capabilities.mode]
    if artifact.caveat:  # trained on drawn scenes: said in the metadata too, not only in the text
        tags.append("synthetic-data")
    data.tags = list(dict.fromkeys(tag for tag in tags if tag))
    data.license = license
    data.pipeline_tag = "video-classification" if artifact.capabilities.classes else None
    if not data.datasets and artifact.cfg.data.name:
        data.datasets = [artifact.cfg.data.name]
    body = card_body(facts) if facts else _short_card(artifact)
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{_usage()}\n{body}")


def public_facts(facts):
    """``facts`` with every absolute path cut to its last part (``/home/ana/data/vgaf`` → ``vgaf``):
    a card on the Hub names the dataset, not the folders of the machine that trained the model."""
    if isinstance(facts, dict):
        return {key: public_facts(value) for key, value in facts.items()}
    if isinstance(facts, list):
        return [public_facts(value) for value in facts]
    if isinstance(facts, str) and len(facts) > 1 and Path(facts).is_absolute():
        return Path(facts).name
    return facts


def _usage() -> str:
    return (
        "Load with [vemd](https://pypi.org/project/vemd/), where `ORG/NAME` is this repository:\n\n"
        '```python\nimport vemd\n\npredictor = vemd.load("hf://ORG/NAME")\n'
        'print(predictor.predict("meeting.mp4").label)\n```\n\n'
        "or `vemd predict meeting.mp4 --ckpt hf://ORG/NAME`. Outputs are group level only.\n"
    )


def _short_card(artifact) -> str:
    """The card of a model file with no ``MODEL_CARD.md`` beside it: what the file itself says."""
    outputs = ", ".join(artifact.class_names) if artifact.capabilities.classes else "valence, arousal"
    lines = [
        f"# {artifact.system.title}",
        "",
        f"- System: `{artifact.system.kind}`; outputs: {outputs} (group level).",
        f"- Trained on: `{artifact.cfg.data.name}`." + (f" {artifact.caveat}." if artifact.caveat else ""),
        "- No training report or evaluation was recorded with this model file.",
        "",
    ]
    return "\n".join(lines)
