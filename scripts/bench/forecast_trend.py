"""Trending, seasonal series through ``data=csv``: window normalisation and differencing, measured.

Each series is written as a CSV (``date,y``) and trained with the plain command,
``python -m rnnlab.train model=gru data=csv data.path=... data.target=y data.time_column=date``,
under each way of removing the level (``task.window_norm``, ``task.difference``, both, neither),
for a few seeds. The table prints each run's test MASE beside the seasonal-naive baseline's on
the same test windows (MASE below 1: better than the training span's seasonal-naive error).

Series:

- ``linear``: generated, 25 years monthly, linear trend + yearly season + noise (seeded);
- ``exp``: generated, 25 years monthly, exponential trend, a season that grows with the level;
- ``airline``: monthly air passengers 1949-1960, from sktime's package data;
- ``lynx``: yearly Canadian lynx trappings 1821-1934, a ten-year cycle and no trend (sktime);
- ``co2``: Mauna Loa CO2 1958-2001, statsmodels' weekly series averaged by month, and ``elec``:
  monthly electrical equipment orders 1995-2016 (a season, a slump, no steady trend), both read
  from the statsmodels wheel (``pip download --no-deps statsmodels -d DIR``; pass
  ``--statsmodels DIR/statsmodels-*.whl``), skipped without it.

    python scripts/bench/forecast_trend.py [overrides ...] [--seeds 0 1] [--series linear airline]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import defaultdict
from datetime import date, datetime
from pathlib import Path

import numpy as np

VARIANTS = {
    "neither": ["task.window_norm=false", "task.difference=false"],
    "window_norm": ["task.window_norm=true", "task.difference=false"],
    "difference": ["task.window_norm=false", "task.difference=true"],
    "both": ["task.window_norm=true", "task.difference=true"],
}


def month(i: int, start: int = 2000) -> str:
    return date(start + i // 12, i % 12 + 1, 1).isoformat()


def trend_season_csv(path: Path, kind: str, years: int = 25, seed: int = 0) -> Path:
    """A generated monthly series: ``linear`` (additive season) or ``exp`` (multiplicative)."""
    rng = np.random.default_rng(seed)
    t = np.arange(12 * years)
    season = np.sin(2 * np.pi * t / 12) + 0.5 * np.cos(4 * np.pi * t / 12)
    if kind == "linear":
        y = 100 + 0.5 * t + 10 * season + rng.normal(0, 2, len(t))
    else:
        y = 100 * np.exp(0.006 * t) * (1 + 0.15 * season + rng.normal(0, 0.02, len(t)))
    rows = [f"{month(i)},{v:.4f}" for i, v in enumerate(y)]
    path.write_text("date,y\n" + "\n".join(rows) + "\n")
    return path


def bundled_series_csv(path: Path, name: str) -> Path:
    """A series that rnnlab reads from sktime's package data (``data=bundled``)."""
    from rnnlab.data.bundled import bundled_csv

    rows = list(csv.DictReader(bundled_csv(name).open()))
    path.write_text("date,y\n" + "\n".join(f"{r['date']},{r[name]}" for r in rows) + "\n")
    return path


def elec_csv(path: Path, wheel: Path) -> Path:
    """statsmodels' monthly euro-area electrical equipment orders, 1995-2016 (no steady trend)."""
    with zipfile.ZipFile(wheel) as archive:
        text = archive.read("statsmodels/datasets/elec_equip/elec_equip.csv").decode()
    rows = []
    for date_text, value in list(csv.reader(io.StringIO(text)))[1:]:
        when = datetime.strptime(date_text, "%b-%d-%Y").date()
        rows.append(f"{when.isoformat()},{value}")
    path.write_text("date,y\n" + "\n".join(rows) + "\n")
    return path


def co2_csv(path: Path, wheel: Path) -> Path:
    """Monthly means of statsmodels' weekly Mauna Loa CO2 (its missing weeks skipped; the few
    months with no week are interpolated linearly)."""
    with zipfile.ZipFile(wheel) as archive:
        text = archive.read("statsmodels/datasets/co2/co2.csv").decode()
    by_month = defaultdict(list)
    for row in csv.DictReader(io.StringIO(text)):
        if row["co2"].strip() and not math.isnan(float(row["co2"])):
            by_month[row["date"][:6]].append(float(row["co2"]))
    index = {int(k[:4]) * 12 + int(k[4:]) - 1: float(np.mean(v)) for k, v in by_month.items()}
    months = np.arange(min(index), max(index) + 1)
    known = np.array(sorted(index))
    values = np.interp(months, known, [index[m] for m in known])
    rows = [f"{m // 12}-{m % 12 + 1:02d}-01,{v:.3f}" for m, v in zip(months, values, strict=True)]
    path.write_text("date,y\n" + "\n".join(rows) + "\n")
    return path


# Display only: a run with the figures drawn scored the same test MASE to 4 digits, and slower.
QUIET = [
    "~callbacks.forecast_figure",
    "~callbacks.rich_progress_bar",
    "~callbacks.rich_model_summary",
]


def run(path: Path, out: Path, seed: int, overrides: list[str]) -> dict[str, float]:
    command = [sys.executable, "-m", "rnnlab.train", "model=gru", "data=csv",
               f"data.path={path}", "data.target=y", "data.time_column=date", f"seed={seed}",
               f"hydra.run.dir={out}", *QUIET, *overrides]  # fmt: skip
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return json.loads((out / "metrics.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument(
        "--series", nargs="+", default=["linear", "exp", "airline", "lynx", "co2", "elec"]
    )
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument("--statsmodels", type=Path, default=None, help="a statsmodels wheel")
    args, overrides = parser.parse_known_args()
    folder = Path(tempfile.mkdtemp(prefix="forecast_trend_"))
    makers = {
        "linear": lambda p: trend_season_csv(p, "linear"),
        "exp": lambda p: trend_season_csv(p, "exp"),
        "airline": lambda p: bundled_series_csv(p, "airline"),
        "lynx": lambda p: bundled_series_csv(p, "lynx"),
        "co2": lambda p: co2_csv(p, args.statsmodels),
        "elec": lambda p: elec_csv(p, args.statsmodels),
    }
    print(f"runs in {folder}; extra overrides: {overrides}")
    print(f"{'series':<8} {'variant':<12} {'test MASE by seed':<24} {'mean':>6} "
          f"{'seas. naive':>11} {'naive':>6} {'s/run':>6}")  # fmt: skip
    for name in args.series:
        if name in ("co2", "elec") and args.statsmodels is None:
            print(f"{name:<8} skipped: no --statsmodels wheel")
            continue
        path = makers[name](folder / f"{name}.csv")
        for variant in args.variants:
            scores, start = [], time.perf_counter()
            for seed in args.seeds:
                out = folder / f"{name}-{variant}-{seed}"
                metrics = run(path, out, seed, [*VARIANTS[variant], *overrides])
                scores.append(metrics["test/mase"])
            seconds = (time.perf_counter() - start) / len(args.seeds)
            by_seed = " ".join(f"{s:.3f}" for s in scores)
            print(f"{name:<8} {variant:<12} {by_seed:<24} {np.mean(scores):>6.3f} "
                  f"{metrics['test/seasonal_naive_mase']:>11.3f} "
                  f"{metrics['test/naive_mase']:>6.3f} {seconds:>6.1f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
