"""``experiment=ucr`` against one-nearest-neighbour (Euclidean) on every UCR/UEA classification set
that sktime bundles, over several seeds, side by side on each set's official test split.

Each run is the recipe as a user types it, ``python -m rnnlab.train experiment=ucr
data.name=<set> seed=<s> data.seed=<s>``, with the progress bar left out; the 1-NN baseline is
the one every run reports (``test/nearest_neighbour_acc``): fitted on all of the set's official
training cases, independent of the seed. Regression sets (``@targetLabel true``) are skipped.

    python scripts/bench/ucr.py                       # every set, seeds 0 1 2
    python scripts/bench/ucr.py --sets GunPoint,ArrowHead --seeds 0 [key=value ...]
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed

import torch

from rnnlab.data.ts_format import read_ts
from rnnlab.data.ucr import bundled_names, bundled_ts_dir
from rnnlab.train import run as train_run


def classification_sets() -> list[str]:
    """The bundled sets whose labels are classes (regression sets declare ``@targetLabel``)."""
    root = bundled_ts_dir()
    return [n for n in bundled_names() if not read_ts(root / n / f"{n}_TRAIN.ts").regression]


def run(
    name: str, seed: int, extra: list[str], threads: int
) -> tuple[dict[str, float], float, int]:
    """Test metrics of one run, its wall time in seconds and the epochs it trained."""
    torch.set_num_threads(threads)
    warnings.filterwarnings("ignore")
    for logger in ("lightning", "lightning.pytorch"):
        logging.getLogger(logger).setLevel(logging.ERROR)
    overrides = ["experiment=ucr", f"data.name={name}", f"seed={seed}", f"data.seed={seed}",
                 "trainer=cpu", "~callbacks.rich_progress_bar", "~callbacks.rich_model_summary",
                 *extra]  # fmt: skip
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        metrics, objects = train_run([*overrides, f"hydra.run.dir={out}"])
        return metrics, time.perf_counter() - start, objects["trainer"].current_epoch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", help="bundled set names, comma-separated (default: all)")
    parser.add_argument("--seeds", default="0,1,2", help="seeds, comma-separated")
    # One thread: on a shared CPU, a second thread that waits for a busy core slows every
    # small operation down many times over.
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads per run")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time, one process each")
    parser.add_argument("overrides", nargs="*", help="extra key=value overrides for every run")
    args = parser.parse_args()
    sets = args.sets.split(",") if args.sets else classification_sets()
    seeds = [int(seed) for seed in args.seeds.split(",")]
    total = time.perf_counter()
    # Each run in a fresh process: runs at a time share nothing, and a process a run keeps the
    # seeding of one run from reaching the next.
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(args.jobs, mp_context=spawn, max_tasks_per_child=1) as pool:
        # The biggest sets first, so that no long run starts last.
        by_size = sorted(
            sets, key=lambda n: -(bundled_ts_dir() / n / f"{n}_TRAIN.ts").stat().st_size
        )
        futures = {
            (name, seed): pool.submit(run, name, seed, args.overrides, args.threads)
            for name in by_size
            for seed in seeds
        }
        for future in as_completed(futures.values()):
            name, seed = next(key for key, f in futures.items() if f is future)
            metrics, wall, epoch = future.result()
            print(f"  {name} seed {seed}: acc {metrics['test/acc']:.4f} (1-NN "
                  f"{metrics['test/nearest_neighbour_acc']:.4f}), {epoch} epochs, {wall:.0f} s",
                  flush=True)  # fmt: skip
    header = (f"{'set':<17}{'1-NN ED':>8}" + "".join(f"{f'seed {s}':>8}" for s in seeds)
              + f"{'mean':>8}{'margin':>8}{'epochs':>13}{'time':>7}")  # fmt: skip
    rows, ahead = [], 0
    for name in sets:
        results = [futures[name, seed].result() for seed in seeds]
        accs = [metrics["test/acc"] for metrics, _, _ in results]
        epochs = [epoch for _, _, epoch in results]
        seconds = sum(wall for _, wall, _ in results)
        # The strongest 1-NN of the seeds' runs: each seed's split scales several channels apart.
        baseline = max(metrics["test/nearest_neighbour_acc"] for metrics, _, _ in results)
        margin = min(accs) - baseline
        ahead += margin > 0
        rows.append(
            f"{name:<17}{baseline:>8.4f}" + "".join(f"{a:>8.4f}" for a in accs)
            + f"{sum(accs) / len(accs):>8.4f}{margin:>+8.4f}"
            + f"{'/'.join(map(str, epochs)):>13}{seconds:>6.0f}s"
        )  # fmt: skip
    print(f"\ntorch {torch.__version__}, {args.threads} CPU thread(s) per run")
    print(f"experiment=ucr against 1-NN Euclidean, test accuracy, seeds {seeds} (seed and "
          "data.seed); margin: worst seed minus 1-NN; epochs trained per seed; time: all seeds' "
          f"runs, {args.jobs} at a time")  # fmt: skip
    print(header)
    print("\n".join(rows))
    print(f"rnnlab ahead on {ahead} of {len(sets)} sets (every seed); "
          f"total {time.perf_counter() - total:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()
