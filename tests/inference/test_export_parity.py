"""The parity check of ``vemd export`` fails on NaN: ``max(worst, nan)`` is ``worst``, so a graph
(or a model) giving NaN was reported as "max difference 0" and written."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tests.models.helpers import tiny_model

from vemd.errors import VemdError
from vemd.inference.export import CHECK_SHAPES, GroupEmotionGraph, _checked


@pytest.fixture(scope="module")
def graph() -> GroupEmotionGraph:
    _, model = tiny_model("model.mode=ve-sd")
    model.stage = "2"
    return GroupEmotionGraph(model)


def test_an_export_giving_nan_fails_the_check(graph):
    def nan_export(pixels):
        return [np.full(tuple(out.shape), np.nan, np.float32) for out in graph(pixels)]

    with pytest.raises(
        VemdError, match=r"^m\.pt: the exported probs or the model's is NaN .*nothing written"
    ):
        _checked(graph, nan_export, "m.pt")


def test_a_model_giving_nan_fails_the_check_even_against_itself(graph):
    weight = graph.model.emotion_decoder.head[-1].weight
    saved = weight.detach().clone()
    try:
        with torch.no_grad():
            weight.fill_(float("nan"))
        with pytest.raises(VemdError, match="NaN"):  # NaN - NaN is NaN, not a difference of 0
            _checked(graph, lambda pixels: [out.detach().numpy() for out in graph(pixels)], "m.pt")
    finally:
        with torch.no_grad():
            weight.copy_(saved)


def test_a_faithful_export_passes_with_its_difference(graph):
    assert len(CHECK_SHAPES) >= 2
    assert _checked(graph, lambda pixels: [out.detach().numpy() for out in graph(pixels)], "m.pt") < 1e-6
