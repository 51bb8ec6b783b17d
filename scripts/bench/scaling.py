"""How a training step's time and memory grow with sequence length, batch size and hidden size.

Each net is built from its own config (``conf/model/<name>.yaml``, as ``model=<name>`` builds
it) with ``num_layers=2`` and the hidden size of the point, reading ``--features`` float
features per step, and one training step is a forward pass, a squared-output loss and the
backward pass. Three sweeps start from one base point (``--length``, ``--batch``, ``--hidden``)
and move one axis at a time:

- sequence length 64 to 4096 (``--lengths``),
- batch size 8 to 512 (``--batches``),
- hidden size 32 to 512 (``--hiddens``).

At each point the nets take turns, round after round, and each net's time is the median of its
rounds (``--rounds``, after one warm-up round). Peak memory is the growth of the resident set
over one step in a fresh process (``VmHWM`` after the step less ``VmRSS`` before it, with the
high-water mark reset through ``/proc/self/clear_refs``): what the process took from the kernel,
the allocator's caching included; Linux only, ``--no-memory`` leaves it out.

Under the length table, ``growth`` is each net's exponent between the shortest and longest
length it ran, ``log(t_long / t_short) / log(T_long / T_short)``: 1 for time that grows
linearly with length, 2 for quadratic. The Transformer's attention is quadratic in length;
lengths above ``--max-attention-length`` are skipped for it (``n/a``), its attention matrices
outgrowing the machine's memory.

    OMP_NUM_THREADS=1 python scripts/bench/scaling.py [--nets lstm gru transformer mingru ...]
        [--rounds 3] [--no-memory] [--axes length batch hidden] [--cpu-memory reuse|heap]
"""

from __future__ import annotations

import argparse
import math
import statistics
import subprocess
import sys
import time

import torch
from hydra import compose, initialize_config_dir
from torch import nn

from rnnlab.cli import CONFIG_DIR
from rnnlab.utils.instantiate import instantiate
from rnnlab.utils.memory import POLICIES, resident_growth_mib, set_cpu_memory

NETS = ("lstm", "gru", "transformer", "mingru", "lru", "rglru", "mlstm")
AXES = {"length": "lengths", "batch": "batches", "hidden": "hiddens"}


def build(name: str, hidden: int, features: int) -> nn.Module:
    """``model=<name>`` with ``num_layers=2`` and ``hidden`` units, reading ``features``."""
    with initialize_config_dir(str(CONFIG_DIR), version_base=None):
        overrides = [f"model={name}", f"model.hidden_size={hidden}", "model.num_layers=2"]
        cfg = compose("train", overrides=[*overrides, f"model.input_size={features}"])
    if "dropout" in cfg.model:
        cfg.model.dropout = 0.0
    torch.manual_seed(0)
    return instantiate(cfg.model, "model")


def train_step(net: nn.Module, x: torch.Tensor) -> None:
    net(x).outputs.square().mean().backward()


def point(axis: str, value: int, args: argparse.Namespace) -> tuple[int, int, int]:
    """(length, batch, hidden) of the point where ``axis`` is ``value``."""
    sizes = {"length": args.length, "batch": args.batch, "hidden": args.hidden, axis: value}
    return sizes["length"], sizes["batch"], sizes["hidden"]


def runs(name: str, length: int, args: argparse.Namespace) -> bool:
    return name != "transformer" or length <= args.max_attention_length


def time_point(nets: list[str], length: int, batch: int, hidden: int, rounds: int, features: int):
    """Median seconds of one training step per net, the nets taking turns."""
    built = {name: build(name, hidden, features) for name in nets}
    x = torch.randn(batch, length, features)
    times: dict[str, list[float]] = {name: [] for name in nets}
    for round_ in range(rounds + 1):
        for name, net in built.items():
            start = time.perf_counter()
            train_step(net, x)
            if round_:  # the first round warms up
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def memory_child(name: str, length: int, batch: int, hidden: int, features: int) -> None:
    """Print the resident-set growth (MiB) over one training step."""
    net = build(name, hidden, features)
    x = torch.randn(batch, length, features)
    print(resident_growth_mib(lambda: train_step(net, x)))


def peak_memory(name: str, length: int, batch: int, hidden: int, features: int, policy: str) -> str:
    """:func:`memory_child` in a fresh process, as text for the table."""
    command = [sys.executable, __file__, "--memory-of", name, str(length), str(batch),
               str(hidden), "--features", str(features), "--cpu-memory", policy]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    return "n/a" if done.returncode else f"{float(done.stdout.split()[-1]):.0f}"


def parameter_counts(nets: list[str], hidden: int, features: int) -> str:
    counts = (sum(p.numel() for p in build(n, hidden, features).parameters()) for n in nets)
    return ", ".join(f"{n} {c:,}" for n, c in zip(nets, counts, strict=True))


def sweep(axis: str, args: argparse.Namespace) -> None:
    values = getattr(args, AXES[axis])
    base = {"length": args.length, "batch": args.batch, "hidden": args.hidden}
    fixed = ", ".join(f"{k} {v}" for k, v in base.items() if k != axis)
    print(f"\n{axis}: ms per training step (median of {args.rounds} rounds) and peak MiB; {fixed}")
    print("| " + axis + " | " + " | ".join(args.nets) + " |")
    print("|---" * (len(args.nets) + 1) + "|")
    times: dict[str, dict[int, float]] = {name: {} for name in args.nets}
    for value in values:
        length, batch, hidden = point(axis, value, args)
        nets = [name for name in args.nets if runs(name, length, args)]
        measured = time_point(nets, length, batch, hidden, args.rounds, args.features)
        cells = []
        for name in args.nets:
            if name not in measured:
                cells.append("n/a")
                continue
            times[name][value] = measured[name]
            memory = (
                ""
                if args.no_memory
                else " / "
                + peak_memory(name, length, batch, hidden, args.features, args.cpu_memory)
            )
            cells.append(f"{measured[name] * 1e3:.1f}{memory}")
        print(f"| {value} | " + " | ".join(cells) + " |", flush=True)
    if axis == "length":
        growth = []
        for name in args.nets:
            ran = sorted(times[name])
            if len(ran) < 2:
                growth.append("n/a")
                continue
            short, long = ran[0], ran[-1]
            slope = math.log(times[name][long] / times[name][short]) / math.log(long / short)
            growth.append(f"{slope:.2f} ({short}-{long})")
        print("| growth | " + " | ".join(growth) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", nargs="+", default=list(NETS))
    parser.add_argument("--axes", nargs="+", default=list(AXES), choices=list(AXES))
    parser.add_argument("--length", type=int, default=256, help="the base point's length")
    parser.add_argument("--batch", type=int, default=16, help="the base point's batch size")
    parser.add_argument("--hidden", type=int, default=64, help="the base point's hidden size")
    parser.add_argument("--lengths", type=int, nargs="+", default=[64, 256, 1024, 4096])
    parser.add_argument("--batches", type=int, nargs="+", default=[8, 32, 128, 512])
    parser.add_argument("--hiddens", type=int, nargs="+", default=[32, 64, 128, 256, 512])
    parser.add_argument("--features", type=int, default=32, help="input features per step")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-attention-length", type=int, default=2048)
    parser.add_argument("--no-memory", action="store_true", help="time only")
    parser.add_argument("--cpu-memory", default="reuse", choices=POLICIES,
                        help="the allocator policy, as rnnlab.train's cpu_memory")  # fmt: skip
    parser.add_argument("--memory-of", nargs=4, metavar=("NET", "T", "B", "H"),
                        help=argparse.SUPPRESS)  # fmt: skip
    args = parser.parse_args()
    set_cpu_memory(args.cpu_memory)  # as rnnlab.train sets it (default: reuse)
    if args.memory_of:
        name, *sizes = args.memory_of
        memory_child(name, *map(int, sizes), args.features)
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"cpu_memory={args.cpu_memory}; 2 layers per net; "
          f"parameters at hidden {args.hidden}: "
          f"{parameter_counts(args.nets, args.hidden, args.features)}")  # fmt: skip
    for axis in args.axes:
        sweep(axis, args)


if __name__ == "__main__":
    main()
