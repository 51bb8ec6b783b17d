"""Forward + backward time of the scratch cells (``model.impl=scratch``, ``scratch_ln``) against
torch's fused kernels (``model.impl=fused``), measured side by side in one run.

Each row builds ``RecurrentEncoder`` once per implementation with the same weights and times one
training step's worth of work: forward over a ``(B, T, F)`` batch, ``outputs.sum().backward()``.
The implementations take turns step by step, so drifts in machine load fall on all of them
alike; the table gives each one's median after warmup and its ratio to the fused median.

    python scripts/bench/scratch_cells.py [--device cuda] [--repeats 15] [--warmup 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from rnnlab.nets import RecurrentEncoder

BATCH, STEPS, FEATURES, HIDDEN = 64, 50, 32, 64
LAYOUTS = [(1, False), (2, True)]  # (num_layers, bidirectional)
IMPLS = {"rnn": ["fused", "scratch"], "lstm": ["fused", "scratch", "scratch_ln"]}
IMPLS["gru"] = IMPLS["rnn"]


def step_seconds(net: RecurrentEncoder, x: torch.Tensor) -> float:
    """Seconds for one forward and backward pass."""
    sync = torch.cuda.synchronize if x.device.type == "cuda" else lambda: None
    sync()
    start = time.perf_counter()
    net(x).outputs.sum().backward()
    sync()
    seconds = time.perf_counter() - start
    net.zero_grad(set_to_none=True)
    return seconds


def bench(cell: str, num_layers: int, bidirectional: bool, args) -> dict[str, float]:
    """Median milliseconds per forward + backward for each implementation of ``cell``."""
    torch.manual_seed(0)
    nets = {}
    for impl in IMPLS[cell]:
        nets[impl] = RecurrentEncoder(
            FEATURES, cell, HIDDEN, num_layers, bidirectional=bidirectional, impl=impl
        ).to(args.device)
        if impl == "scratch":
            nets[impl].load_state_dict(nets["fused"].state_dict())
    x = torch.randn(BATCH, STEPS, FEATURES, device=args.device)
    times = {impl: [] for impl in nets}
    for repeat in range(args.warmup + args.repeats):
        for impl, net in nets.items():
            seconds = step_seconds(net, x)
            if repeat >= args.warmup:
                times[impl].append(seconds)
    return {impl: 1e3 * statistics.median(t) for impl, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--repeats", type=int, default=15, help="timed steps per implementation")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    print(
        f"forward + backward, batch {BATCH}, T {STEPS}, input {FEATURES}, hidden {HIDDEN}; "
        f"median of {args.repeats} after {args.warmup} warmup; device {args.device}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads"
    )
    header = (
        f"{'cell':<5} {'layers':>6} {'bidir':>5} | {'fused ms':>9} | {'scratch ms':>10} "
        f"{'x fused':>7} | {'scratch_ln ms':>13} {'x fused':>7}"
    )
    print(header)
    print("-" * len(header))
    for num_layers, bidirectional in LAYOUTS:
        for cell in IMPLS:
            ms = bench(cell, num_layers, bidirectional, args)
            fused = ms["fused"]
            row = f"{cell:<5} {num_layers:>6} {'yes' if bidirectional else 'no':>5} | {fused:>9.2f}"
            row += f" | {ms['scratch']:>10.2f} {ms['scratch'] / fused:>7.1f}"
            if "scratch_ln" in ms:
                row += f" | {ms['scratch_ln']:>13.2f} {ms['scratch_ln'] / fused:>7.1f}"
            print(row, flush=True)


if __name__ == "__main__":
    main()
