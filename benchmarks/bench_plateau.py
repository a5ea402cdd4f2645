"""How long does the quickstart encoder sit at chance under each head? A probe of the ln 3 plateau.

The quickstart model spends its first few hundred optimizer steps at chance (cross-entropy
ln 3) before it learns the group's balance, and on 3,000 SynthGroups scenes × 3 epochs some
seeds never leave it. This benchmark trains the quickstart recipe's encoder (the `plain` CNN
branch, variational latent; no latent probe) with cross-entropy only, under heads of
growing depth between the pooled latent and the logits, at the recipe's batch, learning rate
and schedule, and prints validation accuracy after each epoch:

* ``linear``: one linear layer on the spatially pooled latent;
* ``linear2``: two linear layers (no non-linearity);
* ``mlp``: linear → ReLU → linear;
* ``decoder``: the recipe's emotion decoder (φ, transformer, frame attention pooling,
  LayerNorm + MLP head), with its SR input closed (VE-SD's path).

A head that leaves chance later than a shallower one on the same encoder, data and steps
shows that depth between latent and logits lengthens the plateau.

For the heads with a hidden ReLU layer (``mlp``, and the decoder's MLP head) it also prints,
after each epoch, the fraction of those units that fire for at least one validation clip: a
unit that fires for none passes no gradient and never comes back (a "dead" ReLU), and a head
whose units have all died outputs one constant: the class prior, cross-entropy ln 3.

    .venv/bin/python benchmarks/bench_plateau.py --out runs/bench_plateau
    .venv/bin/python benchmarks/bench_plateau.py --out runs/bench_plateau --heads linear decoder --seed 1

``--set KEY=VALUE`` changes the recipe for every head, e.g. ``--set model.vit.enabled=true`` puts
back a random frozen ViT branch (no pretrained weights offline): half of the latent made of fixed
random features of every image, which a trainable projection and head can fit to the training
labels.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from vemd.config import load_config
from vemd.data.build import build_dataset, eval_loader
from vemd.data.dataset import usable
from vemd.models.build import build_model
from vemd.synth import generate_dataset
from vemd.train.fit import train_loader
from vemd.train.optim import make_optimizer, warmup_cosine

HEADS = ("linear", "linear2", "mlp", "decoder")


def make_head(kind: str, model, num_classes: int) -> tuple[nn.Module, Callable]:
    """(trainable head module, latent (N, C, s, s) → logits (N, classes))."""
    channels = model.encoder.latent_channels
    if kind == "decoder":
        decoder = model.emotion_decoder  # VE-SD's: no SR input
        return decoder, lambda latent: decoder.decode(latent[:, None])[0]
    layers = {
        "linear": [nn.Linear(channels, num_classes)],
        "linear2": [nn.Linear(channels, channels), nn.Linear(channels, num_classes)],
        "mlp": [nn.Linear(channels, channels), nn.ReLU(), nn.Linear(channels, num_classes)],
    }[kind]
    head = nn.Sequential(*layers)
    return head, lambda latent: head(latent.mean(dim=(-2, -1)))


def hidden_relu_input(kind: str, head: nn.Module) -> nn.Module | None:
    """The linear layer in front of the head's hidden ReLU, if it has one."""
    layers = head.head if kind == "decoder" else head
    if not isinstance(layers, nn.Sequential):
        return None
    for before, after in zip(layers, list(layers)[1:]):
        if isinstance(before, nn.Linear) and isinstance(after, nn.ReLU):
            return before
    return None


def run(
    kind: str, data: Path, seed: int, epochs: int, overrides: list[str] = ()
) -> tuple[list[float], list[float]]:
    """Validation accuracy per epoch, and the fraction of the head's hidden ReLU units alive
    (firing for at least one validation clip) per epoch (empty without such units)."""
    cfg = load_config(
        "quickstart",
        [f"data.root={data}", f"train.seed={seed}", "model.mode=ve-sd", "model.latent_probe=false"]
        + [f"train.max_epochs={epochs}"]
        + list(overrides),
    )
    torch.manual_seed(seed)
    train_set, index = build_dataset(cfg, "train", train=True, stage="2")
    val_set, _ = build_dataset(cfg, "val", train=False, stage="2")
    model = build_model(cfg.model)
    if model.encoder.vit_branch is not None:
        model.encoder.vit_branch.set_frozen(cfg.model.vit.frozen)
    head, logits_of = make_head(kind, model, len(index.class_names))
    t = cfg.train
    params = [p for p in model.encoder.parameters() if p.requires_grad] + list(head.parameters())
    optimizer = make_optimizer(t.optimizer, params, t.lr, t.weight_decay, momentum=t.momentum)
    loader = train_loader(cfg, train_set)
    schedule = warmup_cosine(optimizer, epochs * len(loader), t.warmup_fraction)  # the recipe's
    accuracies, alive, step = [], [], 0
    hidden = hidden_relu_input(kind, head)
    fired: list[torch.Tensor] = []
    if hidden is not None:
        hidden.register_forward_hook(lambda _m, _i, out: fired.append((out > 0).flatten(0, -2).any(0)))
    for epoch in range(epochs):
        loader.batch_sampler.set_epoch(epoch)
        model.train()
        head.train()
        for batch in loader:
            batch = usable(batch)
            torch.manual_seed(seed * 1_000_003 + step)
            latent = model.encoder(model.preprocess(batch["frames"]).flatten(0, 1)).latent
            loss = F.cross_entropy(logits_of(latent), batch["label"])
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, t.grad_clip or float("inf"))
            optimizer.step()
            schedule.step()
            step += 1
        fired.clear()
        accuracies.append(validate(model, head, logits_of, cfg, val_set))
        if hidden is not None:
            alive.append(float(torch.stack(fired).any(0).float().mean()))
    return accuracies, alive


@torch.no_grad()
def validate(model, head, logits_of, cfg, val_set) -> float:
    model.eval()
    head.eval()
    correct = total = 0
    for batch in eval_loader(cfg, val_set):
        batch = usable(batch)
        latent = model.encoder(model.preprocess(batch["frames"]).flatten(0, 1)).latent
        correct += int((logits_of(latent).argmax(-1) == batch["label"]).sum())
        total += len(batch["label"])
    return correct / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/bench_plateau")
    parser.add_argument("--heads", nargs="+", choices=HEADS, default=list(HEADS))
    parser.add_argument("--n-train", type=int, default=3000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="KEY=VALUE, every head")
    args = parser.parse_args()
    data = generate_dataset(
        Path(args.out) / "data", n_train=args.n_train, n_val=600, frames=1, seed=args.seed
    )
    for kind in args.heads:
        start = time.perf_counter()
        accuracies, alive = run(kind, data, args.seed, args.epochs, args.overrides)
        row = {"head": kind, "val_accuracy_per_epoch": [round(a, 4) for a in accuracies]}
        if alive:
            row["hidden_relu_alive_per_epoch"] = [round(a, 3) for a in alive]
        print(json.dumps(row | {"seconds": round(time.perf_counter() - start)}), flush=True)


if __name__ == "__main__":
    main()
