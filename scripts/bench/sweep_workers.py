"""Sweep workers: one Optuna study run by one sweep process, then by several, on the same trials.

Each configuration runs ``python -m rnnlab.train -m hparams_search=sine_lstm`` on a fresh study
whose ``--trials`` trials are all enqueued with the same parameters (hidden sizes and learning
rates in turn), so both run exactly the same trials; the pruner is off. One worker runs them one
after another at the default threads; ``--workers`` processes started with the same command share
the study through its storage (one thread each, so that they do not oversubscribe the cores), each
taking the next trial as soon as its last one ends. The wall time is from the first start to the
last exit.

    python scripts/bench/sweep_workers.py [--trials 8] [--workers 2] [--epochs 2] [overrides]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIZES, RATES = (16, 32, 64), (0.003, 0.01)


def sweep(root: Path, workers: int, trials: int, epochs: int, extra: list[str]) -> float:
    """Wall seconds for ``workers`` sweep processes to finish the study's ``trials``."""
    enqueue = ",".join(
        f"{{model.hidden_size:{SIZES[i % len(SIZES)]},optimizer.lr:{RATES[i % len(RATES)]},"
        "model.num_layers:1,data.batch_size:256}"
        for i in range(trials)
    )
    command = [
        sys.executable, "-m", "rnnlab.train", "-m", "hparams_search=sine_lstm",
        f"hydra.sweeper.storage=journal:{root / 'study.journal'}",
        f"hydra.sweeper.n_trials={trials}", f"hydra.sweeper.enqueue=[{enqueue}]",
        "~hydra.sweeper.pruner",
        f"trainer.max_epochs={epochs}", "trainer=cpu", *extra,
    ]  # fmt: skip
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    if workers > 1:
        env["OMP_NUM_THREADS"] = "1"
    start = time.perf_counter()
    processes = [
        subprocess.Popen(
            [*command, f"hydra.sweep.dir={root / f'worker{i}'}"],
            cwd=root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for i in range(workers)
    ]
    for process in processes:
        _, err = process.communicate()
        if process.returncode:
            raise SystemExit(f"a worker failed:\n{err[-3000:]}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2, help="trainer.max_epochs per trial")
    parser.add_argument("overrides", nargs="*", help="more overrides for every trial")
    args = parser.parse_args()
    if args.trials < args.workers or args.workers < 2:
        parser.error("--workers must be at least 2 and --trials at least --workers.")
    print(f"{args.trials} trials of hparams_search=sine_lstm, {args.epochs} epochs each")
    walls = {}
    for workers in (1, args.workers):
        with tempfile.TemporaryDirectory() as scratch:
            walls[workers] = sweep(Path(scratch), workers, args.trials, args.epochs, args.overrides)
        label = "1 worker" if workers == 1 else f"{workers} workers, one thread each"
        print(f"{label:<28} {walls[workers]:7.1f} s", flush=True)
    print(f"ratio {args.workers} workers / 1 worker: {walls[args.workers] / walls[1]:.2f}x")


if __name__ == "__main__":
    main()
