"""Where the time before the first training step goes: ``python -m rnnlab.train ...`` measured
from the moment the process is started to the start of its first training batch, beside the
imports it cannot run without, each in a fresh process.

- ``import torch``, ``import lightning`` (which imports torch, and with it ``torch._dynamo``,
  torchmetrics and through that SciPy's signal module and matplotlib) and ``import
  rnnlab.train`` (which imports lightning, Hydra and rnnlab's own modules), each timed inside
  a fresh interpreter;
- the command itself, to its first training step: a callback of this file
  (:class:`FirstStep`, added with ``+callbacks.first_step._target_=startup.FirstStep``) writes
  the time when the first batch starts, and the process' start time is taken just before it is
  launched, so the figure includes the interpreter's own start.

Each figure is the median of ``--repeats`` fresh processes. What is left after the imports is
rnnlab's own work: composing the config (Hydra composes it twice: once to learn the run mode,
once to run), checking it, building the data, net, task and trainer, opening the run directory
and the TensorBoard writer.

    python scripts/bench/startup.py [--repeats 5] [overrides ...]   # default: model=lstm data=sine
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import lightning as L

HERE = Path(__file__).resolve().parent


class FirstStep(L.Callback):
    """Writes the wall-clock time at which the first training batch starts to
    ``$RNNLAB_FIRST_STEP_FILE``."""

    def on_train_batch_start(self, *args) -> None:
        path = Path(os.environ["RNNLAB_FIRST_STEP_FILE"])
        if not path.exists():
            path.write_text(repr(time.time()))


def import_seconds(module: str) -> float:
    """Seconds to import ``module`` in a fresh interpreter, timed inside it."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(done.stdout)


def first_step_seconds(overrides: list[str]) -> float:
    """Seconds from launching ``python -m rnnlab.train`` to its first training batch."""
    with tempfile.TemporaryDirectory() as scratch:
        stamp = Path(scratch) / "first_step"
        env = os.environ | {
            "RNNLAB_FIRST_STEP_FILE": str(stamp),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
        }
        command = [
            sys.executable, "-m", "rnnlab.train", *overrides, "trainer.max_steps=1",
            "trainer.limit_val_batches=0", "trainer.limit_test_batches=0",
            "+callbacks.first_step._target_=startup.FirstStep", f"hydra.run.dir={scratch}/run",
        ]  # fmt: skip
        start = time.time()
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        if done.returncode != 0 or not stamp.exists():
            raise SystemExit(f"the run failed:\n{done.stderr[-2000:]}")
        return float(stamp.read_text()) - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("overrides", nargs="*", default=["model=lstm", "data=sine"])
    args = parser.parse_args()
    rows: dict[str, list[float]] = {
        "python -c pass": [],
        "import torch": [],
        "import lightning": [],
        "import rnnlab.train": [],
        "to the first training step": [],
    }
    for _ in range(args.repeats):  # the measurements take turns, so drift touches all alike
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        rows["python -c pass"].append(time.perf_counter() - start)
        for module in ("torch", "lightning", "rnnlab.train"):
            rows[f"import {module}"].append(import_seconds(module))
        rows["to the first training step"].append(first_step_seconds(args.overrides))
    median = {name: statistics.median(times) for name, times in rows.items()}
    print(f"python -m rnnlab.train {' '.join(args.overrides)}: median of {args.repeats} runs")
    for name, seconds in median.items():
        print(f"{name:<28} {seconds:6.2f} s")
    total = median["to the first training step"]
    imports = median["import rnnlab.train"] + median["python -c pass"]
    print(f"{'rest: rnnlab builds the run':<28} {total - imports:6.2f} s "
          f"({(total - imports) / total:.0%} of the time to the first step)")  # fmt: skip


if __name__ == "__main__":
    main()
