"""rnnlab against Darts and NeuralForecast: one series, one LSTM, time to a test error.

The problem is the course's two-sine series, rnnlab's ``data=sine`` (120,000 steps,
``sin(0.02 t) + 0.5 sin(0.01 t)`` plus Gaussian noise of std 0.1, seed 0), written once to a CSV
file that every side reads. The first 70 % of the steps train, the next 10 % validate, and the
last 20 % are the test targets: 24,000 one-step forecasts, each from the 20 true values before
it. Every side is an LSTM of 1 layer x 64 units reading a window of 20 steps, trained with
batches of 256 windows on the CPU, with ``OMP_NUM_THREADS`` and torch's thread count set to
``--threads`` (default 2), and a fixed seed. Every number is measured in one run of this script.

What each side is given (everything not named here is the tool's own default):

- rnnlab: its default recipe for a user's CSV, the command
  ``python -m rnnlab.train model=lstm data=csv data.path=FILE data.target=y data.window=20
  data.splits=[0.7,0.1,0.2] data.batch_size=256 trainer=cpu trainer.max_epochs=E``: the columns
  standardised by the training span's mean and std, each window normalised by its own mean and
  std (``data=csv``'s default ``forecasting_revin`` task), MSE loss, Adam at 1e-2 under a
  one-cycle schedule, gradient norm clipped at 1, validation every epoch, and the test run on
  the checkpoint with the best validation loss.
- Darts: ``BlockRNNModel(model="LSTM", input_chunk_length=20, output_chunk_length=1,
  hidden_dim=64, n_rnn_layers=1, batch_size=256, n_epochs=E)`` with its defaults (MSE loss,
  Adam at torch's 1e-3, constant, no clipping, the final weights), on float32 series scaled by
  its ``Scaler`` (min-max) fitted on the training span, as its documentation recommends;
  ``fit(train, val_series=val)`` validates every epoch. The test is
  ``historical_forecasts(forecast_horizon=1, stride=1, retrain=False, last_points_only=True)``
  from the first test step, its optimised path for a trained torch model, mapped back by the
  scaler.
- NeuralForecast: ``LSTM(h=1, input_size=20, encoder_hidden_size=64, encoder_n_layers=1,
  windows_batch_size=256, max_steps=S)`` with its defaults (MAE loss, Adam at 1e-3, constant,
  no clipping, each window scaled by its ``robust`` scaler, the MLP decoder, the final
  weights), where ``S = round(E x training windows / 256)`` so that E counts epochs of the
  83,980 training windows. The test is ``cross_validation(h=1, step_size=1, n_windows=24000,
  val_size=12000, refit=False)``, which trains once on the steps before the test span
  (validating every 100 steps on its last 12,000) and forecasts every test step from its true
  past.

The peers' progress bars are off (``verbose=False``, ``enable_progress_bar=False``), which can
only make them faster; rnnlab keeps its own. Each run is a fresh process, timed from its start
to its exit ("whole-process" time: imports, data, training, test, files written); "training"
is Lightning's ``Timer`` callback's training stage (validation inside training included), which
all three run on. Each run's test MSE is in the series' original units, given here as a
multiple of the noise variance 0.01 (the Bayes-optimal one-step predictor from a 20-step window
scores about 1.099). rnnlab's ``metrics.json`` gives ``test/mse`` in original units already
(its forecasting task undoes the scaler before scoring); the peers' forecasts are mapped back to
original units and scored here against the same 24,000 true values.

The two comparisons the issue asks for, per peer: the time rnnlab takes to reach the best test
MSE that peer reaches (the first rnnlab budget, in epochs, at or below it: no interpolation
between budgets) over the peer's time, and rnnlab's best MSE among its runs whose whole-process
time is at most the peer's.

    python scripts/bench/peers.py [--python-peers /path/to/python] [--threads 2]
        [--rnnlab-epochs 3 5 10 40] [--darts-epochs 5 20] [--neuralforecast-epochs 5 20]
        [--rnnlab-overrides task=forecasting ...]

An empty list of epochs (``--darts-epochs`` alone) leaves that tool out.

Run from the repository root with rnnlab installed; the peers run under ``--python-peers``
(default: this interpreter, for an install with the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

LENGTH, NOISE_STD, DATA_SEED = 120_000, 0.1, 0  # rnnlab's data=sine series
WINDOW, HIDDEN, BATCH = 20, 64, 256
SPLITS = (0.7, 0.1, 0.2)  # train | validation | test, in time order
NOISE_VARIANCE = NOISE_STD**2
RESULT = "PEERS_RESULT "  # a worker's last line: this prefix, then its JSON
TOOLS = ("rnnlab", "darts", "neuralforecast")
NAMES = {"rnnlab": "rnnlab", "darts": "Darts", "neuralforecast": "NeuralForecast"}


@dataclass(frozen=True)
class Run:
    """One training run of one tool at one budget."""

    tool: str
    epochs: int
    whole_s: float  # process start to exit
    train_s: float  # Lightning's training stage
    mse: float  # test MSE in original units

    @property
    def ratio(self) -> float:
        """Test MSE as a multiple of the noise variance."""
        return self.mse / NOISE_VARIANCE


def bounds(n: int) -> tuple[int, int]:
    """``(val_start, test_start)`` of an ``n``-step series, rounded as rnnlab rounds them."""
    edges = np.cumsum([0.0, *SPLITS]) * n
    return int(round(edges[1])), int(round(edges[2]))


def read_csv(path: Path) -> np.ndarray:
    """The series ``(N,)`` float32 from the one-column CSV this script writes."""
    return np.loadtxt(path, skiprows=1, dtype=np.float64).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Workers: one tool, one budget, in a fresh process; the last line printed is the result.
# ---------------------------------------------------------------------------------------------


def darts_worker(y: np.ndarray, epochs: int, seed: int) -> tuple[float, np.ndarray]:
    """Train Darts' ``BlockRNNModel``; return its training seconds and test forecasts."""
    from darts import TimeSeries
    from darts.dataprocessing.transformers import Scaler
    from darts.models import BlockRNNModel
    from pytorch_lightning.callbacks import Timer

    val_start, test_start = bounds(len(y))
    series = TimeSeries.from_values(y)  # float32, as Darts recommends for speed
    scaler = Scaler()
    scaler.fit(series[:val_start])  # the training span only
    scaled = scaler.transform(series)
    timer = Timer()
    model = BlockRNNModel(
        model="LSTM",
        input_chunk_length=WINDOW,
        output_chunk_length=1,
        hidden_dim=HIDDEN,
        n_rnn_layers=1,
        batch_size=BATCH,
        n_epochs=epochs,
        random_state=seed,
        work_dir=os.getcwd(),
        pl_trainer_kwargs={"accelerator": "cpu", "callbacks": [timer]},
    )
    # The validation series starts a window early, so its first target is the span's first step.
    val = scaled[val_start - WINDOW : test_start]
    model.fit(scaled[:val_start], val_series=val, verbose=False)
    forecasts = model.historical_forecasts(
        scaled,
        start=test_start,
        start_format="position",
        forecast_horizon=1,
        stride=1,
        retrain=False,
        last_points_only=True,
        verbose=False,
    )
    if forecasts.start_time() != test_start or len(forecasts) != len(y) - test_start:
        raise RuntimeError("Darts' historical_forecasts did not cover the test span.")
    predictions = scaler.inverse_transform(forecasts).values()[:, 0]  # (N_test,)
    return timer.time_elapsed("train"), predictions


def neuralforecast_worker(y: np.ndarray, epochs: int, seed: int) -> tuple[float, np.ndarray]:
    """Train NeuralForecast's ``LSTM`` by ``cross_validation``; return its training seconds
    and test forecasts."""
    import pandas as pd
    from neuralforecast import NeuralForecast
    from neuralforecast.models import LSTM
    from pytorch_lightning.callbacks import Timer

    val_start, test_start = bounds(len(y))
    train_windows = val_start - WINDOW
    model = LSTM(
        h=1,
        input_size=WINDOW,
        encoder_hidden_size=HIDDEN,
        encoder_n_layers=1,
        windows_batch_size=BATCH,
        max_steps=round(epochs * train_windows / BATCH),
        random_seed=seed,
        accelerator="cpu",
        enable_progress_bar=False,
        callbacks=[Timer()],
    )
    frame = pd.DataFrame({"unique_id": "sine", "ds": np.arange(len(y)), "y": y})
    forecaster = NeuralForecast(models=[model], freq=1)
    forecast = forecaster.cross_validation(
        frame,
        h=1,
        n_windows=len(y) - test_start,
        step_size=1,
        val_size=test_start - val_start,
        refit=False,
    )
    forecast = forecast.sort_values("ds")
    if forecast["ds"].iloc[0] != test_start or len(forecast) != len(y) - test_start:
        raise RuntimeError("NeuralForecast's cross_validation did not cover the test span.")
    # NeuralForecast trains a copy of the model, and with it a copy of the timer.
    fitted = forecaster.models[0].trainer_kwargs["callbacks"]
    timer = next(callback for callback in fitted if isinstance(callback, Timer))
    return timer.time_elapsed("train"), forecast["LSTM"].to_numpy()


WORKERS: dict[str, Callable[[np.ndarray, int, int], tuple[float, np.ndarray]]] = {
    "darts": darts_worker,
    "neuralforecast": neuralforecast_worker,
}


def worker(tool: str, csv: Path, epochs: int, threads: int, seed: int) -> None:
    """Train and test one peer; print its result line."""
    import torch

    torch.set_num_threads(threads)
    y = read_csv(csv)
    train_s, predictions = WORKERS[tool](y, epochs, seed)
    truth = y[bounds(len(y))[1] :].astype(np.float64)  # (N_test,)
    mse = float(np.mean((predictions.astype(np.float64) - truth) ** 2))
    print(RESULT + json.dumps({"train_s": train_s, "mse": mse, "windows": len(truth)}))


# ---------------------------------------------------------------------------------------------
# The driver: write the series, launch every run, print the table and the ratios.
# ---------------------------------------------------------------------------------------------


def write_series(directory: Path) -> Path:
    """rnnlab's ``data=sine`` series as a one-column CSV; float32 values written exactly."""
    from rnnlab.data.sine import sine_series

    y = sine_series(LENGTH, NOISE_STD, "tutorial", DATA_SEED)  # (N,) float32
    path = directory / "sine.csv"
    np.savetxt(path, y, fmt="%.9g", header="y", comments="")
    return path


def environment(threads: int) -> dict[str, str]:
    """This process's environment with every side's thread count set the same."""
    return os.environ | {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}


def launch(command: list[str], cwd: Path, threads: int, log: Path) -> tuple[float, str]:
    """Run ``command`` in ``cwd``, its stderr to ``log`` and its stdout beside it; return
    its whole-process seconds and its stdout."""
    start = time.perf_counter()
    with log.open("w") as stderr:
        done = subprocess.run(
            command, cwd=cwd, env=environment(threads), stdout=subprocess.PIPE, stderr=stderr,
            text=True,
        )  # fmt: skip
    seconds = time.perf_counter() - start
    log.with_suffix(".out").write_text(done.stdout)
    if done.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-30:])
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{tail}")
    return seconds, done.stdout


def run_rnnlab(
    csv: Path, epochs: int, threads: int, seed: int, work: Path, overrides: Sequence[str] = ()
) -> Run:
    """rnnlab's command line on the CSV, with any further ``overrides``; training time from
    the Timer state in last.ckpt."""
    import torch

    out = work / f"rnnlab_{epochs}"
    command = [
        sys.executable, "-m", "rnnlab.train", "model=lstm", "data=csv", f"data.path={csv}",
        "data.target=y", f"data.window={WINDOW}", "data.horizon=1",
        f"data.splits=[{','.join(map(str, SPLITS))}]", f"data.batch_size={BATCH}",
        f"data.seed={seed}", f"seed={seed}", f"model.hidden_size={HIDDEN}", "model.num_layers=1",
        "trainer=cpu", f"trainer.max_epochs={epochs}", f"hydra.run.dir={out}",
        "+callbacks.timer._target_=lightning.pytorch.callbacks.Timer", *overrides,
    ]  # fmt: skip
    whole_s, _ = launch(command, work, threads, work / f"rnnlab_{epochs}.log")
    metrics = json.loads((out / "metrics.json").read_text())
    last = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    # Saved after the last epoch's validation: the training stage up to its very end.
    train_s = last["callbacks"]["Timer"]["time_elapsed"]["train"]
    return Run("rnnlab", epochs, whole_s, train_s, metrics["test/mse"])


def run_peer(
    tool: str, python: str, csv: Path, epochs: int, threads: int, seed: int, work: Path
) -> Run:
    """One peer's worker in a fresh process of ``python``."""
    command = [
        python, str(Path(__file__).resolve()), "--worker", tool, "--csv", str(csv),
        "--epochs", str(epochs), "--threads", str(threads), "--seed", str(seed),
    ]  # fmt: skip
    whole_s, stdout = launch(command, work, threads, work / f"{tool}_{epochs}.log")
    line = next(line for line in reversed(stdout.splitlines()) if line.startswith(RESULT))
    result = json.loads(line[len(RESULT) :])
    return Run(tool, epochs, whole_s, result["train_s"], result["mse"])


def warm_up(python: str, modules: str, work: Path) -> None:
    """Import ``modules`` once, untimed, so that no timed run pays for a cold file cache."""
    subprocess.run([python, "-c", f"import {modules}"], cwd=work, check=True)


def table(runs: Sequence[Run]) -> str:
    lines = [
        f"{'tool':<16}{'epochs':>7}{'training':>11}{'whole process':>15}{'test MSE':>11}"
        f"{'/ noise var':>13}"
    ]
    for r in runs:
        lines.append(
            f"{NAMES[r.tool]:<16}{r.epochs:>7}{r.train_s:>10.1f}s{r.whole_s:>14.1f}s"
            f"{r.mse:>11.5f}{r.ratio:>13.3f}"
        )
    return "\n".join(lines)


def time_to_reach(mine: Sequence[Run], peer: Sequence[Run]) -> str:
    """rnnlab's whole-process time to the peer's best test MSE, over the peer's time."""
    best = min(peer, key=lambda r: r.mse)
    reached = next((r for r in sorted(mine, key=lambda r: r.epochs) if r.mse <= best.mse), None)
    name = NAMES[best.tool]
    head = f"best of {name}, {best.ratio:.3f} at {best.whole_s:.1f} s ({best.epochs} epochs):"
    if reached is None:
        lowest = min(r.ratio for r in mine)
        return f"{head} not reached by rnnlab's budgets (its best {lowest:.3f})"
    share = reached.whole_s / best.whole_s
    return (
        f"{head} rnnlab {reached.ratio:.3f} at {reached.whole_s:.1f} s ({reached.epochs} "
        f"epochs) = {share:.2f} x the peer's time, {1 / share:.2f} x sooner"
    )


def mse_at_time(mine: Sequence[Run], run: Run) -> str:
    """rnnlab's best test MSE among its runs no slower (whole process) than the peer's ``run``."""
    within = [r for r in mine if r.whole_s <= run.whole_s]
    head = f"{NAMES[run.tool]} {run.epochs} epochs, {run.ratio:.3f} at {run.whole_s:.1f} s:"
    if not within:
        return f"{head} no rnnlab run finished that fast"
    best = min(within, key=lambda r: r.mse)
    verdict = "lower" if best.mse < run.mse else "not lower"
    return f"{head} rnnlab {best.ratio:.3f} ({best.epochs} epochs, {best.whole_s:.1f} s), {verdict}"


def main(args: argparse.Namespace) -> None:
    work = Path(args.out or tempfile.mkdtemp(prefix="peers_")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    csv = write_series(work)
    budgets = {tool: getattr(args, f"{tool}_epochs") for tool in TOOLS}
    budgets = {tool: epochs for tool, epochs in budgets.items() if epochs}
    if budgets.get("rnnlab"):
        warm_up(sys.executable, "rnnlab.train", work)
    if budgets.get("darts") or budgets.get("neuralforecast"):
        warm_up(args.python_peers, "darts, neuralforecast, torch", work)
    runs: list[Run] = []
    for tool, epochs_list in budgets.items():
        for epochs in epochs_list:
            if tool == "rnnlab":
                run = run_rnnlab(csv, epochs, args.threads, args.seed, work, args.rnnlab_overrides)
            else:
                run = run_peer(tool, args.python_peers, csv, epochs, args.threads, args.seed, work)
            print(f"  {NAMES[tool]}, epochs={epochs}: {run.whole_s:.1f} s", flush=True)
            runs.append(run)

    print(f"\nseries: {LENGTH} steps, noise variance {NOISE_VARIANCE:g}; LSTM 1 x {HIDDEN}, "
          f"window {WINDOW}, batch {BATCH}, {args.threads} threads, seed {args.seed}; "
          f"runs in {work}")  # fmt: skip
    if args.rnnlab_overrides:
        print(f"rnnlab's runs with: {' '.join(args.rnnlab_overrides)}")
    print(table(runs))
    mine = [r for r in runs if r.tool == "rnnlab"]
    if not mine:
        return
    for tool in ("darts", "neuralforecast"):
        peer = [r for r in runs if r.tool == tool]
        if not peer:
            continue
        print(f"\nrnnlab against {NAMES[tool]} (whole-process times, no interpolation):")
        print("  time to the peer's best MSE: " + time_to_reach(mine, peer))
        for run in peer:
            print("  MSE at the peer's time: " + mse_at_time(mine, run))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rnnlab-epochs", type=int, nargs="*", default=[3, 5, 10, 40])
    parser.add_argument("--darts-epochs", type=int, nargs="*", default=[5, 20])
    parser.add_argument("--neuralforecast-epochs", type=int, nargs="*", default=[5, 20])
    parser.add_argument(
        "--rnnlab-overrides",
        nargs="*",
        default=[],
        help="further Hydra overrides for rnnlab's runs (default: none, its default recipe)",
    )
    parser.add_argument("--threads", type=int, default=2, help="OMP and torch threads, all sides")
    parser.add_argument("--seed", type=int, default=0, help="every side's training seed")
    parser.add_argument(
        "--python-peers",
        default=sys.executable,
        help="the interpreter with darts and neuralforecast (default: this one)",
    )
    parser.add_argument("--out", type=Path, default=None, help="work directory (default: temp)")
    # A worker: one peer at one budget, started by the driver.
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--epochs", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for tool in TOOLS:
        for epochs in getattr(args, f"{tool}_epochs"):
            if epochs < 1:
                parser.error(f"--{tool}-epochs {epochs}: every budget must be at least 1 epoch.")
    if args.threads < 1:
        parser.error(f"--threads {args.threads} must be at least 1.")
    return args


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.worker:
        worker(arguments.worker, arguments.csv, arguments.epochs, arguments.threads, arguments.seed)
    else:
        main(arguments)
