"""A character language model on a text larger than it should ever hold: peak resident memory.

Writes a text of ``--gb`` gigabytes by repeating a source text (``--source``; default: rnnlab's
built-in corpus) into a temporary folder, then trains ``python -m rnnlab.train data=text`` on it
in a fresh process for ``--steps`` steps, with a few validation and test batches, and prints the
process' wall time and peak resident set (its own ``ru_maxrss``, from ``os.wait4``): once with
an empty encoding cache (the run scans the file, then encodes it into a memory-mapped array)
and once reusing it. The text is read in blocks and the ids are memory-mapped
(:mod:`rnnlab.data.text`), so the peak should not grow with the file.

    python scripts/bench/big_text.py [--gb 1] [--source shakespeare.txt] [--steps 50] [overrides]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def train(path: Path, cache: Path, run_dir: Path, steps: int, overrides: list[str]):
    """Train in a fresh process; its wall seconds and peak resident set in MiB."""
    command = [
        sys.executable, "-m", "rnnlab.train", "model=lstm", "data=text", f"data.path={path}",
        f"data.cache_dir={cache}", f"trainer.max_steps={steps}", "trainer.limit_val_batches=5",
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
    parser.add_argument("--gb", type=float, default=1.0, help="size of the text, in 10^9 bytes")
    parser.add_argument("--source", type=Path, default=CORPUS, help="the text repeated")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("overrides", nargs="*", help="more rnnlab.train overrides")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        path = folder / "big.txt"
        size = write_text(path, args.source, args.gb)
        print(f"{path.name}: {size / 1e9:.2f} GB, {args.source.name} repeated; "
              f"model=lstm data=text, {args.steps} steps")  # fmt: skip
        for label in ("first run (scan and encode)", "second run (encoded cache reused)"):
            seconds, peak = train(path, folder / "cache", folder / label[:5], args.steps,
                                  args.overrides)  # fmt: skip
            print(f"{label:<35} {seconds:7.1f} s   peak resident {peak:7.0f} MiB", flush=True)


if __name__ == "__main__":
    main()
