"""Training throughput: ``rnnlab.train`` against a hand-written PyTorch loop, task by task.

Four tasks, each with its default net (``model=lstm``; the tagger's is bidirectional):

- ``forecaster``: ``data=sine``, windows of 20, one step ahead;
- ``char_lm``: ``data=text``, 128 characters per lane, two truncated-BPTT chunks of 64 per
  batch (an optimizer step each), the state carried from chunk to chunk;
- ``classifier``: ``data=text_cls``, padded word sequences of labelled reviews;
- ``tagger``: ``data=conll``, padded sentences tagged word by word.

The corpora that ship with rnnlab are repeated into files large enough that the measured batches
fit in one epoch (an epoch's end, with its checkpoint, is not a batch's cost). Content does not
change a batch's cost: only the shapes do, and those are the built-in sets'.

The hand-written loop is the strictest plain loop there is: it trains a second copy of the same
model (the task's own forward and loss, the optimizer class and settings that rnnlab's run
built) over a list of batches that rnnlab's own data module built before training, so it loads
no data at all. Each optimizer step is ``loss = ...; zero_grad(); backward(); step()``; the
language model's loop splits each batch into the same chunks and carries its state, detached.
The ratio is therefore what Lightning's loop, rnnlab's callbacks and logging, and data loading
cost. rnnlab runs its real training command (Lightning loop, default callbacks with the progress
bar, TensorBoard logging, checkpointing) with validation, testing, the LR schedule and gradient
clipping switched off, so that both sides do the same arithmetic. ``--bare`` runs the same task
and data in a ``Trainer`` with nothing but Lightning's loop instead: Lightning's own share.

This machine's speed drifts by up to half between states that last seconds, so the sides take
turns inside one run: every ``--chunk`` batches, the plain loop trains ``--chunk`` batches of its
own (its time is kept out of the harness'), and both sides see the same moments of the machine.
Every batch is timed, from one batch's start to the next's; the first turn of each side is a
warm-up and is not counted. A short probe sizes each row to about ``--seconds`` of the plain
loop's time. The headline is the ratio of samples per second over all counted batches; the
spread of the turns' ratios shows how steady it was.

``--steps-per-batch K`` times rnnlab with ``K`` optimizer steps in each Lightning batch
(``task.steps_per_batch=K``; the language model's lanes made ``K`` truncated-BPTT chunks long,
``data.seq_len``, its own way of taking several steps a batch), each still on one batch of the
row's size: the plain loop is unchanged, and each Lightning batch's time is shared by its steps.

    python scripts/bench/throughput.py [--tasks forecaster char_lm classifier tagger]
        [--batches 256 32] [--seconds 40] [--chunk 20] [--steps-per-batch 1] [--bare]
        [--device cpu] [overrides]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

from rnnlab.build import build_model, build_system
from rnnlab.cli import CONFIG_DIR
from rnnlab.data.batch import Batch
from rnnlab.data.conll import TAGGED
from rnnlab.data.text import CORPUS
from rnnlab.data.text_cls import REVIEWS
from rnnlab.tasks.base import SupervisedTask
from rnnlab.tasks.language_model import LanguageModelTask, detach_state
from rnnlab.train import train

PREBUILT = 32  # distinct batches the plain loop cycles through
TBPTT = 64  # the language model's tokens per optimizer step (conf/task/language_model.yaml)


@dataclass(frozen=True)
class TaskBench:
    """One task: its overrides, given a data file of at least ``samples`` training samples."""

    overrides: Callable[[Path, int, int], list[str]]  # (folder, batch, steps) -> overrides
    write_data: Callable[[Path, int, int, int], None] | None  # (folder, batch, steps, K) -> files


def _repeat_lines(source: Path, target: Path, copies: int, header: bool) -> None:
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    head, body = (lines[:1], lines[1:]) if header else ([], lines)
    with target.open("w", encoding="utf-8") as f:
        f.writelines(head)
        for _ in range(copies):
            f.writelines(body)


def lane_length(steps_per_batch: int) -> int:
    """The language model's characters per lane: two chunks, or ``steps_per_batch`` of them."""
    return TBPTT * max(2, steps_per_batch)


def _write_text(folder: Path, batch: int, steps: int, steps_per_batch: int) -> None:
    chars = CORPUS.stat().st_size
    # lanes x seq_len per batch, of the 90 % train span
    needed = batch * lane_length(steps_per_batch) * (steps + 2) / 0.9
    _repeat_lines(CORPUS, folder / "text.txt", int(needed // chars) + 1, header=False)


def _write_reviews(folder: Path, batch: int, steps: int, steps_per_batch: int) -> None:
    rows = len(REVIEWS.read_text(encoding="utf-8").splitlines()) - 1
    needed = batch * (steps + 2) / 0.8
    _repeat_lines(REVIEWS, folder / "reviews.tsv", int(needed // rows) + 1, header=True)


def _write_tagged(folder: Path, batch: int, steps: int, steps_per_batch: int) -> None:
    sentences = TAGGED.read_text(encoding="utf-8").count("\n\n")
    needed = batch * (steps + 2) / 0.8
    _repeat_lines(TAGGED, folder / "tagged.conllu", int(needed // sentences) + 1, header=False)


TASKS = {
    "forecaster": TaskBench(  # the training span is 70 % of the series
        lambda d, b, s: ["data=sine", f"data.length={int((s + 2) * b / 0.7) + 100}"], None
    ),
    "char_lm": TaskBench(lambda d, b, s: ["data=text", f"data.path={d / 'text.txt'}"], _write_text),
    "classifier": TaskBench(
        lambda d, b, s: ["data=text_cls", f"data.path={d / 'reviews.tsv'}"], _write_reviews
    ),
    "tagger": TaskBench(
        lambda d, b, s: [
            "data=conll",
            f"data.path={d / 'tagged.conllu'}",
            "model.bidirectional=true",
        ],
        _write_tagged,
    ),
}


class PlainLoop:
    """A hand-written training loop over pre-built batches, run a few batches at a time, each
    batch timed."""

    def __init__(self, task: SupervisedTask, optimizer: torch.optim.Optimizer, batches: list):
        self.task, self.optimizer, self.batches = task, optimizer, batches
        self.language_model = isinstance(task, LanguageModelTask)  # chunks, a carried state
        self.state = None
        self.done = 0
        self.durations: list[float] = []

    def run(self, batches: int) -> None:
        stamps = [time.perf_counter()]
        for _ in range(batches):
            batch = self.batches[self.done % len(self.batches)]
            self.done += 1
            if self.language_model:  # one optimizer step per truncated-BPTT chunk
                length = self.task.hparams.tbptt_steps or batch.x.shape[1]
                for x, y in zip(batch.x.split(length, 1), batch.y.split(length, 1), strict=True):
                    loss, state = self.task.compute_loss(Batch(x=x, y=y), self.state)
                    self.state = detach_state(state)
                    self.optimizer.zero_grad()
                    loss.backward()
                    self.optimizer.step()
            else:
                loss, _ = self.task.compute_loss(batch)
                self.optimizer.zero_grad()
                loss.backward()
                self.optimizer.step()
            stamps.append(time.perf_counter())
        finish(batch.x.device)
        stamps[-1] = time.perf_counter()  # the last step ends when the GPU has done its work
        self.durations += [b - a for a, b in zip(stamps[:-1], stamps[1:], strict=True)]


class TakeTurns(L.Callback):
    """Times every rnnlab training batch, and every ``chunk`` batches lets the plain loop run
    ``chunk`` steps, whose time is left out of rnnlab's."""

    def __init__(self, chunk: int, overrides: list[str]):
        self.chunk, self.overrides = chunk, overrides
        self.loop: PlainLoop | None = None
        self.durations: list[float] = []  # per batch of data: a Lightning batch's time, shared
        self._start: float | None = None
        self._steps = 0  # batches of data in the Lightning batch under way
        self._at = 0  # the global step at its start
        self._since = 0  # batches of data the harness trained since the plain loop's last turn

    def on_train_start(self, trainer, pl_module) -> None:
        torch.manual_seed(0)
        _, task = build_model(compose_config(self.overrides), trainer.datamodule.spec)
        task.to(pl_module.device).train()
        ours = trainer.optimizers[0]
        optimizer = type(ours)(task.parameters(), **ours.defaults)  # the same class, settings
        batches = []
        for item in trainer.datamodule.train_dataloader():  # batches, or lists of them
            batches += [batch.to(pl_module.device) for batch in _batches(item)]
            if len(batches) >= PREBUILT:
                break
        self.loop = PlainLoop(task, optimizer, batches[:PREBUILT])

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        turn = self._start is None or self._since >= self.chunk  # the plain loop's turn
        if turn:
            finish(pl_module.device)  # the turn's last step ends when the GPU has done its work
        now = time.perf_counter()
        if self._start is not None:  # the previous batch: its fetch, steps and every hook
            self._record(now - self._start, trainer)
        if turn:  # as many batches as the harness trained since the last turn
            self.loop.run(self._since or self.chunk)
            self._since = 0
        self._steps = len(_batches(batch))
        self._since += self._steps
        self._at = trainer.global_step
        self._start = time.perf_counter()

    def on_train_end(self, trainer, pl_module) -> None:
        finish(pl_module.device)
        self._record(time.perf_counter() - self._start, trainer)

    def _record(self, seconds: float, trainer: L.Trainer) -> None:
        """A Lightning batch's ``seconds``, shared by the batches of data it trained on (the
        last list may stop part-way, at ``max_steps``)."""
        steps = trainer.global_step - self._at if self._steps > 1 else 1
        self.durations += [seconds / steps] * steps


def _batches(item: Batch | list[Batch]) -> list[Batch]:
    """The batches of data in one Lightning batch: one, or a list under steps_per_batch."""
    return item if isinstance(item, list) else [item]


def finish(device: torch.device) -> None:
    """Wait for the work queued on ``device``."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def overrides_for(
    name: str, batch: int, steps: int, device: str, folder: Path, extra: list[str]
) -> list[str]:
    return [
        "model=lstm", *TASKS[name].overrides(folder, batch, steps), f"data.batch_size={batch}",
        "scheduler=none", "trainer.gradient_clip_val=null",
        f"trainer.max_steps={steps}", "trainer.limit_val_batches=0", "test=false",
        "trainer=gpu" if device == "cuda" else "trainer=cpu", *extra,
    ]  # fmt: skip


def compose_config(overrides: list[str]) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name="train", overrides=overrides)


def optimizer_steps_per_batch(cfg: DictConfig) -> int:
    """A language model takes one optimizer step per truncated-BPTT chunk of a batch, and
    ``trainer.max_steps`` counts optimizer steps."""
    chunk = cfg.task.get("tbptt_steps")
    return -(-cfg.data.seq_len // chunk) if chunk else 1


def grouping(name: str, steps_per_batch: int) -> list[str]:
    """The overrides that give task ``name`` ``steps_per_batch`` optimizer steps a Lightning
    batch (none for 1: the defaults)."""
    if name == "char_lm":
        return [f"data.seq_len={lane_length(steps_per_batch)}"]
    return [f"task.steps_per_batch={steps_per_batch}"] if steps_per_batch > 1 else []


def measure(
    name: str,
    batch: int,
    steps: int,
    chunk: int,
    device: str,
    extra: list[str],
    bare: bool,
    steps_per_batch: int = 1,
) -> dict[str, list]:
    """Both sides' step durations, the plain loop taking turns inside one rnnlab run (or,
    ``bare``, inside a bare Lightning ``Trainer``'s fit of the same task and data)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if TASKS[name].write_data is not None:
            TASKS[name].write_data(folder, batch, steps, steps_per_batch)
        extra = [*grouping(name, steps_per_batch), *extra]
        overrides = overrides_for(name, batch, steps, device, folder, extra)
        cfg = compose_config(overrides)
        with open_dict(cfg):
            cfg.paths.output_dir = str(folder / "run")
            cfg.trainer.max_steps = steps * optimizer_steps_per_batch(cfg)
            turns = {"_target_": f"{__name__}.TakeTurns", "chunk": chunk, "overrides": overrides}
            cfg.callbacks.take_turns = turns
        with open(os.devnull, "w") as quiet, redirect_stdout(quiet), redirect_stderr(quiet):
            if bare:
                trainer = fit_bare(cfg, TakeTurns(chunk, overrides))
            else:
                _, objects = train(cfg)  # its tables and progress bar would bury the results
                trainer = objects["trainer"]
        if (
            trainer.num_training_batches * getattr(trainer.lightning_module, "steps_per_batch", 1)
            < steps
        ):
            raise RuntimeError(f"{name} at batch {batch} crossed an epoch: enlarge its data.")
    turns = next(cb for cb in trainer.callbacks if isinstance(cb, TakeTurns))
    return {"plain loop": turns.loop.durations[chunk:], "harness": turns.durations[chunk:]}


def fit_bare(cfg: DictConfig, turns: TakeTurns) -> L.Trainer:
    """Fit the task and data of ``cfg`` with a ``Trainer`` that has nothing but Lightning's loop:
    no callbacks, logger, checkpoints, progress bar or rnnlab run around it."""
    datamodule, _, task = build_system(cfg)
    trainer = L.Trainer(
        accelerator=cfg.trainer.accelerator,
        devices=1,
        max_steps=cfg.trainer.max_steps,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[turns],
    )
    trainer.fit(task, datamodule=datamodule)
    return trainer


def probe_steps(
    name: str,
    batch: int,
    device: str,
    seconds: float,
    chunk: int,
    extra: list[str],
    steps_per_batch: int,
) -> int:
    """Steps per side that take about ``seconds`` of this side's time, in whole turns."""
    durations = measure(name, batch, 3 * chunk, chunk, device, extra, True, steps_per_batch)[
        "plain loop"
    ]
    per_step = statistics.median(durations)
    turns = max(3, round(seconds / (per_step * chunk)))
    return turns * chunk


def report(name: str, batch: int, chunk: int, durations: dict[str, list]) -> float:
    ours, theirs = durations["harness"], durations["plain loop"]
    counted = min(len(ours), len(theirs))
    ours, theirs = ours[:counted], theirs[:counted]
    chunks = [
        sum(theirs[i : i + chunk]) / sum(ours[i : i + chunk])
        for i in range(0, counted - chunk + 1, chunk)
    ]
    low, mid, high = statistics.quantiles(chunks, n=4) if len(chunks) > 1 else chunks * 3
    ratio = sum(theirs) / sum(ours)
    print(
        f"{name:<11} {batch:>5} {counted:>7} {batch * counted / sum(theirs):>12,.0f} "
        f"{batch * counted / sum(ours):>12,.0f} {ratio:>8.3f}x   "
        f"{low:.2f} / {mid:.2f} / {high:.2f}",
        flush=True,
    )
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", choices=tuple(TASKS), default=list(TASKS))
    parser.add_argument("--batches", nargs="+", type=int, default=[256, 32])
    parser.add_argument("--seconds", type=float, default=40.0, help="plain-loop time per row")
    parser.add_argument("--chunk", type=int, default=20, help="batches per side per turn")
    parser.add_argument(
        "--steps-per-batch",
        type=int,
        default=1,
        help="optimizer steps per Lightning batch (task.steps_per_batch; the language model's "
        "lanes that many chunks long)",
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to train")
    parser.add_argument(
        "--bare",
        action="store_true",
        help="run the task in a bare Lightning Trainer instead of rnnlab.train: Lightning's share",
    )
    parser.add_argument("overrides", nargs="*", help="further overrides for both sides (key=value)")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda needs a CUDA GPU, and this torch sees none.")
    if args.chunk < 1 or args.seconds <= 0 or min(args.batches) < 1 or args.steps_per_batch < 1:
        parser.error(
            "--chunk, --seconds, --steps-per-batch and every --batches value must be positive."
        )
    where = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    harness = "bare Lightning Trainer" if args.bare else "python -m rnnlab.train"
    print(
        f"{where}, threads {torch.get_num_threads()}, turns of {args.chunk} batches per side; "
        f"harness: {harness}; optimizer steps per Lightning batch: {args.steps_per_batch} "
        "(the language model: chunks of 64 per lane, at least 2); ratio: harness / plain loop"
    )
    print(
        f"{'task':<11} {'batch':>5} {'batches':>7} {'plain loop/s':>12} {'harness/s':>12} "
        f"{'ratio':>9}   turns' ratios (quartiles)"
    )
    print(" " * 36 + "samples per second")
    for name in args.tasks:
        for batch in args.batches:
            steps = probe_steps(
                name,
                batch,
                args.device,
                args.seconds,
                args.chunk,
                args.overrides,
                args.steps_per_batch,
            )
            durations = measure(
                name,
                batch,
                steps + args.chunk,
                args.chunk,
                args.device,
                args.overrides,
                args.bare,
                args.steps_per_batch,
            )
            report(name, batch, args.chunk, durations)


if __name__ == "__main__":
    main()
