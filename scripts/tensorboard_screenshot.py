"""What a person sees on opening TensorBoard on a run: screenshots by a headless browser.

Trains a short real run (``model=lstm data=sine``, two epochs on a shortened series) into a
temporary folder, or takes ``--run`` (a run or a folder of runs), starts ``tensorboard --logdir``
on it, and saves what Chromium in headless mode renders of the time-series, custom-scalars and
HPARAMS tabs as PNG files in ``--out``. Chromium is Debian's ``chromium`` package (or give
``--browser``); the script refuses to start without it.

    python scripts/tensorboard_screenshot.py [--run logs/train/runs/<run>] [--out shots/]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

TABS = ("timeseries", "custom_scalars", "hparams")  # the tabs' names in the URL and the files


def train_run(folder: Path) -> Path:
    """A short real run into ``folder``; its run directory."""
    run_dir = folder / "run"
    command = [
        sys.executable, "-m", "rnnlab.train", "model=lstm", "data=sine", "data.length=6000",
        "trainer.max_epochs=2", "trainer.log_every_n_steps=5", f"hydra.run.dir={run_dir}",
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True)
    return run_dir


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(logdir: Path, port: int) -> subprocess.Popen:
    """TensorBoard on ``logdir``, once it answers."""
    board = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir), "--port", str(port),
         "--bind_all"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(120):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/data/runs", timeout=1)
            return board
        except OSError:
            time.sleep(0.5)
    board.kill()
    raise SystemExit("TensorBoard did not answer within a minute.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="a run (or a folder of runs); default: a new one")
    parser.add_argument("--out", type=Path, default=Path("tensorboard_screenshots"))
    parser.add_argument("--browser", default=shutil.which("chromium") or "chromium")
    parser.add_argument("--size", default="1400,1000", help="window width,height in pixels")
    args = parser.parse_args()
    if shutil.which(args.browser) is None:
        parser.error(f"--browser {args.browser} is not installed (apt install chromium).")
    if args.run is not None and not args.run.is_dir():
        parser.error(f"--run {args.run} is not a folder.")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        logdir = args.run or train_run(Path(scratch))
        port = free_port()
        board = serve(logdir, port)
        try:
            for tab in TABS:
                shot = args.out.resolve() / f"{tab}.png"
                subprocess.run(
                    [args.browser, "--headless", "--no-sandbox", "--disable-gpu",
                     "--hide-scrollbars", f"--window-size={args.size}",
                     "--virtual-time-budget=15000", f"--screenshot={shot}",
                     f"http://127.0.0.1:{port}/#{tab}"],
                    check=True, capture_output=True, timeout=120,
                )  # fmt: skip
                print(f"wrote {shot}")
        finally:
            board.terminate()
            board.wait()


if __name__ == "__main__":
    main()
