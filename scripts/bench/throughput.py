"""Training throughput: rnnlab against a plain PyTorch loop, side by side, on the same data.

The model is the classic course-tutorial forecaster (LSTM 2 x 64, window 20, batch 32,
Adam 1e-3) on the default sine series' training span. Two plain loops stand for what the
tutorials write, a hand-written step over a ``DataLoader`` with the default collate:

- tutorial loop: ``__getitem__`` copies one window out of a NumPy series into new tensors;
- lean loop: ``__getitem__`` returns views into a tensor, the cheapest per-sample dataset.

rnnlab runs its real training command (Lightning loop, default callbacks with the progress bar,
TensorBoard logging, checkpointing, the fused Adam kernel it picks by default) with validation,
testing and gradient clipping switched off so every side does the same work.

The headline is samples per second over all rounds (total samples over total time). This
machine's speed drifts by up to half between states that last seconds, so the sides take turns
in short rounds, and every step is timed. Load only ever slows a step down, so the ratio of each
side's fast steps (the 10th percentile of its step times, as ``timeit`` takes the minimum) is
printed beside it as the comparison of intrinsic speed, with each round's ratio of median steps.

    python scripts/bench/throughput.py [--steps 400] [--rounds 12] [--batch 32]
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

from rnnlab.data.sine import sine_series
from rnnlab.train import train
from rnnlab.utils.cli import CONFIG_DIR

WINDOW, HIDDEN, LAYERS, LR = 20, 64, 2, 1e-3


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


def plain_loop(steps: int, dataset: type[Dataset], batch: int) -> list[float]:
    """Seconds of each of ``steps`` iterations (fetch, forward, backward, step) of a plain loop."""
    torch.manual_seed(0)
    series = sine_series(120_000, 0.1, "tutorial", 0)[:84_000]  # the training span
    loader = DataLoader(dataset(series, WINDOW), batch_size=batch, shuffle=True)
    model = TutorialLSTM()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    batches = iter(loader)
    stamps = []
    for _ in range(steps):
        stamps.append(time.perf_counter())
        x, y = next(batches)
        loss = nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    stamps.append(time.perf_counter())
    return _differences(stamps)


def _differences(stamps: list[float]) -> list[float]:
    return [b - a for a, b in zip(stamps[:-1], stamps[1:], strict=True)]


class StepTimer(L.Callback):
    """Stamps the start of every training batch, and the end of the last one."""

    def __init__(self):
        self.stamps: list[float] = []

    def on_train_batch_start(self, *args):
        self.stamps.append(time.perf_counter())

    def on_train_end(self, *args):
        self.stamps.append(time.perf_counter())

    @property
    def durations(self) -> list[float]:
        # From one batch start to the next: the loader's fetch, the step and every hook.
        return _differences(self.stamps)


def rnnlab_loop(steps: int, batch: int, out: Path) -> list[float]:
    """Seconds of each of ``steps`` iterations of ``rnnlab.train`` with the tutorial model."""
    overrides = [
        "model=lstm", f"model.hidden_size={HIDDEN}", f"model.num_layers={LAYERS}",
        "data=sine", f"data.window={WINDOW}", f"data.batch_size={batch}",
        f"task.optimizer.lr={LR}", "task.scheduler=null",
        "trainer.gradient_clip_val=null",  # the tutorial loop does not clip
        f"trainer.max_steps={steps}", "trainer.limit_val_batches=0", "trainer=cpu", "test=false",
    ]  # fmt: skip
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    with open_dict(cfg):
        cfg.paths.output_dir = str(out)
        cfg.callbacks.step_timer = {"_target_": f"{__name__}.StepTimer"}
    _, objects = train(cfg)
    timer = next(cb for cb in objects["trainer"].callbacks if isinstance(cb, StepTimer))
    return timer.durations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400, help="training batches per round")
    parser.add_argument("--rounds", type=int, default=12, help="alternating rounds per side")
    parser.add_argument("--batch", type=int, default=32, help="batch size (the tutorial's is 32)")
    args = parser.parse_args()
    sides = ("tutorial loop", "lean loop", "rnnlab.train")
    steps = {side: [] for side in sides}
    ratios = {side: [] for side in sides[:2]}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            this_round = {
                "tutorial loop": plain_loop(args.steps, TutorialWindows, args.batch),
                "lean loop": plain_loop(args.steps, LeanWindows, args.batch),
                "rnnlab.train": rnnlab_loop(args.steps, args.batch, Path(tmp) / f"run{r}"),
            }
            ours = statistics.median(this_round["rnnlab.train"])
            for side, durations in this_round.items():
                steps[side] += durations
                if side in ratios:
                    ratios[side].append(statistics.median(durations) / ours)
    print(
        f"batch {args.batch}, threads {torch.get_num_threads()}, "
        f"{args.rounds} rounds x {args.steps} steps per side"
    )
    print(f"{'samples/s':<16} {'p10 step':>10} {'median step':>12} {'mean step':>10}")
    fast = {}
    for side, durations in steps.items():
        fast[side] = statistics.quantiles(durations, n=10)[0]
        median, mean = statistics.median(durations), statistics.fmean(durations)
        rates = (args.batch / fast[side], args.batch / median, args.batch / mean)
        print(f"{side:<16} {rates[0]:>10,.0f} {rates[1]:>12,.0f} {rates[2]:>10,.0f}")
    for side, values in ratios.items():
        overall = statistics.fmean(steps[side]) / statistics.fmean(steps["rnnlab.train"])
        print(
            f"ratio rnnlab / {side}: {overall:.2f}x samples/s over all rounds, "
            f"{fast[side] / fast['rnnlab.train']:.2f}x at p10 steps "
            f"(rounds' median-step ratios: {' '.join(f'{v:.2f}' for v in values)})"
        )


if __name__ == "__main__":
    main()
