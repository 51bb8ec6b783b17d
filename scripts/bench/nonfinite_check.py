"""The cost of watching every step for a loss or gradient that is not finite (``nonfinite=stop``).

Trains the default run (``model=lstm data=sine trainer=cpu``) for the same batches twice in
turn, with and without :class:`~rnnlab.callbacks.finite.FiniteGuard`, and prints the median
seconds per epoch of each side and their ratio; then times the guard's own per-step work on
the same model (:func:`~rnnlab.callbacks.finite.gradient_probe` and one read of it) against a
whole training step.

    python scripts/bench/nonfinite_check.py [--batches 100] [--repeats 3] [overrides ...]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import lightning as L
import torch
from hydra import compose, initialize_config_dir
from omegaconf import open_dict

from rnnlab.build import build_system, build_trainer
from rnnlab.callbacks.finite import FiniteGuard, gradient_probe
from rnnlab.cli import CONFIG_DIR


def config(overrides: list[str], batches: int, output_dir: str):
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(
            "train",
            [
                "trainer=cpu",
                "trainer.max_epochs=1",
                f"trainer.limit_train_batches={batches}",
                "trainer.limit_val_batches=0",
                "trainer.num_sanity_val_steps=0",
                "+trainer.enable_checkpointing=false",
                "+trainer.enable_progress_bar=false",
                "logger=none",
                *overrides,
            ],
        )
    with open_dict(cfg):
        cfg.paths.output_dir = output_dir
    return cfg


def fit_seconds(cfg, guarded: bool) -> float:
    """Seconds of one ``trainer.fit`` of ``cfg``, with or without the guard."""
    L.seed_everything(cfg.seed, verbose=False)
    datamodule, _, task = build_system(cfg)
    callbacks = [FiniteGuard()] if guarded else []
    trainer = build_trainer(cfg.trainer, task, callbacks=callbacks, logger=False)
    start = time.perf_counter()
    trainer.fit(task, datamodule=datamodule)
    return time.perf_counter() - start


def guard_seconds(cfg, repeats: int = 2000) -> tuple[float, float]:
    """Seconds of the guard's per-step check, and of a forward, backward and optimizer step of
    one training batch, on the model ``cfg`` describes."""
    L.seed_everything(cfg.seed, verbose=False)
    datamodule, _, task = build_system(cfg)
    datamodule.setup("fit")
    batch = next(iter(datamodule.train_dataloader()))
    optimizer = torch.optim.Adam(task.parameters(), lr=1e-3)
    params = [p for p in task.parameters() if p.requires_grad]

    def step() -> torch.Tensor:
        optimizer.zero_grad()
        loss, _ = task.compute_loss(batch)
        loss.backward()
        optimizer.step()
        return loss.detach()

    loss = step()
    start = time.perf_counter()
    for _ in range(50):
        step()
    step_time = (time.perf_counter() - start) / 50

    start = time.perf_counter()
    for _ in range(repeats):  # what FiniteGuard.on_before_optimizer_step does on a good step
        grads = [p.grad for p in params if p.grad is not None]
        bool(torch.isfinite(loss + gradient_probe(grads)))
    return (time.perf_counter() - start) / repeats, step_time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    torch.set_num_threads(1)  # a shared machine: one thread keeps the two sides comparable
    with tempfile.TemporaryDirectory() as out:
        cfg = config(args.overrides, args.batches, str(Path(out)))
        fit_seconds(cfg, guarded=True)  # warm-up: imports, allocator
        times: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(args.repeats):
            for guarded in (False, True):
                times[guarded].append(fit_seconds(cfg, guarded))
        check, step = guard_seconds(cfg)
    plain, guarded = statistics.median(times[False]), statistics.median(times[True])
    print(f"{args.batches} training batches, median of {args.repeats} fits each, 1 thread")
    print(f"  without the guard: {plain:.3f} s  ({', '.join(f'{t:.3f}' for t in times[False])})")
    print(f"  with the guard:    {guarded:.3f} s  ({', '.join(f'{t:.3f}' for t in times[True])})")
    print(f"  ratio with/without: {guarded / plain:.3f}")
    print(f"the guard's check: {check * 1e6:.1f} us a step; a training step: {step * 1e3:.2f} ms")
    print(f"  the check's share of a step: {check / step:.2%}")


if __name__ == "__main__":
    main()
