"""Every recurrent net in one residual backbone, at one parameter count, on memory tasks and a
character language model: the results table of ``docs/modern.md``.

Each net is trained by ``rnnlab.train`` exactly as the command line would train it, with
``num_layers=2`` pre-norm residual blocks (the classic ``rnn``, ``lstm`` and ``gru`` through
``model.block=residual``; the modern nets in their default block), and a ``hidden_size`` chosen
per net and task so that its parameter count (embedding, net and output layer) is the nearest
to ``--params`` (printed). Every net gets the same data, optimiser, schedule and number of
epochs on a task; only the seed of the weights changes across ``--seeds`` (the data's seed is
fixed). The tasks:

- ``copying``: 10 symbols (of 8 letters) to be written back in order after 50 blank steps
  (Arjovsky et al., 2016); the test's per-symbol accuracy (chance 1/8).
- ``selective_copying``: 8 symbols scattered among 32 noise steps, written back in order; the
  test's per-symbol accuracy (chance 1/8). An input-independent (linear time-invariant) layer
  cannot choose what to keep, a selective one can (Gu and Dao, 2023).
- ``adding``: the sum of two marked numbers of 100 steps; the test's mean squared error
  (predicting 1 every time scores about 0.167).
- ``parity``: the parity of 25 bits, trained on lengths 1 to 25; the test's accuracy at 25
  (chance 0.5).
- ``associative_recall``: 8 key-value pairs, then every key asked once at random among 64
  steps; the test's accuracy on the answers (chance 1/16). A fixed-size state must hold every
  pair until it is asked (Arora et al., 2023, "Zoology").
- ``char_lm``: a character language model of ``--text`` (default: rnnlab's built-in corpus),
  truncated BPTT every 64 steps with the state carried; the test's bits per character.

For each it prints, per net, the mean and standard deviation over seeds of the metric, the
wall time of a run (training, validation and test), and the parameter count; ``--out`` keeps
every run's figures as JSON.

    python scripts/bench/modern_suite.py [--tasks copying selective_copying adding parity
        associative_recall char_lm]
        [--nets rnn lstm gru mingru ...] [--seeds 1 2 3] [--params 70000] [--epochs N]
        [--text shakespeare.txt] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

from rnnlab.build import build_model, instantiate
from rnnlab.cli import CONFIG_DIR, available
from rnnlab.train import train
from rnnlab.utils.errors import ConfigError

CLASSIC = ("rnn", "lstm", "gru")
MODERN = ("mingru", "minlstm", "lru", "s4d", "s6", "mlstm", "slstm", "rglru")
HIDDEN_SIZES = range(4, 513, 4)  # multiples of 4: the default head counts divide them


@dataclass(frozen=True)
class Task:
    overrides: tuple[str, ...]
    metric: str
    lower_is_better: bool
    epochs: int
    chance: str = ""


TASKS: dict[str, Task] = {
    "copying": Task(
        ("data=copying", "data.length=50", "data.symbols=10", "optimizer.lr=0.003"),
        "test/acc",
        False,
        20,
        "chance 0.125",
    ),
    "selective_copying": Task(
        ("data=selective_copying", "data.length=32", "data.symbols=8", "optimizer.lr=0.005"),
        "test/acc",
        False,
        20,
        "chance 0.125",
    ),
    "adding": Task(
        ("data=adding", "data.length=100", "data.batch_size=64", "optimizer.lr=0.003"),
        "test/mse",
        True,
        10,
        "predicting 1: 0.167",
    ),
    "parity": Task(
        (
            "data=parity",
            "data.length=25",
            "data.min_length=1",
            "data.test_length=25",
            "data.num_train=5000",
            "optimizer.lr=0.003",
        ),
        "test/acc",
        False,
        20,
        "chance 0.5",
    ),
    "associative_recall": Task(
        (
            "data=associative_recall",
            "data.num_pairs=8",
            "data.length=64",
            "optimizer.lr=0.003",
        ),
        "test/acc",
        False,
        20,
        "chance 0.0625",
    ),
    "char_lm": Task(
        (
            "data=text",
            "data.seq_len=128",
            "data.batch_size=32",
            "task.tbptt_steps=64",
            "optimizer.lr=0.003",
            "~callbacks.text_sample",
        ),
        "test/bpc",
        True,
        6,
    ),
}


def net_overrides(net: str) -> list[str]:
    block = ["model.block=residual"] if net in CLASSIC else []
    return [f"model={net}", *block, "model.num_layers=2"]


def compose_run(task: Task, net: str, epochs: int, text: str | None, extra: list[str]):
    overrides = [
        *task.overrides,
        *net_overrides(net),
        "trainer=cpu",
        f"trainer.max_epochs={epochs}",
        "~callbacks.rich_progress_bar",
        *([f"data.path={text}"] if text and "data=text" in task.overrides else []),
        *extra,
    ]
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name="train", overrides=overrides)


def parameters(cfg: DictConfig, spec) -> int | None:
    """The parameter count of the run ``cfg`` describes (the net and the task's output layer),
    or ``None`` where its settings are refused (a hidden size that the net's heads do not
    divide)."""
    try:
        _, task = build_model(cfg.copy(), spec)
    except ConfigError:
        return None
    return sum(p.numel() for p in task.parameters())


def matched_hidden_size(cfg: DictConfig, spec, target: int) -> tuple[int, int]:
    """The hidden size whose parameter count is the nearest to ``target``, and that count."""
    best = None
    for hidden in HIDDEN_SIZES:
        with open_dict(cfg):
            cfg.model.hidden_size = hidden
        count = parameters(cfg, spec)
        if count is None:
            continue
        if best is None or abs(count - target) < abs(best[1] - target):
            best = (hidden, count)
        if count > target:
            break
    if best is None:
        raise SystemExit(f"error: no hidden size in {HIDDEN_SIZES} builds {cfg.model._target_}.")
    return best


def run(cfg: DictConfig, seed: int, out: Path) -> tuple[float, float]:
    """Train and test one run; its metric and its wall time in seconds."""
    with open_dict(cfg):
        cfg.seed = seed
        cfg.paths.output_dir = str(out)
    start = time.perf_counter()
    metrics, _ = train(cfg)
    return metrics, time.perf_counter() - start


def figure(value: float, task: Task) -> str:
    """One run's metric as the docs' tables write it: an error to two significant digits (it
    spans orders of magnitude), anything else to four decimals."""
    if task.metric.endswith("mse"):
        return np.format_float_positional(value, precision=2, fractional=False, trim="-")
    return f"{value:.4f}"


def summary(values: list[float], task: Task) -> str:
    """Each seed's figure, then their mean ± standard deviation."""
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    mean = figure(statistics.mean(values), task)
    return f"{', '.join(figure(v, task) for v in values)} | {mean} ± {figure(spread, task)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--nets", nargs="+", default=[*CLASSIC, *MODERN])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--params", type=int, default=70_000, help="parameters of every net")
    parser.add_argument("--epochs", type=int, help="epochs of every task (default: each its own)")
    parser.add_argument("--text", help="the char_lm corpus (a UTF-8 file); default: built-in")
    parser.add_argument("--out", type=Path, help="every run's figures as JSON")
    parser.add_argument("--table", type=Path, help="print the tables of an --out file; no runs")
    parser.add_argument("overrides", nargs="*", help="more overrides for every run")
    args = parser.parse_args()
    if args.table:
        results = json.loads(args.table.read_text())
        for task_name in dict.fromkeys(r["task"] for r in results):
            print_table(task_name, results, args.epochs, sorted({r["seed"] for r in results}))
        return
    offered = set(available("model"))
    missing = [net for net in args.nets if net not in offered]
    if missing:
        raise SystemExit(f"error: no model config for {', '.join(missing)} in conf/model.")

    results: list[dict] = []
    with tempfile.TemporaryDirectory() as scratch:
        for task_name in args.tasks:
            task = TASKS[task_name]
            epochs = args.epochs or task.epochs
            for net in args.nets:
                cfg = compose_run(task, net, epochs, args.text, args.overrides)
                spec = instantiate(cfg.data, "data").spec
                hidden, count = matched_hidden_size(cfg, spec, args.params)
                with open_dict(cfg):
                    cfg.model.hidden_size = hidden
                for seed in args.seeds:
                    out = Path(scratch) / f"{task_name}-{net}-{seed}"
                    metrics, wall = run(cfg.copy(), seed, out)
                    score = float(metrics[task.metric])
                    results.append(
                        {"task": task_name, "net": net, "seed": seed, "hidden_size": hidden}
                        | {"parameters": count, task.metric: score, "seconds": wall}
                        | {"epochs": epochs, "overrides": args.overrides}
                    )
                    print(f"{task_name} {net} seed {seed}: {task.metric} {score:.4f}, {wall:.0f} s")
                    if args.out:
                        args.out.write_text(json.dumps(results, indent=1))
            print_table(task_name, results, epochs, args.seeds)


def print_table(task_name: str, results: list[dict], epochs: int | None, seeds) -> None:
    """The table of one task: per net its hidden size, parameters, metric over seeds and the
    mean wall time of a run."""
    task = TASKS[task_name]
    runs = [r for r in results if r["task"] == task_name]
    if not runs:
        return
    better = "lower" if task.lower_is_better else "higher"
    print(
        f"\n{task_name}: {task.metric} ({better} is better; {task.chance or '-'}), "
        f"{epochs or task.epochs} epochs, seeds {seeds}"
    )
    print(f"| net | hidden | parameters | {task.metric}, seeds | mean ± sd | wall s per run |")
    print("|---|---|---|---|---|---|")
    for net in dict.fromkeys(r["net"] for r in runs):
        mine = [r for r in runs if r["net"] == net]
        scores = [r[task.metric] for r in sorted(mine, key=lambda r: r["seed"])]
        wall = statistics.mean(r["seconds"] for r in mine)
        hidden, count = mine[0]["hidden_size"], mine[0]["parameters"]
        print(f"| {net} | {hidden} | {count:,} | {summary(scores, task)} | {wall:.0f} |")
    print()


if __name__ == "__main__":
    main()
