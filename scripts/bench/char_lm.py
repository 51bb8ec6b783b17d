"""Character language model: training speed and validation bits per character in a fixed budget.

Three sides train the same model (``experiment=char_lstm``: a 2 x 384 LSTM over 64-dimensional
character embeddings, 64 lanes of 128 characters, truncated BPTT every 64 steps, Adam at a
constant rate, gradients clipped to norm 1) for the same wall-clock budget each, one after
the other, on the same text:

- ``rnnlab carried``: ``python -m rnnlab.train`` as shipped, the state carried between chunks;
- ``rnnlab reset``: the same with ``task.carry_state=false``, every chunk starting from zeros;
- ``plain loop``: a hand-written PyTorch loop doing the same truncated BPTT with carried state.

Each side reports training characters per second (time inside training steps only) and the
validation loss and bits per character of its final weights, evaluated over the whole
validation stream with the state carried. A constant learning rate keeps the sides comparable
under a time budget, where a one-cycle schedule would need to know the step count in advance.

    python scripts/bench/char_lm.py --path shakespeare.txt --minutes 4 [--tbptt 64] [--no-plain]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from omegaconf import open_dict
from torch import nn

from rnnlab.cli import CONFIG_DIR
from rnnlab.data.text import TextDataModule
from rnnlab.train import train

LR = 2e-3


class StepTimer(L.Callback):
    """Seconds spent inside training batches, and the characters they held."""

    def __init__(self):
        self.seconds, self.chars, self._start = 0.0, 0, 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.seconds += time.perf_counter() - self._start
        self.chars += batch.y.numel()


def overrides(path: str | None, minutes: float, carry: bool, tbptt: int) -> list[str]:
    return [
        "experiment=char_lstm",
        *([f"data.path={path}"] if path else []),
        "data.splits=[0.9,0.1,0.0]",
        "test=false",
        f"task.carry_state={str(carry).lower()}",
        f"task.tbptt_steps={tbptt}",
        f"optimizer.lr={LR}",
        "scheduler=none",
        "trainer=cpu",
        "trainer.max_epochs=1000",
        f"trainer.max_time={_duration(minutes)}",
        "~callbacks.rich_progress_bar",
        "~callbacks.text_sample",
    ]


def _duration(minutes: float) -> str:
    """``minutes`` as Lightning's ``DD:HH:MM:SS``."""
    seconds = round(60 * minutes)
    return f"00:{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def rnnlab_side(
    path: str | None, minutes: float, carry: bool, tbptt: int, out: Path
) -> dict[str, float]:
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides(path, minutes, carry, tbptt))
    with open_dict(cfg):
        cfg.paths.output_dir = str(out)
        cfg.callbacks.step_timer = {"_target_": f"{__name__}.StepTimer"}
    _, objects = train(cfg)
    trainer, task = objects["trainer"], objects["task"]
    timer = next(cb for cb in trainer.callbacks if isinstance(cb, StepTimer))
    (final,) = trainer.validate(task, datamodule=objects["datamodule"], verbose=False)
    return {"chars/s": timer.chars / timer.seconds, "val/loss": final["val/loss"]}


class PlainLSTM(nn.Module):
    def __init__(self, vocab: int, embedding: int = 64, hidden: int = 384, layers: int = 2):
        super().__init__()
        self.embed = nn.Embedding(vocab, embedding)
        self.lstm = nn.LSTM(embedding, hidden, layers, dropout=0.2, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x, state=None):
        out, state = self.lstm(self.embed(x), state)
        return self.head(out), state


def plain_side(path: str | None, minutes: float, tbptt: int) -> dict[str, float]:
    """The same truncated BPTT written as a hand-made loop over the same batches."""
    torch.manual_seed(12345)
    data = TextDataModule(path, seq_len=128, batch_size=64, splits=(0.9, 0.1, 0.0))
    model = PlainLSTM(len(data.spec.inputs.vocab))
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    seconds, chars, deadline = 0.0, 0, time.monotonic() + 60 * minutes
    while time.monotonic() < deadline:
        state = None
        for batch in data.train_dataloader():
            start = time.perf_counter()
            for x, y in zip(batch.x.split(tbptt, 1), batch.y.split(tbptt, 1), strict=True):
                logits, state = model(x, state)
                loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                state = tuple(s.detach() for s in state)
            seconds += time.perf_counter() - start
            chars += batch.y.numel()
            if time.monotonic() >= deadline:
                break
    model.eval()
    total, count, state = 0.0, 0, None
    with torch.no_grad():
        for batch in data.val_dataloader():
            logits, state = model(batch.x, state)
            total += F.cross_entropy(logits.flatten(0, 1), batch.y.flatten(), reduction="sum")
            count += batch.y.numel()
    return {"chars/s": chars / seconds, "val/loss": float(total) / count}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", help="a UTF-8 text file (default: the built-in corpus)")
    parser.add_argument("--minutes", type=float, default=4.0, help="training budget per side")
    parser.add_argument("--tbptt", type=int, default=64, help="characters per truncated chunk")
    parser.add_argument(
        "--no-plain", action="store_true", help="leave out the plain loop (the rnnlab sides only)"
    )
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, carry in (("rnnlab carried", True), ("rnnlab reset", False)):
            out = Path(tmp) / name.split()[1]
            results[name] = rnnlab_side(args.path, args.minutes, carry, args.tbptt, out)
    if not args.no_plain:
        results["plain loop"] = plain_side(args.path, args.minutes, args.tbptt)

    print(
        f"\n{args.minutes:g} minutes of training per side, truncation every {args.tbptt} "
        f"characters, threads {torch.get_num_threads()}"
    )
    print(f"{'side':<16} {'train chars/s':>14} {'val loss (nats)':>16} {'val bpc':>8}")
    for side, r in results.items():
        bpc = r["val/loss"] / math.log(2)
        print(f"{side:<16} {r['chars/s']:>14,.0f} {r['val/loss']:>16.3f} {bpc:>8.3f}")
    carried, reset = results["rnnlab carried"], results["rnnlab reset"]
    print(
        f"carried / reset: val loss {carried['val/loss'] / reset['val/loss']:.3f}x, "
        f"chars/s {carried['chars/s'] / reset['chars/s']:.2f}x"
    )
    if "plain loop" in results:
        plain = results["plain loop"]
        print(
            f"rnnlab / plain loop: chars/s {carried['chars/s'] / plain['chars/s']:.2f}x, "
            f"val loss {carried['val/loss'] / plain['val/loss']:.3f}x"
        )


if __name__ == "__main__":
    main()
