"""Training throughput: rnnlab against a plain PyTorch loop, side by side, on the same data.

The model is the classic course-tutorial forecaster (LSTM 2 x 64, window 20, batch 32,
Adam 1e-3) on the default sine series' training span. Two plain loops stand for what the
tutorials write, a hand-written step over a ``DataLoader`` with the default collate:

- tutorial loop: ``__getitem__`` copies one window out of a NumPy series into new tensors;
- lean loop: ``__getitem__`` returns views into a tensor, the cheapest per-sample dataset.

rnnlab runs its real training command (Lightning loop, default callbacks with the progress bar,
TensorBoard logging, checkpointing, the fused Adam kernel it picks by default) with validation,
testing and gradient clipping switched off so every side does the same work. Its allocator
setting (``cpu_memory=reuse``, which spares each step its page faults) holds for the whole
process, so the plain loops, which run inside it, have it too: the ratio is not flattered by it.

This machine's speed drifts by up to half between states that last seconds, so the sides take
turns in short chunks inside one rnnlab run: every ``--chunk`` rnnlab steps, each plain loop
runs ``--chunk`` steps of its own (their time is kept out of rnnlab's), and every side sees
the same moments of the machine. Every step is timed, from one batch's start to the next's;
the first chunk of each side is a warm-up and is not counted.

With ``--device cuda`` every side trains on the GPU (rnnlab with ``trainer=gpu``; the plain loops
move each batch there, as the tutorials do). Steps are queued without waiting, so each side
waits for the GPU at the end of its turn, and only the overall rate compares finished work.

The headline is samples per second over all counted steps (total samples over total time).
The ratio of each side's fast steps (10th percentile, as ``timeit`` takes the minimum) is
printed beside it, and the spread of the chunks' ratios shows how steady the comparison was.

    python scripts/bench/throughput.py [--steps 2400] [--chunk 100] [--batch 32] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch
from hydra import compose, initialize_config_dir
from omegaconf import open_dict
from torch import nn
from torch.utils.data import DataLoader, Dataset

from rnnlab.cli import CONFIG_DIR
from rnnlab.data.sine import sine_series
from rnnlab.train import train

WINDOW, HIDDEN, LAYERS, LR = 20, 64, 2, 1e-3
TRAIN_SPAN = 84_000  # the default sine data's training span: 70 % of 120,000 points


class TutorialWindows(Dataset):
    """The course tutorial's dataset: each item copies one window out of a NumPy series."""

    def __init__(self, series: np.ndarray, window: int):
        self.series, self.window = series, window

    def __len__(self) -> int:
        return len(self.series) - self.window

    def __getitem__(self, i: int):
        x = torch.tensor(self.series[i : i + self.window], dtype=torch.float32).unsqueeze(-1)
        y = torch.tensor(self.series[i + self.window], dtype=torch.float32)
        return x, y


class LeanWindows(TutorialWindows):
    """The cheapest per-sample dataset: each item is a view into a tensor, nothing copied."""

    def __init__(self, series: np.ndarray, window: int):
        super().__init__(torch.from_numpy(series), window)

    def __getitem__(self, i: int):
        return self.series[i : i + self.window].unsqueeze(-1), self.series[i + self.window]


class TutorialLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(1, HIDDEN, LAYERS, batch_first=True)
        self.head = nn.Linear(HIDDEN, 1)

    def forward(self, x):
        out, _ = self.lstm(x)  # (B, T, H)
        return self.head(out[:, -1]).squeeze(-1)  # (B,)


class PlainLoop:
    """A hand-written training loop that runs a few steps at a time and times each one."""

    def __init__(self, dataset: type[Dataset], batch: int, device: torch.device):
        torch.manual_seed(0)
        series = sine_series(120_000, 0.1, "tutorial", 0)[:TRAIN_SPAN]
        self.loader = DataLoader(dataset(series, WINDOW), batch_size=batch, shuffle=True)
        self.batches = iter(self.loader)
        self.device = device
        self.model = TutorialLSTM().to(device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=LR)
        self.durations: list[float] = []

    def run(self, steps: int) -> None:
        """``steps`` iterations (fetch, forward, backward, step), timed one by one."""
        stamps = [time.perf_counter()]
        for _ in range(steps):
            x, y = next(self.batches, (None, None))
            if x is None:  # a new epoch
                self.batches = iter(self.loader)
                x, y = next(self.batches)
            x, y = x.to(self.device), y.to(self.device)
            loss = nn.functional.mse_loss(self.model(x), y)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            stamps.append(time.perf_counter())
        finish(self.device)
        stamps[-1] = time.perf_counter()  # the last step ends when the GPU has done its work
        self.durations += [b - a for a, b in zip(stamps[:-1], stamps[1:], strict=True)]


class TakeTurns(L.Callback):
    """Times every rnnlab training batch, and every ``chunk`` batches lets each plain loop
    run ``chunk`` steps, whose time is left out of rnnlab's."""

    def __init__(self, chunk: int, batch: int, device: str):
        self.chunk, self.device = chunk, torch.device(device)
        self.loops = {
            "tutorial loop": PlainLoop(TutorialWindows, batch, self.device),
            "lean loop": PlainLoop(LeanWindows, batch, self.device),
        }
        self.durations: list[float] = []
        self._start: float | None = None
        self._turns = 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        if batch_idx % self.chunk == 0:
            finish(self.device)  # the turn's last step ends when the GPU has done its work
        now = time.perf_counter()
        if self._start is not None:  # the previous batch: its fetch, step and every hook
            self.durations.append(now - self._start)
        if batch_idx % self.chunk == 0:
            loops = list(self.loops.values())
            first = self._turns % len(loops)  # the plain loops take turns going first
            for loop in loops[first:] + loops[:first]:
                loop.run(self.chunk)
            self._turns += 1
        self._start = time.perf_counter()

    def on_train_end(self, trainer, pl_module) -> None:
        finish(self.device)
        self.durations.append(time.perf_counter() - self._start)


def finish(device: torch.device) -> None:
    """Wait for the work queued on ``device``."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run(steps: int, chunk: int, batch: int, device: str, out: Path) -> dict[str, list[float]]:
    """Every side's step durations, the plain loops taking turns inside one rnnlab run."""
    overrides = [
        "model=lstm", f"model.hidden_size={HIDDEN}", f"model.num_layers={LAYERS}",
        "data=sine", f"data.window={WINDOW}", f"data.batch_size={batch}",
        f"optimizer.lr={LR}", "scheduler=none",
        "trainer.gradient_clip_val=null",  # the tutorial loop does not clip
        f"trainer.max_steps={steps}", "trainer.limit_val_batches=0", "test=false",
        "trainer=gpu" if device == "cuda" else "trainer=cpu",
    ]  # fmt: skip
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    with open_dict(cfg):
        cfg.paths.output_dir = str(out)
        turns = {
            "_target_": f"{__name__}.TakeTurns",
            "chunk": chunk,
            "batch": batch,
            "device": device,
        }
        cfg.callbacks.take_turns = turns
    _, objects = train(cfg)
    turns = next(cb for cb in objects["trainer"].callbacks if isinstance(cb, TakeTurns))
    durations = {side: loop.durations for side, loop in turns.loops.items()}
    durations["rnnlab.train"] = turns.durations
    return {side: values[chunk:] for side, values in durations.items()}  # less the warm-up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2400, help="rnnlab training steps")
    parser.add_argument("--chunk", type=int, default=100, help="steps per side per turn")
    parser.add_argument("--batch", type=int, default=32, help="batch size (the tutorial's is 32)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to train")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda needs a CUDA GPU, and this torch sees none.")
    epoch = (TRAIN_SPAN - WINDOW) // args.batch  # steps stay within one epoch: no epoch ends
    steps = min(args.steps, epoch - epoch % args.chunk)
    if steps < 3 * args.chunk:
        parser.error(
            f"--steps {steps} leave fewer than two turns of {args.chunk} after the warm-up."
        )
    with tempfile.TemporaryDirectory() as tmp:
        durations = run(steps, args.chunk, args.batch, args.device, Path(tmp))
    counted = len(durations["rnnlab.train"])
    where = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    print(
        f"{where}, batch {args.batch}, threads {torch.get_num_threads()}, {counted} steps per side "
        f"in turns of {args.chunk} (after one warm-up turn)"
    )
    print(f"{'samples/s':<16} {'overall':>10} {'p10 step':>10} {'median step':>12}")
    for side, values in durations.items():
        rates = (
            args.batch * len(values) / sum(values),
            args.batch / statistics.quantiles(values, n=10)[0],
            args.batch / statistics.median(values),
        )
        print(f"{side:<16} {rates[0]:>10,.0f} {rates[1]:>10,.0f} {rates[2]:>12,.0f}")
    ours = durations["rnnlab.train"]
    for side in ("tutorial loop", "lean loop"):
        theirs = durations[side]
        chunks = [
            sum(theirs[i : i + args.chunk]) / sum(ours[i : i + args.chunk])
            for i in range(0, counted - args.chunk + 1, args.chunk)
        ]
        low, mid, high = statistics.quantiles(chunks, n=4)
        print(
            f"ratio rnnlab / {side}: {sum(theirs) / sum(ours):.3f}x samples/s overall, "
            f"{statistics.quantiles(theirs, n=10)[0] / statistics.quantiles(ours, n=10)[0]:.3f}x "
            f"at p10 steps; turns' ratios {low:.2f} / {mid:.2f} / {high:.2f} (quartiles)"
        )


if __name__ == "__main__":
    main()
