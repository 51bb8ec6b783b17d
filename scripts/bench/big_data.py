"""Training on data larger than a run should ever hold: peak resident memory.

Two kinds of data, each written into a temporary folder and trained on in a fresh process, whose
wall time and peak resident set (its own ``ru_maxrss``, from ``os.wait4``) are printed:

- ``text``: a text of ``--gb`` gigabytes, a source text (``--source``; default: rnnlab's built-in
  corpus) repeated, for ``model=lstm data=text``: once with an empty encoding cache (the run
  scans the file, then encodes it into a memory-mapped array) and once reusing it. The text is
  read in blocks and the ids are memory-mapped (:mod:`rnnlab.data.text`), so the peak should
  not grow with the file.
- ``csv``: a one-column series of ``--millions`` million steps (``data=sine``'s two sines and
  noise, a million steps at a time), for ``model=lstm data=csv``. The file is parsed a block of
  rows at a time into one array (:func:`rnnlab.data.csv_series.read_series`), so the peak is
  the series' values, not Python objects per row.

Each run trains ``--steps`` steps with a few validation and test batches.

    python scripts/bench/big_data.py text [--gb 1] [--source shakespeare.txt] [--steps 50]
    python scripts/bench/big_data.py csv [--millions 50] [--steps 50] [overrides]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from rnnlab.data.sine import sine_series
from rnnlab.data.text import CORPUS


def write_text(path: Path, source: Path, gigabytes: float) -> int:
    """Repeat ``source`` into ``path`` until it holds ``gigabytes``; its size in bytes."""
    block = source.read_bytes()
    target = int(gigabytes * 1e9)
    with path.open("wb") as out:
        written = 0
        while written < target:
            out.write(block)
            written += len(block)
    return written


def write_series(path: Path, steps: int) -> int:
    """A CSV with a header ``y`` and ``steps`` rows of the sine series; its size in bytes."""
    block = 1_000_000
    with path.open("w") as out:
        out.write("y\n")
        for start in range(0, steps, block):
            values = sine_series(min(block, steps - start), 0.1, "tutorial", start)
            np.savetxt(out, values, fmt="%.5f")
    return path.stat().st_size


def train(run_dir: Path, overrides: list[str]) -> tuple[float, float]:
    """Train in a fresh process; its wall seconds and peak resident set in MiB."""
    command = [
        sys.executable, "-m", "rnnlab.train", "model=lstm", "trainer.limit_val_batches=5",
        "trainer.limit_test_batches=5", "trainer=cpu", "~callbacks.rich_progress_bar",
        f"hydra.run.dir={run_dir}", *overrides,
    ]  # fmt: skip
    log = run_dir.with_suffix(".log")
    start = time.perf_counter()
    with log.open("w") as out:
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own resource use
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"the run failed:\n{log.read_text()[-3000:]}")
    return seconds, usage.ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("text", "csv"))
    parser.add_argument("--gb", type=float, default=1.0, help="text: its size, in 10^9 bytes")
    parser.add_argument("--source", type=Path, default=CORPUS, help="text: the text repeated")
    parser.add_argument("--millions", type=float, default=50, help="csv: its steps, millions")
    parser.add_argument("--steps", type=int, default=50, help="training steps per run")
    parser.add_argument("overrides", nargs="*", help="more rnnlab.train overrides")
    args = parser.parse_args()
    common = [f"trainer.max_steps={args.steps}", *args.overrides]
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        if args.kind == "text":
            path = folder / "big.txt"
            size = write_text(path, args.source, args.gb)
            print(f"{path.name}: {size / 1e9:.2f} GB, {args.source.name} repeated; "
                  f"model=lstm data=text, {args.steps} steps")  # fmt: skip
            runs = {
                "first run (scan and encode)": folder / "first",
                "second run (encoded cache reused)": folder / "second",
            }
            data = ["data=text", f"data.path={path}", f"data.cache_dir={folder / 'cache'}"]
        else:
            path = folder / "big.csv"
            steps = int(args.millions * 1e6)
            start = time.perf_counter()
            size = write_series(path, steps)
            print(f"{path.name}: {steps:,} steps, {size / 1e9:.2f} GB, written in "
                  f"{time.perf_counter() - start:.0f} s; model=lstm data=csv, "
                  f"{args.steps} steps")  # fmt: skip
            runs = {"one run (parse, scale, train)": folder / "run"}
            data = ["data=csv", f"data.path={path}", "data.target=y"]
        for label, run_dir in runs.items():
            seconds, peak = train(run_dir, [*data, *common])
            print(f"{label:<35} {seconds:7.1f} s   peak resident {peak:7.0f} MiB", flush=True)


if __name__ == "__main__":
    main()
