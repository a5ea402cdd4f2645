"""A data loader that resumes mid-epoch without losing or repeating a batch.

The batch order of epoch ``e`` is a permutation drawn from ``(seed, e)`` only, and
split across DDP ranks by stride. The training module reports each finished step to
the loader (:meth:`ResumableLoader.step_done`; counting handed-out batches would be
wrong, as Lightning fetches one batch ahead). Lightning saves that count through
``state_dict`` in every checkpoint and gives it back through ``load_state_dict`` on
resume; the sampler then skips exactly that many batches of the same permutation
(indices only: no skipped item is decoded).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, Sampler


def _rank_and_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class EpochBatchSampler(Sampler[list[int]]):
    """Seeded, epoch-dependent, DDP-aware batches with a resumable skip."""

    def __init__(self, size: int, batch_size: int, *, shuffle: bool, seed: int = 0, drop_last: bool = False):
        self.size, self.batch_size, self.shuffle = size, batch_size, shuffle
        self.seed, self.drop_last = seed, drop_last
        self.epoch = 0
        self.skip = 0
        # Lightning calls set_epoch on ``loader.batch_sampler.sampler``, not on the batch sampler.
        self.sampler = self

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.skip = 0
        self.epoch = epoch

    def _indices(self) -> np.ndarray:
        rank, world = _rank_and_world()
        order = np.arange(self.size)
        if self.shuffle:
            order = np.random.default_rng((self.seed, self.epoch)).permutation(self.size)
        if world > 1:  # pad so every rank gets the same number of items, then stride
            order = np.resize(order, -(-self.size // world) * world)[rank::world]
        return order

    def __len__(self) -> int:
        count = len(self._indices())
        return count // self.batch_size if self.drop_last else -(-count // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        order = self._indices()
        batches = [order[i : i + self.batch_size].tolist() for i in range(0, len(order), self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        skip, self.skip = self.skip, 0
        yield from batches[skip:]


class ResumableLoader(DataLoader):
    """DataLoader whose position inside an epoch is saved and restored by Lightning."""

    def __init__(self, dataset: Dataset, batch_sampler: EpochBatchSampler, **kwargs) -> None:
        super().__init__(dataset, batch_sampler=batch_sampler, **kwargs)
        self.trained = 0  # finished training steps in the current epoch

    def __iter__(self):
        sampler: EpochBatchSampler = self.batch_sampler
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(sampler.epoch)
        self.trained = sampler.skip
        return super().__iter__()

    def step_done(self, batch_idx: int) -> None:
        """Record that the step on batch ``batch_idx`` (0-based, in this epoch) finished."""
        self.trained = batch_idx + 1

    def state_dict(self) -> dict:
        return {"epoch": self.batch_sampler.epoch, "trained": self.trained}

    def load_state_dict(self, state: dict) -> None:
        self.batch_sampler.epoch = int(state["epoch"])
        self.batch_sampler.skip = int(state["trained"])
        self.trained = self.batch_sampler.skip
