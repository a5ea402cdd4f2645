"""The stage-2 ViT token cache: hits, misses, and entries it must not trust."""

import pytest
import torch
from tests.faults.cases import payload

from vemd.io import read_tensors
from vemd.train.feature_cache import FeatureCache


def _compute(frames: torch.Tensor) -> torch.Tensor:
    """(B, T, 3, H, W) → (B, T, D=2, gh=1, gw=1) tokens that depend on the frames."""
    return torch.stack([frames.mean(dim=(2, 3, 4)), frames.amax(dim=(2, 3, 4))], dim=2)[..., None, None]


@pytest.fixture
def cache(tmp_path):
    return FeatureCache(tmp_path / "cache", torch.nn.Linear(2, 2), {"root": "data"})


def test_a_second_get_reads_what_the_first_stored(cache):
    frames = torch.rand(2, 3, 3, 4, 4)
    first = cache.get(["a", "b"], frames, _compute)
    again = cache.get(["a", "b"], frames, lambda x: pytest.fail("recomputed a cached clip"))
    assert cache.misses == 2 and cache.hits == 2
    torch.testing.assert_close(again, first)


@pytest.mark.parametrize(
    "entry",
    [
        "payload",  # a crafted pickle: must never run
        {"tokens": torch.zeros(3, 2, 1, 1)},  # not a tensor
        torch.zeros(5, 2, 1, 1),  # another clip length
        b"\x00garbage",  # damaged
    ],
    ids=["payload", "dict", "wrong-shape", "damaged"],
)
def test_an_entry_that_is_not_valid_tokens_is_recomputed(cache, tmp_path, entry):
    marker = tmp_path / "pwned"
    path = cache._path("a")
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(entry, bytes):
        path.write_bytes(entry)
    else:
        torch.save(payload(marker) if entry == "payload" else entry, path)
    frames = torch.rand(1, 3, 3, 4, 4)
    tokens = cache.get(["a"], frames, _compute)
    assert not marker.exists()
    torch.testing.assert_close(tokens, _compute(frames).to(torch.float16).float())
    assert read_tensors(path, key="a")["tokens"].shape == (3, 2, 1, 1)  # rewritten, as a cache entry
