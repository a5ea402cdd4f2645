"""MMD to the N(0, I) prior: near 0 for prior samples, clearly positive for shifted or scaled ones."""

from __future__ import annotations

import torch

from vemd.models.mmd import mmd, mmd_to_prior


def test_mmd_is_near_zero_for_prior_samples_and_positive_when_shifted():
    torch.manual_seed(0)
    prior = torch.randn(128, 64, 7, 7)
    assert abs(float(mmd_to_prior(prior))) < 0.05
    assert float(mmd_to_prior(prior + 0.5)) > 0.1
    assert float(mmd_to_prior(prior * 0.2)) > 0.5


def test_mmd_grows_with_the_shift():
    x = torch.randn(16, 8, generator=torch.Generator().manual_seed(1))
    assert float(mmd(x, x + 3.0)) > float(mmd(x, x + 1.0)) > 0


def test_mmd_to_prior_is_zero_below_two_rows():
    assert float(mmd_to_prior(torch.randn(1, 10))) == 0.0
