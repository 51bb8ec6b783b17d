"""Training throughput: rnnlab against a plain PyTorch loop, side by side, on the same data.

The model is the classic course-tutorial forecaster (LSTM 2 x 64, window 20, batch 32,
Adam 1e-3) on the default sine series. The plain loop is what the tutorials write: a
``Dataset`` whose ``__getitem__`` slices one window, the default ``DataLoader`` collate, and a
hand-written step. rnnlab runs its real training command (Lightning loop, default callbacks with
the progress bar, TensorBoard logging, checkpointing) with validation and testing switched off so
both sides time the same work. Rounds alternate between the two so drift in machine load hits
both alike.

    python scripts/bench/throughput.py [--steps 1500] [--rounds 3]
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
from torch import nn
from torch.utils.data import DataLoader, Dataset

from rnnlab.data.sine import sine_series
from rnnlab.train import train
from rnnlab.utils.cli import CONFIG_DIR

WINDOW, BATCH, HIDDEN, LAYERS, LR = 20, 32, 64, 2, 1e-3


class OneWindowAtATime(Dataset):
    """The tutorial dataset: each item slices one window and its next value."""

    def __init__(self, series: torch.Tensor, window: int):
        self.series, self.window = series, window

    def __len__(self) -> int:
        return len(self.series) - self.window

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


def plain_loop(steps: int) -> float:
    """Samples per second of the tutorial loop over ``steps`` batches."""
    torch.manual_seed(0)
    series = torch.from_numpy(sine_series(120_000, 0.1, "tutorial", 0))[:84_000]  # train span
    loader = DataLoader(OneWindowAtATime(series, WINDOW), batch_size=BATCH, shuffle=True)
    model = TutorialLSTM()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    batches = iter(loader)
    start = time.perf_counter()
    for _ in range(steps):
        x, y = next(batches)
        loss = nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return steps * BATCH / (time.perf_counter() - start)


class FitTimer(L.Callback):
    """Times the training loop itself, from its first batch to its last."""

    def on_train_batch_start(self, trainer, *args):
        if trainer.global_step == 0 and not hasattr(self, "start"):
            self.start = time.perf_counter()

    def on_train_end(self, trainer, pl_module):
        self.seconds = time.perf_counter() - self.start


def rnnlab_loop(steps: int, out: Path) -> float:
    """Samples per second of ``python -m rnnlab.train`` with the tutorial model and batch."""
    overrides = [
        "model=lstm",
        f"model.hidden_size={HIDDEN}",
        f"model.num_layers={LAYERS}",
        "data=sine",
        f"data.window={WINDOW}",
        f"data.batch_size={BATCH}",
        f"task.optimizer.lr={LR}",
        "task.scheduler=null",
        f"trainer.max_steps={steps}",
        "trainer.limit_val_batches=0",
        "trainer=cpu",
        "test=false",
    ]
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    with open_dict(cfg):
        cfg.paths.output_dir = str(out)
        cfg.callbacks.fit_timer = {"_target_": f"{__name__}.FitTimer"}
    _, objects = train(cfg)
    timer = next(cb for cb in objects["trainer"].callbacks if isinstance(cb, FitTimer))
    return steps * BATCH / timer.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500, help="training batches per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternating measurements per side")
    args = parser.parse_args()
    plain, ours = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            plain.append(plain_loop(args.steps))
            ours.append(rnnlab_loop(args.steps, Path(tmp) / f"run{r}"))
    p, o = statistics.median(plain), statistics.median(ours)
    threads = torch.get_num_threads()
    print(f"threads: {threads}, steps per measurement: {args.steps}, rounds: {args.rounds}")
    print(
        f"plain PyTorch loop  samples/s: {', '.join(f'{v:,.0f}' for v in plain)}  (median {p:,.0f})"
    )
    print(
        f"rnnlab.train        samples/s: {', '.join(f'{v:,.0f}' for v in ours)}  (median {o:,.0f})"
    )
    print(f"ratio rnnlab / plain: {o / p:.2f}x")


if __name__ == "__main__":
    main()
