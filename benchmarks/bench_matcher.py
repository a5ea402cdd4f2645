"""Matcher time per batch: batched tensor cost vs a per-pair Python double loop.

Batch 8 clips × 5 frames, Q = 100 queries, 10 persons per frame, L = 18 body limbs.
Both build the same mean-L1 cost over visible limbs and solve it with
``linear_sum_assignment``; the assignments are checked equal.

    .venv/bin/python benchmarks/bench_matcher.py
"""

from __future__ import annotations

import time

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from vemd.models.personquery.matcher import hungarian_match, pad_targets

NUM_FRAMES, NUM_QUERIES, NUM_PERSONS, NUM_LIMBS = 8 * 5, 100, 10, 18


def naive_match(pred_limbs: torch.Tensor, targets: list[dict[str, torch.Tensor]]) -> list:
    """One cost entry per (query, person) pair, computed in Python loops."""
    matches = []
    for pred, target in zip(pred_limbs, targets):
        cost = torch.zeros(len(pred), len(target["limbs"]))
        for q in range(len(pred)):
            for p in range(len(target["limbs"])):
                mask = target["limb_mask"][p]
                err = (pred[q].view(-1, 4) - target["limbs"][p].view(-1, 4)).abs().sum(-1)
                cost[q, p] = (err * mask).sum() / (4 * mask.sum().clamp(min=1))
        matches.append(linear_sum_assignment(cost.numpy()))
    return matches


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main() -> None:
    torch.manual_seed(0)
    pred = torch.rand(NUM_FRAMES, NUM_QUERIES, 4 * NUM_LIMBS)
    targets = []
    for _ in range(NUM_FRAMES):
        mask = (torch.rand(NUM_PERSONS, NUM_LIMBS) > 0.2).float()
        limbs = torch.rand(NUM_PERSONS, NUM_LIMBS, 4) * mask[..., None]
        targets.append(
            {
                "limbs": limbs.flatten(1),
                "limb_mask": mask,
                "adjacency": torch.zeros(NUM_PERSONS, NUM_LIMBS, NUM_LIMBS),
            }
        )

    def batched():
        return hungarian_match(pred, pad_targets(targets, NUM_LIMBS, pred.device))

    for (q1, p1), (q2, p2) in zip(batched(), naive_match(pred, targets)):
        assert np.array_equal(q1, q2) and np.array_equal(p1, p2), "batched and naive assignments differ"

    fast = median_seconds(batched, repeats=20)
    slow = median_seconds(lambda: naive_match(pred, targets), repeats=3)
    print(
        f"matcher, {NUM_FRAMES} frames × Q={NUM_QUERIES} × {NUM_PERSONS} persons × L={NUM_LIMBS}, torch threads {torch.get_num_threads()}"
    )
    print(f"  batched cost + linear_sum_assignment: {fast * 1e3:8.2f} ms / batch")
    print(f"  naive double loop + linear_sum_assignment: {slow * 1e3:8.2f} ms / batch")
    print(f"  speed-up: {slow / fast:.0f}×")


if __name__ == "__main__":
    main()
