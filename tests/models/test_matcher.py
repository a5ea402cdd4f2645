"""Hungarian matcher: batched = per frame, known cost values, known assignments, empty frames."""

import numpy as np
import torch

from vemd.models.personquery.matcher import hungarian_match, limb_cost, pad_targets

L = 5


def random_targets(counts, seed=0):
    gen = torch.Generator().manual_seed(seed)
    targets = []
    for count in counts:
        mask = (torch.rand(count, L, generator=gen) > 0.3).float()
        limbs = torch.rand(count, L, 4, generator=gen) * mask[..., None]
        targets.append(
            {"limbs": limbs.view(count, 4 * L), "limb_mask": mask, "adjacency": torch.zeros(count, L, L)}
        )
    return targets


def test_batched_matching_equals_frame_by_frame():
    counts = [0, 1, 3, 5, 8, 2]
    targets = random_targets(counts)
    pred = torch.rand(len(counts), 5, 4 * L, generator=torch.Generator().manual_seed(1))
    batched = hungarian_match(pred, pad_targets(targets, L, pred.device))
    for i, target in enumerate(targets):
        ((queries, persons),) = hungarian_match(pred[i : i + 1], pad_targets([target], L, pred.device))
        assert np.array_equal(batched[i][0], queries)
        assert np.array_equal(batched[i][1], persons)
        assert len(queries) == min(5, counts[i])


def test_cost_is_mean_l1_over_visible_limbs():
    targets = random_targets([3, 2], seed=2)
    pred = torch.rand(2, 4, 4 * L, generator=torch.Generator().manual_seed(3))
    padded = pad_targets(targets, L, pred.device)
    cost = limb_cost(pred, padded.limbs, padded.limb_mask)
    assert cost.shape == (2, 4, 3)
    for n, target in enumerate(targets):
        for q in range(4):
            for p in range(len(target["limbs"])):
                mask = target["limb_mask"][p]
                err = (pred[n, q].view(L, 4) - target["limbs"][p].view(L, 4)).abs().sum(-1)
                expected = (err * mask).sum() / (4 * mask.sum().clamp(min=1))
                assert torch.isclose(cost[n, q, p], expected, atol=1e-6)


def test_recovers_a_known_permutation():
    targets = random_targets([4], seed=4)
    order = torch.tensor([2, 0, 3, 1])  # query q predicts person order[q]
    pred = torch.full((1, 6, 4 * L), 0.5)
    pred[0, :4] = targets[0]["limbs"][order] + 0.01
    ((queries, persons),) = hungarian_match(pred, pad_targets(targets, L, pred.device))
    assert queries.tolist() == [0, 1, 2, 3]
    assert persons.tolist() == order.tolist()


def test_more_persons_than_queries_keeps_the_best_matching():
    targets = random_targets([6], seed=5)
    targets[0]["limb_mask"][:] = 1.0
    targets[0]["limbs"] = torch.rand(6, 4 * L, generator=torch.Generator().manual_seed(6)) * 0.5
    pred = targets[0]["limbs"][[4, 1, 5]][None].clone()  # 3 queries, each exactly one person
    ((queries, persons),) = hungarian_match(pred, pad_targets(targets, L, pred.device))
    assert queries.tolist() == [0, 1, 2]
    assert persons.tolist() == [4, 1, 5]


def test_no_person_anywhere():
    padded = pad_targets(random_targets([0, 0, 0]), L, torch.device("cpu"))
    assert padded.limbs.shape == (3, 0, L, 4)
    matches = hungarian_match(torch.rand(3, 4, 4 * L), padded)
    assert [(len(q), len(p)) for q, p in matches] == [(0, 0)] * 3
