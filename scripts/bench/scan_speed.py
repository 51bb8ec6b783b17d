"""Training speed of minGRU and minLSTM against the fused LSTM and GRU, by sequence length.

For each length ``T`` (128 to 4096) every net takes its turn at one training step (forward and
backward of a squared-output loss on a ``(B, T, F)`` batch), round after round, so that every
net sees the same moments of a machine whose speed drifts; each net's time is the median of
its rounds. The nets:

- ``mingru``, ``minlstm``: :class:`~rnnlab.nets.minimal.MinimalRNN` in its default, parallel
  training form (the gates of every step in one matmul, then the ``loop`` scan);
- ``mingru log``: the same net with the textbook ``logcumsumexp`` scan (``scan=log``);
- ``mingru step``, ``minlstm step``: the same nets read one step at a time through
  :meth:`~rnnlab.nets.minimal.MinimalRNN.step`, as a cell without a parallel form must be;
- ``lstm``, ``gru``: ``torch.nn.LSTM`` and ``torch.nn.GRU`` (the fused MKL kernels), with the
  hidden size that gives them about the minGRU net's parameter count (printed).

A second table times every other modern net (``lru``, ``s4d``, ``s6``, ``mlstm``, ``slstm``,
``rglru``) at the hidden size (a multiple of 4) that gives it the minGRU net's parameter count,
in its default training form and with ``scan=sequential`` (``seq``: autograd recording the
recurrence step by step; the sLSTM has one form, a loop), as speed over the fused LSTM timed
in the same rounds; ``--no-modern`` leaves it out.

The default sizes are those of ``conf/model/mingru.yaml`` (hidden 64, 2 layers, each block's
gated MLP twice as wide) at batch 16; ``--mlp-expansion 0`` times the recurrence alone in the
same pre-norm blocks, against the fused cells of its (smaller) parameter count.
Throughput is tokens per second (``B * T`` over the step's time); each ratio is the minGRU
net's throughput over the other's. A second table times the scan forms of
:func:`~rnnlab.nets.scan.linear_scan` alone (forward and backward).

Every net runs with the C allocator set as ``python -m rnnlab.train`` sets it (``cpu_memory``,
default ``reuse``: freed memory kept for the next step; ``docs/performance.md``). The page
faults per step are printed under the first table: under ``reuse`` the fused LSTM's buffers of
more than 32 MiB (from ``T`` of about 512 at the default sizes) are mapped afresh at every step,
25,000 faults a step at ``T = 1024``, which slow it; ``--cpu-memory heap`` times every net
without them, the fair comparison of the kernels themselves.

Peak memory is measured in a fresh process per net and length: the growth of the resident set
(``VmHWM`` after the step, less ``VmRSS`` before it, with the high-water mark reset through
``/proc/self/clear_refs``) over the first training step. It is what the process took from the
kernel, so the allocator's caching is in it; Linux only, ``--no-memory`` leaves it out.

With ``--device cuda`` every net trains on the GPU (``lstm`` and ``gru`` through cuDNN), each
step timed to the GPU's end of it; peak memory is then the CUDA allocator's peak over the step
(``torch.cuda.max_memory_allocated``, less what was allocated before), and page faults are not
counted.

    OMP_NUM_THREADS=2 python scripts/bench/scan_speed.py [--quick] [--hidden 64] [--layers 2]
        [--mlp-expansion 2] [--cpu-memory reuse|heap|system] [--nets mingru lstm ...]
        [--no-memory] [--no-modern] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from rnnlab.nets.minimal import MinimalRNN
from rnnlab.nets.mlstm import MLSTMNet
from rnnlab.nets.rglru import RGLRUNet
from rnnlab.nets.scan import linear_scan, log_linear_scan
from rnnlab.nets.slstm import SLSTMNet
from rnnlab.nets.ssm import StateSpaceModel
from rnnlab.utils.memory import POLICIES, resident_growth_mib, set_cpu_memory

LENGTHS = (128, 256, 512, 1024, 2048, 4096)
QUICK_LENGTHS = (128, 1024)
NETS = ("mingru", "minlstm", "mingru log", "lstm", "gru", "mingru step", "minlstm step")
SCAN_FORMS = ("loop", "chunked", "parallel", "log", "sequential")
# Every other modern net: its class and fixed arguments. Each is timed in its default training
# form and with scan=sequential (autograd recording the recurrence step by step); the sLSTM has
# one form only, a loop, its gates reading the state.
MODERN: dict[str, tuple[type[nn.Module], dict]] = {
    "lru": (StateSpaceModel, {"mixer": "lru"}),
    "s4d": (StateSpaceModel, {"mixer": "s4d"}),
    "s6": (StateSpaceModel, {"mixer": "s6", "mlp_expansion": 0}),
    "mlstm": (MLSTMNet, {}),
    "slstm": (SLSTMNet, {}),
    "rglru": (RGLRUNet, {}),
}


def parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def fused_size(gates: int, features: int, layers: int, target: int) -> int:
    """The hidden size at which a fused cell of ``gates`` gate blocks (LSTM 4, GRU 3) has the
    parameter count nearest ``target``: per layer, ``gates * h * (inputs + h + 2)``."""

    def count(h: int) -> int:
        return gates * h * (features + h + 2) + (layers - 1) * gates * h * (2 * h + 2)

    return min(range(1, 8192), key=lambda h: abs(count(h) - target))


def minimal_net(cell: str, args: argparse.Namespace, **kwargs) -> MinimalRNN:
    """The minGRU or minLSTM net of the given sizes, with ``--mlp-expansion``."""
    return MinimalRNN(
        args.features,
        cell,
        args.hidden,
        args.layers,
        mlp_expansion=args.mlp_expansion,
        **kwargs,
    )


def build(name: str, args: argparse.Namespace) -> tuple[nn.Module, Callable]:
    """The net ``name`` and its training-step loss on a batch ``x`` ``(B, T, F)``."""
    torch.manual_seed(0)
    cell, _, form = name.partition(" ")
    minimal = {"scan": "log"} if form == "log" else {}
    reference = minimal_net("mingru", args)
    if cell in ("mingru", "minlstm"):
        net = minimal_net(cell, args, **minimal).to(args.device)
        if form == "step":
            return net, lambda x: stepwise(net, x).square().mean()
        return net, lambda x: net(x).outputs.square().mean()
    fused, gates = {"lstm": (nn.LSTM, 4), "gru": (nn.GRU, 3)}[cell]
    size = fused_size(gates, args.features, args.layers, parameters(reference))
    net = fused(args.features, size, args.layers, batch_first=True).to(args.device)
    return net, lambda x: net(x)[0].square().mean()


def modern(name: str, args: argparse.Namespace, sequential: bool) -> nn.Module:
    """The modern net ``name`` with the hidden size (a multiple of 4) whose parameter count is
    the nearest to the minGRU net's, in its default form or with ``scan=sequential``."""
    cls, fixed = MODERN[name]
    target = parameters(minimal_net("mingru", args))
    form = {"scan": "sequential"} if sequential else {}

    def make(hidden: int) -> nn.Module:
        torch.manual_seed(0)
        return cls(args.features, hidden_size=hidden, num_layers=args.layers, **fixed, **form)

    sizes = range(4, 4 * args.hidden + 1, 4)
    return make(min(sizes, key=lambda h: abs(parameters(make(h)) - target))).to(args.device)


def time_modern(length: int, args: argparse.Namespace) -> dict[str, float]:
    """The median seconds per training step of each modern net (``name`` and ``name seq``)
    and of the fused LSTM at ``length``, taking turns."""
    x = torch.randn(args.batch, length, args.features, device=args.device)
    built = {"lstm": build("lstm", args)}
    for name in MODERN:
        forms = (False,) if name == "slstm" else (False, True)
        for sequential in forms:
            net = modern(name, args, sequential)
            built[f"{name} seq" if sequential else name] = (
                net,
                lambda x, net=net: net(x).outputs.square().mean(),
            )
    times: dict[str, list[float]] = {name: [] for name in built}
    for round_ in range(args.rounds + 1):
        for name, (net, loss) in built.items():
            seconds = train_step(net, loss, x)
            if round_:
                times[name].append(seconds)
    return {name: statistics.median(t) for name, t in times.items()}


def device_name(device: str) -> str:
    """The device the nets train on, in words."""
    return torch.cuda.get_device_name() if device == "cuda" else "cpu"


def stepwise(net: MinimalRNN, x: torch.Tensor) -> torch.Tensor:
    """The net read one step at a time through its one-step form: ``(B, T, F)`` to
    ``(B, T, H)``."""
    outputs, state = [], None
    for step in x.unbind(1):
        output, state = net.step(step, state)  # (B, H)
        outputs.append(output)
    return torch.stack(outputs, 1)


def train_step(net: nn.Module, loss: Callable, x: torch.Tensor) -> float:
    """Seconds for one forward and backward pass."""
    return timed_step(net, loss, x)[0]


def timed_step(net: nn.Module, loss: Callable, x: torch.Tensor) -> tuple[float, int]:
    """Seconds for one forward and backward pass, and the page faults the process took in it
    (pages the kernel mapped in and zeroed: memory the C allocator handed back and asked for
    again)."""
    net.zero_grad(set_to_none=True)
    finish(x.device)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    start = time.perf_counter()
    loss(x).backward()
    finish(x.device)
    seconds = time.perf_counter() - start
    return seconds, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults


def finish(device: torch.device) -> None:
    """Wait for the work queued on ``device``."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_nets(length: int, args: argparse.Namespace) -> tuple[dict[str, float], dict[str, float]]:
    """The median seconds per training step of each net at ``length``, taking turns, and the
    median page faults per step."""
    x = torch.randn(args.batch, length, args.features, device=args.device)
    built = {name: build(name, args) for name in args.nets}
    times: dict[str, list[float]] = {name: [] for name in args.nets}
    faults: dict[str, list[int]] = {name: [] for name in args.nets}
    for round_ in range(args.rounds + 1):
        for name, (net, loss) in built.items():
            seconds, count = timed_step(net, loss, x)
            if round_:  # the first round warms up
                times[name].append(seconds)
                faults[name].append(count)
    median = statistics.median
    return {n: median(t) for n, t in times.items()}, {n: median(f) for n, f in faults.items()}


def time_scans(length: int, args: argparse.Namespace) -> dict[str, float]:
    """The median seconds of each scan form's forward and backward on ``(B, T, H)``."""
    shape = (args.batch, length, args.hidden)
    log_a = -torch.rand(shape, device=args.device) * 3
    log_b = torch.randn(shape, device=args.device)
    times: dict[str, list[float]] = {form: [] for form in SCAN_FORMS}
    for round_ in range(args.rounds + 1):
        for form in SCAN_FORMS:
            inputs = [t.clone().requires_grad_(True) for t in (log_a, log_b)]
            finish(log_a.device)
            start = time.perf_counter()
            if form == "log":
                h, _ = log_linear_scan(*inputs)
            else:
                h, _ = linear_scan(inputs[0].exp(), inputs[1].exp(), None, form, 64)
            h.sum().backward()
            finish(log_a.device)
            if round_:
                times[form].append(time.perf_counter() - start)
    return {form: statistics.median(t) for form, t in times.items()}


def peak_memory_child(name: str, length: int, args: argparse.Namespace) -> None:
    """Print the memory (MiB) one training step of ``name`` at ``length`` took: the resident
    set's growth, or on a GPU the CUDA allocator's peak over what was allocated before."""
    net, loss = build(name, args)
    x = torch.randn(args.batch, length, args.features, device=args.device)
    if x.device.type != "cuda":
        print(resident_growth_mib(lambda: loss(x).backward()))
        return
    before = torch.cuda.memory_allocated(x.device)
    torch.cuda.reset_peak_memory_stats(x.device)
    loss(x).backward()
    print((torch.cuda.max_memory_allocated(x.device) - before) / 2**20)


def peak_memory(name: str, length: int, args: argparse.Namespace) -> str:
    """:func:`peak_memory_child` in a fresh process, as text for the table."""
    command = [sys.executable, __file__, "--memory-of", name, "--lengths", str(length)]
    for key in ("batch", "hidden", "layers", "features", "mlp_expansion", "cpu_memory", "device"):
        command += [f"--{key.replace('_', '-')}", str(getattr(args, key))]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        return "n/a"
    return f"{float(done.stdout.split()[-1]):.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="lengths 128 and 1024 only")
    parser.add_argument("--lengths", type=int, nargs="+", default=None)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument(
        "--mlp-expansion",
        type=int,
        default=2,
        help="the residual blocks' gated MLP width per feature (0: the recurrence alone)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds after a warm-up")
    parser.add_argument("--no-memory", action="store_true", help="time only")
    parser.add_argument(
        "--cpu-memory",
        default="reuse",
        choices=POLICIES,
        help="the allocator policy, as rnnlab.train's cpu_memory",
    )
    parser.add_argument(
        "--nets",
        nargs="+",
        default=list(NETS),
        choices=NETS,
        metavar="NET",
        help=f"the first table's nets, mingru always first (default: {', '.join(NETS)})",
    )
    parser.add_argument("--no-modern", action="store_true", help="minGRU and minLSTM only")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--memory-of", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("error: --device cuda, but this machine has no CUDA device.")
    args.nets = ["mingru", *(n for n in dict.fromkeys(args.nets) if n != "mingru")]
    set_cpu_memory(args.cpu_memory)  # as rnnlab.train sets it (default: reuse), for every net
    lengths = args.lengths or (QUICK_LENGTHS if args.quick else LENGTHS)
    if args.memory_of:
        peak_memory_child(args.memory_of, lengths[0], args)
        return

    print(
        f"batch {args.batch}, {args.features} features, {args.layers} layers, "
        f"MLP expansion {args.mlp_expansion}, cpu_memory={args.cpu_memory}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"median of {args.rounds} rounds, {device_name(args.device)}"
    )
    for name in args.nets:
        net, _ = build(name, args)
        sizes = net.hidden_size
        print(f"  {name:<13} hidden {sizes:>4}  {parameters(net):>8,} parameters")
    on_gpu = args.device == "cuda"
    memory = not args.no_memory and (on_gpu or Path("/proc/self/clear_refs").exists())

    print("\ntraining step (forward + backward): tokens/s, and mingru's speed over each net")
    print(f"{'T':>5}  " + "  ".join(f"{name:>21}" for name in args.nets))
    faults = {}
    for length in lengths:
        seconds, faults[length] = time_nets(length, args)
        tokens = args.batch * length
        cells = [
            f"{tokens / seconds[n]:>10,.0f} ({seconds[n] / seconds['mingru']:>6.2f}x)"
            for n in args.nets
        ]
        print(f"{length:>5}  " + "  ".join(f"{c:>21}" for c in cells), flush=True)
    if not on_gpu:
        print("page faults per training step (median; each costs a page zeroed by the kernel)")
        for length in lengths:
            cells = [f"{faults[length][n]:,.0f}" for n in args.nets]
            print(f"{length:>5}  " + "  ".join(f"{c:>21}" for c in cells))

    if not args.no_modern:
        print("\nevery modern net at the minGRU net's parameter count (hidden size, parameters):")
        for name in MODERN:
            net = modern(name, args, False)
            print(f"  {name:<13} hidden {net.hidden_size:>4}  {parameters(net):>8,} parameters")
        print(
            "training step: tokens/s and, in brackets, the speed over the fused lstm; 'seq': "
            "scan=sequential (slstm has one form, a loop)"
        )
        names = None
        for length in lengths:
            seconds = time_modern(length, args)
            names = names or list(seconds)
            if length == lengths[0]:
                print(f"{'T':>5}  " + "  ".join(f"{name:>20}" for name in names))
            tokens = args.batch * length
            cells = [
                f"{tokens / seconds[n]:>9,.0f} ({seconds['lstm'] / seconds[n]:>6.2f}x)"
                for n in names
            ]
            print(f"{length:>5}  " + "  ".join(f"{c:>20}" for c in cells), flush=True)

    if memory:
        what = "the CUDA allocator's peak" if on_gpu else "resident-set growth"
        print(f"\npeak memory of one training step, MiB ({what}, a fresh process each)")
        print(f"{'T':>5}  " + "  ".join(f"{name:>13}" for name in args.nets))
        for length in lengths:
            cells = [peak_memory(name, length, args) for name in args.nets]
            print(f"{length:>5}  " + "  ".join(f"{c:>13}" for c in cells), flush=True)
    else:
        print("\npeak memory: not measured (--no-memory, or no /proc/self/clear_refs)")

    print(f"\nthe scan alone on ({args.batch}, T, {args.hidden}), forward + backward: ms")
    print(f"{'T':>5}  " + "  ".join(f"{form:>10}" for form in SCAN_FORMS))
    for length in lengths:
        seconds = time_scans(length, args)
        print(
            f"{length:>5}  " + "  ".join(f"{seconds[f] * 1e3:>10.1f}" for f in SCAN_FORMS),
            flush=True,
        )


if __name__ == "__main__":
    main()
