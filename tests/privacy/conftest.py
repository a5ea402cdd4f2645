"""Tiny model files of the privacy tests (:func:`tests.privacy.helpers.model_files`)."""

from __future__ import annotations

import pytest
from tests.privacy.helpers import ModelFiles, model_files


@pytest.fixture(scope="session")
def ve_md(tmp_path_factory) -> ModelFiles:
    """VE-MD with body and face heatmap decoders and a valence head."""
    return model_files(
        tmp_path_factory.mktemp("ve-md"),
        "model.mode=ve-md",
        "model.sr.modalities=[body,face]",
        "model.valence_head=true",
    )


@pytest.fixture(scope="session")
def ve_md_sr(tmp_path_factory) -> ModelFiles:
    """VE-MD-SR with a body heatmap decoder and a valence head: its maps feed the classifier."""
    return model_files(tmp_path_factory.mktemp("ve-md-sr"), "model.mode=ve-md-sr", "model.valence_head=true")
