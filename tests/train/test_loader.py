import torch

from vemd.train.loader import EpochBatchSampler, ResumableLoader


def _order(sampler):
    return [i for batch in sampler for i in batch]


def test_epoch_permutations_are_seeded_and_differ():
    a, b = EpochBatchSampler(20, 4, shuffle=True, seed=3), EpochBatchSampler(20, 4, shuffle=True, seed=3)
    assert _order(a) == _order(b)
    first = _order(a)
    a.set_epoch(1)
    assert _order(a) != first and sorted(_order(a)) == list(range(20))


def test_skip_resumes_the_same_permutation():
    full = EpochBatchSampler(22, 4, shuffle=True, seed=0, drop_last=True)
    full.set_epoch(2)
    batches = list(full)
    assert len(batches) == len(full) == 5
    resumed = EpochBatchSampler(22, 4, shuffle=True, seed=0, drop_last=True)
    resumed.epoch, resumed.skip = 2, 3
    assert list(resumed) == batches[3:]
    assert list(resumed) == batches  # the skip applies once


def test_loader_state_round_trip():
    data = torch.arange(12)
    loader = ResumableLoader(data, EpochBatchSampler(12, 3, shuffle=True, seed=1))
    loader.batch_sampler.set_epoch(1)
    seen = []
    for batch_idx, batch in enumerate(loader):
        seen.append(batch.tolist())
        loader.step_done(batch_idx)
        if batch_idx == 1:
            break
    state = loader.state_dict()
    assert state == {"epoch": 1, "trained": 2}
    fresh = ResumableLoader(data, EpochBatchSampler(12, 3, shuffle=True, seed=1))
    fresh.load_state_dict(state)
    rest = [b.tolist() for b in fresh]
    everything = EpochBatchSampler(12, 3, shuffle=True, seed=1)
    everything.set_epoch(1)
    assert seen + rest == list(everything)


def test_ranks_partition_an_epoch(monkeypatch):
    import vemd.train.loader as loader_module

    orders = []
    for rank in range(2):
        monkeypatch.setattr(loader_module, "_rank_and_world", lambda rank=rank: (rank, 2))
        orders.append(_order(EpochBatchSampler(10, 2, shuffle=True, seed=0)))
    assert len(orders[0]) == len(orders[1]) == 5
    assert sorted(orders[0] + orders[1]) == list(range(10))


def test_lightning_sets_the_epoch_of_the_batch_sampler():
    from lightning_fabric.utilities.data import _set_sampler_epoch

    loader = ResumableLoader(torch.arange(8), EpochBatchSampler(8, 2, shuffle=True, seed=0))
    _set_sampler_epoch(loader, 3)
    assert loader.batch_sampler.epoch == 3
