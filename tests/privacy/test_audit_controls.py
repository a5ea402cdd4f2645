"""The audit knows the answer on built-in identities (``vemd synth --identities``).

* A deliberately leaky control, a tiny VE-MD trained with identity as its class
  (``--task identity``), must re-identify people from its public output about as well as a
  real face recogniser (dlib's ResNet) does on the same items: leakage ratio near 1.
* Chance-level inputs (random vectors, unrelated to the identities) must score near chance:
  leakage ratio near 0.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from vemd.privacy.items import find_identities
from vemd.privacy.probes import leakage_ratio, reidentify

K = 4
SEED = 5


@pytest.fixture(scope="module")
def built_in(tmp_path_factory):
    """Training scenes (64 px, class = identity) and audit items of the same 4 people (224 px:
    faces large enough for the face recogniser; the model resizes them to its input)."""
    from vemd.synth import generate_dataset

    root = tmp_path_factory.mktemp("identities")
    common = dict(identities=K, frames=1, seed=SEED, progress=False)
    data = generate_dataset(
        root / "data",
        task="identity",
        n_train=120,
        n_val=24,
        image_size=64,
        per_identity=0,
        n_groups=0,
        **common,
    )
    items = generate_dataset(root / "items", n_train=0, n_val=0, per_identity=6, n_groups=0, **common)
    return data, items / "identities"


@pytest.fixture(scope="module")
def leaky_model(built_in, tmp_path_factory):
    from tests.train.conftest import TINY

    from vemd.config import load_config
    from vemd.systems import fit

    data, _ = built_in
    out = tmp_path_factory.mktemp("leaky")
    cfg = load_config(
        "tiny",
        [
            *TINY,
            f"data.root={data}",
            f"train.out_dir={out}",
            "model.mode=ve-sd",
            f"model.num_classes={K}",
            "model.image_size=64",
            "model.vit.kwargs.img_size=64",
            "data.frames=1",
            "train.stage=2",
            "train.batch_size=16",
            "train.max_epochs=8",
            "train.lr=0.003",
            "train.checkpoint_every_n_steps=50",
            "train.log_every_n_steps=50",
        ],
    )
    summary = fit(cfg)
    assert summary["best_val_score"] >= 0.6, summary  # it did learn who is who
    return out / "model.pt"


@pytest.mark.slow
def test_leaky_control_scores_near_the_ceiling(leaky_model, built_in, tmp_path):
    from vemd.cli import main

    _, items = built_in
    out = tmp_path / "audit"
    assert main(["audit", "--ckpt", str(leaky_model), "--identities", str(items), "--out", str(out)]) == 0
    result = json.loads((out / "audit.json").read_text())
    ceiling = result["ceiling"]
    assert ceiling["name"] == "face_recognition" and ceiling["coverage"] >= 0.8
    assert max(ceiling[p]["accuracy"] for p in ("knn", "logreg")) >= 0.6  # the recogniser tells them apart
    public = result["representations"]["probs"]
    best = max(public[p]["leakage"] for p in ("knn", "logreg"))
    assert best >= 0.6, result["representations"]


def test_chance_level_inputs_score_near_chance(built_in):
    _, items_root = built_in
    items = find_identities(items_root)
    labels = np.array([item.identity for item in items])
    assert len(set(labels)) == K
    rng = np.random.default_rng(0)
    leakages = []
    for trial in range(5):
        result = reidentify(rng.normal(size=(len(items), 64)), labels, seed=trial)
        leakages += [leakage_ratio(result[p]["accuracy"], 1 / K, 0.9) for p in ("knn", "logreg")]
    assert abs(float(np.mean(leakages))) < 0.15, leakages
