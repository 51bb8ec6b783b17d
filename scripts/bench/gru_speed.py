"""The GRU against the LSTM on CPU, at equal hidden size: torch's GRU, rnnlab's GRU, torch's LSTM.

torch trains its LSTM on CPU through oneDNN's fused kernel and has no such path for the GRU;
``model=gru`` trains through rnnlab's own loop instead (``rnnlab/nets/gru.py``). Two tables,
each at sequence lengths 20 (the default sine window) and 512:

- **kernel**: one training step (forward, backward, Adam) of a one-layer net and a linear head
  on the last step, on random inputs of the sine data's shape (one feature): torch's
  ``nn.LSTM``, torch's ``nn.GRU``, and rnnlab's GRU. The sides take turns, round after round,
  and each side's time is the median of its rounds.
- **rnnlab.train**: the real training command, ``model=lstm`` against ``model=gru`` with
  ``data=sine data.window=T`` and the default batch of 256 (32 at T = 512, which keeps a run
  short), the training steps timed by a callback from the second step to the last, validation
  and testing off. The two commands take turns for ``--rounds`` rounds.

Speeds are printed as the GRU's speed over the LSTM's (above 1: the GRU is faster).

    OMP_NUM_THREADS=1 python scripts/bench/gru_speed.py [--hidden 64] [--rounds 3] [--steps 60]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable

import lightning as L
import torch
from torch import nn

from rnnlab.nets.gru import GRU
from rnnlab.train import run
from rnnlab.utils.memory import set_cpu_memory


class StepClock(L.Callback):
    """The time at the start of every training batch, and at the end of the last."""

    def __init__(self):
        self.stamps: list[float] = []

    def on_train_batch_start(self, *args) -> None:
        self.stamps.append(time.perf_counter())

    def on_train_end(self, *args) -> None:
        self.stamps.append(time.perf_counter())


class Net(nn.Module):
    def __init__(self, rnn: nn.Module, hidden: int):
        super().__init__()
        self.rnn, self.head = rnn, nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x)[0][:, -1]).squeeze(-1)


def kernel_step(rnn: nn.Module, hidden: int, batch: int, steps: int) -> Callable[[], None]:
    """One training step of ``rnn`` and a head, as a closure over fixed random data."""
    torch.manual_seed(0)
    net = Net(rnn, hidden)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    x, y = torch.randn(batch, steps, 1), torch.randn(batch)

    def step() -> None:
        loss = nn.functional.mse_loss(net(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def kernel_table(hidden: int, rounds: int, shapes: list[tuple[int, int]]) -> None:
    print(
        f"\nkernel: one training step, one layer of {hidden} units, ms (median of {rounds} rounds)"
    )
    print("| T | batch | torch LSTM | torch GRU | rnnlab GRU | torch GRU / LSTM speed | "
          "rnnlab GRU / LSTM speed |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for steps, batch in shapes:
        sides = {
            "lstm": kernel_step(nn.LSTM(1, hidden, batch_first=True), hidden, batch, steps),
            "torch_gru": kernel_step(nn.GRU(1, hidden, batch_first=True), hidden, batch, steps),
            "gru": kernel_step(GRU(1, hidden, batch_first=True), hidden, batch, steps),
        }
        repeats = max(1, 2000 // steps)  # about 2,000 time steps per timing
        times: dict[str, list[float]] = {name: [] for name in sides}
        for _ in range(rounds + 1):  # the first round warms up
            for name, step in sides.items():
                start = time.perf_counter()
                for _ in range(repeats):
                    step()
                times[name].append((time.perf_counter() - start) / repeats)
        ms = {name: statistics.median(t[1:]) * 1e3 for name, t in times.items()}
        lstm, torch_gru, gru = ms["lstm"], ms["torch_gru"], ms["gru"]
        print(f"| {steps} | {batch} | {lstm:.2f} | {torch_gru:.2f} | {gru:.2f} | "
              f"{lstm / torch_gru:.2f}x | {lstm / gru:.2f}x |", flush=True)  # fmt: skip


def train_steps(model: str, window: int, batch: int, hidden: int, steps: int) -> float:
    """Seconds per training step of the real command, from the second step to the end."""
    clock = "+callbacks.step_clock._target_=__main__.StepClock"
    with tempfile.TemporaryDirectory() as out:
        _, objects = run([
            f"model={model}", "data=sine", f"data.window={window}", f"data.batch_size={batch}",
            f"model.hidden_size={hidden}", f"trainer.max_steps={steps}", "trainer.max_epochs=null",
            "trainer.limit_val_batches=0", "trainer.limit_test_batches=0", "trainer=cpu",
            "~callbacks.rich_progress_bar", clock, f"hydra.run.dir={out}",
        ])  # fmt: skip
    stamps = next(c for c in objects["trainer"].callbacks if isinstance(c, StepClock)).stamps
    return (stamps[-1] - stamps[1]) / (len(stamps) - 2)


def train_table(hidden: int, rounds: int, steps: int, shapes: list[tuple[int, int]]) -> None:
    print(f"\nrnnlab.train: model=lstm against model=gru, hidden {hidden}, {steps} steps a run, "
          f"ms per step (median of {rounds} rounds)")  # fmt: skip
    print("| T | batch | model=lstm | model=gru | gru / lstm speed |")
    print("|---|---|---|---|---|")
    for window, batch in shapes:
        times: dict[str, list[float]] = {"lstm": [], "gru": []}
        for _ in range(rounds):
            for model in times:
                times[model].append(train_steps(model, window, batch, hidden, steps))
        ms = {model: statistics.median(t) * 1e3 for model, t in times.items()}
        print(f"| {window} | {batch} | {ms['lstm']:.2f} | {ms['gru']:.2f} | "
              f"{ms['lstm'] / ms['gru']:.2f}x |", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=64, help="units of every net")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=60, help="training steps per rnnlab run")
    parser.add_argument("--no-train", action="store_true", help="the kernel table only")
    args = parser.parse_args()
    set_cpu_memory("reuse")  # as rnnlab.train sets it, so both tables run alike
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    shapes = [(20, 256), (20, 32), (512, 32)]
    kernel_table(args.hidden, args.rounds, shapes)
    if not args.no_train:
        train_table(args.hidden, args.rounds, args.steps, [(20, 256), (512, 32)])


if __name__ == "__main__":
    main()
