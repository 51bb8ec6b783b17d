"""Forecasting over any CSV a user brings (``data=csv``).

The file needs a header. ``data.target`` names the column(s) to forecast; past covariates are
columns known only up to the forecast origin, future covariates columns known in advance
(calendar features, planned prices), whose values at the target steps are given to the model.
An optional time column of ISO dates/times or integer steps orders the rows, and its step is
checked: a missing time is refused unless ``data.allow_gaps=true``. Train, validation and test
own consecutive spans of time, cut by fractions or by dates, and every column is standardised
with the training span's mean and standard deviation only. The seasonal period of MASE and of
the seasonal-naive baseline is read from the time step (monthly data: 12) unless given.
"""

from __future__ import annotations

import bisect
import calendar
import math
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from rnnlab.data.batch import InMemoryDataModule, WindowDataset
from rnnlab.data.specs import ForecastSpec, Inputs
from rnnlab.data.splits import check_splits
from rnnlab.data.text_cls import iter_table, table_delimiter
from rnnlab.utils import log
from rnnlab.utils.errors import ConfigError, check, check_count
from rnnlab.utils.progress import progress

Missing = Literal["error", "ffill", "interpolate", "zero"]
MISSING_MODES = ("error", "ffill", "interpolate", "zero")
SPLITS = {"train": "training", "val": "validation", "test": "test"}  # key: name in sentences
_EMPTY = frozenset({"", "nan", "na", "n/a", "null", "none"})  # cells that hold no value
_UNITS = (  # the largest unit that divides a step names it
    ("week", timedelta(weeks=1)),
    ("day", timedelta(days=1)),
    ("hour", timedelta(hours=1)),
    ("minute", timedelta(minutes=1)),
    ("second", timedelta(seconds=1)),
    ("microsecond", timedelta(microseconds=1)),
)
Time = int | datetime
_MONTH = re.compile(r"\d{4}-\d{2}")
# The usual season of a time step (``infer_step``'s words): a year of months, quarters or weeks,
# a week of days, a day of hours. Any other step (years, minutes, plain rows) has none.
SEASONS = {"1 month": 12, "3 months": 4, "1 week": 52, "1 day": 7, "1 hour": 24}


def parse_time(text: str) -> Time:
    """An integer step, or a ``datetime`` from an ISO date or date and time, or from a month
    written ``YYYY-MM`` (its first day); else ValueError."""
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        if _MONTH.fullmatch(text):  # 1949-01, as monthly series are often written
            return datetime(int(text[:4]), int(text[5:]), 1)
        return datetime.fromisoformat(text)


def read_series(
    path: str | Path,
    columns: Sequence[str],
    time_column: str | None = None,
    missing: Missing = "error",
    open_end: Sequence[str] = (),
) -> tuple[np.ndarray, Sequence[str], np.ndarray]:
    """The numeric ``columns`` of a CSV file with a header, in time order.

    With ``time_column`` the rows are sorted by it (ISO dates/times or integer steps) and a
    time that appears twice is refused; without it the row order is the time order. Empty or
    NaN cells are refused (``missing="error"``), carried forward (``ffill``), interpolated
    linearly in the row (``interpolate``; the ends take the nearest value) or set to 0
    (``zero``). A cell that is not a number is always refused, named by its line. In a
    semicolon-separated file (as spreadsheets save CSV where the comma is the decimal mark) a
    comma in a number is its decimal mark: ``3,25`` is 3.25.

    The ``open_end`` columns are read as they stand, an empty cell as NaN wherever it is,
    neither filled nor refused: the caller fills their known part with :func:`fill_column`.

    The file is streamed: its rows are parsed a block at a time into one array sized by the
    file's line count, so a series of tens of millions of steps costs its values (8 bytes a
    cell) and line numbers (4 bytes a row), not Python objects per cell. Only a time column
    keeps each row's time as text.

    Returns:
        values: ``(N, len(columns))`` float64; timestamps: each row's time as written (its
        row number 0..N-1 without a time column, as :class:`RowNumbers`); lines: each row's
        line in the file, ``(N,)``.
    """
    path = Path(path)
    check(
        missing in MISSING_MODES,
        f"data.missing={missing!r} is not one of {', '.join(map(repr, MISSING_MODES))}.",
    )
    bound = _count_lines(path)  # at least the number of rows
    values = np.empty((bound, len(columns)))  # (bound, C)
    lines = np.empty(bound, dtype=np.int32 if bound < 2**31 else np.int64)
    texts: list[str] = []
    n = 0
    wanted = [*columns, *([time_column] if time_column else [])]
    decimal_comma = table_delimiter(path) == ";"
    kept = [missing if name not in open_end else "keep" for name in columns]
    rows = _blocks(iter_table(path, wanted))
    with progress(f"reading {path.name}", bound, _BAR_FROM) as update:
        for block, block_lines in rows:
            end = n + len(block)
            values[n:end] = _parse(block, block_lines, columns, path, kept, decimal_comma)
            lines[n:end] = block_lines
            if time_column:
                texts += [row[-1].strip() for row in block]
            n = end
            update(n)
    check(n > 0, f"{path} holds a header but no rows.")
    values, lines = values[:n], lines[:n]
    if time_column is None:
        timestamps: Sequence[str] = RowNumbers(n)
    else:
        times = _parse_times(texts, lines, path, time_column)
        order = sorted(range(n), key=times.__getitem__)  # stable: ties keep file order
        for a, b in zip(order[:-1], order[1:], strict=True):
            check(
                times[a] != times[b],
                f"{path}: time {texts[a]!r} appears twice, on line {lines[a]} and line "
                f"{lines[b]}; each time may appear once.",
            )
        values, lines = values[order], lines[order]
        timestamps = [texts[i] for i in order]
    for j, name in enumerate(columns):
        if name not in open_end:
            values[:, j] = fill_column(values[:, j], name, lines, path, missing)
    return values, timestamps, lines


_BLOCK = 1 << 14  # rows parsed at a time
_BAR_FROM = 1_000_000  # lines: a file that long shows a bar while it is read (a few seconds)


class RowNumbers(Sequence[str]):
    """The timestamps of a series without a time column, ``"0"`` to ``str(n - 1)``, made when
    asked for instead of held."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [str(k) for k in range(*i.indices(self.n))]
        if not -self.n <= i < self.n:
            raise IndexError(f"row {i} of {self.n}")
        return str(i % self.n)

    def __eq__(self, other) -> bool:
        return list(self) == list(other) if isinstance(other, Sequence) else NotImplemented


def _names(value: str | int | Sequence[str | int] | None) -> list[str]:
    """Column names, one or a list, as the header spells them: a number (Hydra reads
    ``data.target=101`` as the integer 101) as its text."""
    items = [value] if isinstance(value, str | int | float) else list(value or [])
    return [str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v for v in items]


def _compact_dates(*texts: str) -> bool:
    """Whether every one of ``texts`` reads as a date written ``YYYYMMDD`` (which the time
    column takes for an integer step)."""
    try:
        return all(len(t.strip()) == 8 and datetime.strptime(t.strip(), "%Y%m%d") for t in texts)
    except ValueError:
        return False


def _count_lines(path: Path) -> int:
    """The number of line ends in the file (LF, CRLF or a lone CR), plus one: at least its
    number of rows. A CRLF split across two reads counts twice, which only over-counts."""
    count = 1
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            count += chunk.count(b"\n") + chunk.count(b"\r") - chunk.count(b"\r\n")
    return count


def _blocks(
    rows: Iterator[tuple[list[str], int]],
) -> Iterator[tuple[list[list[str]], list[int]]]:
    """``rows`` (each with its line) gathered ``_BLOCK`` at a time, the last block shorter."""
    block: list[list[str]] = []
    block_lines: list[int] = []
    for row, line in rows:
        block.append(row)
        block_lines.append(line)
        if len(block) == _BLOCK:
            yield block, block_lines
            block, block_lines = [], []
    if block:
        yield block, block_lines


def _parse(
    block: list[list[str]],
    block_lines: list[int],
    columns: Sequence[str],
    path: Path,
    missing: Sequence[str],
    decimal_comma: bool = False,
) -> np.ndarray:
    """The value cells of ``block`` (its first ``len(columns)`` cells a row) as ``(rows, C)``
    float64, NaN where each column's ``missing`` lets a cell be empty; with ``decimal_comma`` a
    comma is a number's decimal mark."""
    width = len(columns)  # a time column, where there is one, follows the value cells
    cells = block if len(block[0]) == width else [row[:width] for row in block]
    try:  # NumPy's parser, where every cell is a finite number
        text = np.array(cells, dtype=np.str_)
        if decimal_comma:
            text = np.char.replace(text, ",", ".")
        parsed = text.astype(np.float64).reshape(len(block), -1)
        if np.isfinite(parsed).all():
            return parsed
    except ValueError:
        pass
    # A cell to fill, or a mistake to name by its line.
    return np.array(
        [
            [
                _number(row[j], name, line, path, missing[j], decimal_comma)
                for j, name in enumerate(columns)
            ]
            for row, line in zip(block, block_lines, strict=True)
        ],
        dtype=np.float64,
    ).reshape(len(block), len(columns))


def _number(
    cell: str, column: str, line: int, path: Path, missing: str, decimal_comma: bool = False
) -> float:
    """The value of one cell; NaN for an empty one unless ``missing`` is ``error``."""
    text = cell.strip()
    if text.lower() in _EMPTY:
        check(
            missing != "error",
            f"{path}, line {line}: column {column!r} has no value; fill it in, or set "
            "data.missing to ffill, interpolate or zero.",
        )
        return math.nan
    try:
        value = float(text.replace(",", ".") if decimal_comma else text)
    except ValueError:
        raise ConfigError(
            f"{path}, line {line}: column {column!r} holds {text!r}, not a number."
        ) from None
    check(
        math.isfinite(value),
        f"{path}, line {line}: column {column!r} holds {text!r}, not a finite number.",
    )
    return value


def _parse_times(texts: list[str], lines: list[int], path: Path, column: str) -> list[Time]:
    """Each row's time; every one must be of the first one's kind (integer, or a date/time
    with or without a UTC offset), so that they compare."""
    times = []
    for text, line in zip(texts, lines, strict=True):
        check(text, f"{path}, line {line}: the time column {column!r} is empty.")
        try:
            times.append(parse_time(text))
        except ValueError:
            raise ConfigError(
                f"{path}, line {line}: column {column!r} holds {text!r}, not an ISO date or "
                "date and time (2024-01-31, 2024-01-31T13:00), a month (2024-01) or an integer "
                "step."
            ) from None
        check(
            _kind(times[-1]) == _kind(times[0]),
            f"{path}, line {line}: time {text!r} is not of the same form as {texts[0]!r} on "
            f"line {lines[0]}; write every time in one form.",
        )
    return times


def _kind(t: Time) -> str:
    if isinstance(t, int):
        return "step"
    return "naive" if t.utcoffset() is None else "aware"


def _empty_tail(targets: np.ndarray) -> int:
    """The number of final rows of ``targets`` ``(N, C)`` in which every value is NaN."""
    filled = np.flatnonzero(~np.isnan(targets).all(1))
    return len(targets) - (int(filled[-1]) + 1 if len(filled) else 0)


def fill_column(column: np.ndarray, name: str, lines: Sequence[int], path: Path, missing: str):
    """``column`` ``(N,)`` with its NaNs filled as ``missing`` says (``error``: the first one
    refused, named by its line)."""
    gaps = np.isnan(column)
    if not gaps.any():
        return column
    check(
        missing != "error",
        f"{path}, line {lines[int(np.argmax(gaps))]}: column {name!r} has no value; fill it in, "
        "or set data.missing to ffill, interpolate or zero.",
    )
    check(not gaps.all(), f"{path}: column {name!r} holds no numbers.")
    if missing == "ffill":
        check(
            not gaps[0],
            f"{path}, line {lines[0]}: column {name!r} has no value and nothing before it to "
            "carry forward; fill it in, or set data.missing to interpolate or zero.",
        )
    return _FILLS[missing](column, gaps)


def _ffill(column: np.ndarray, gaps: np.ndarray) -> np.ndarray:
    last = np.maximum.accumulate(np.where(gaps, 0, np.arange(len(column))))  # last known row
    return column[last]


def _interpolate(column: np.ndarray, gaps: np.ndarray) -> np.ndarray:
    known = np.flatnonzero(~gaps)
    # np.interp holds the first and last known value beyond the ends.
    return np.where(gaps, np.interp(np.arange(len(column)), known, column[known]), column)


_FILLS = {"ffill": _ffill, "interpolate": _interpolate, "zero": lambda c, g: np.where(g, 0.0, c)}


def infer_step(times: Sequence[Time]) -> tuple[str, int | None]:
    """The series' step, in words, and the index ``i`` of the first irregular step
    (``times[i]`` to ``times[i + 1]``), ``None`` when every step is the usual one.

    The step is the most common difference between consecutive times. Times all on the same
    day of the month (or all on the month's last day) at the same clock time step by calendar
    months, so monthly and yearly data are regular whatever the months' lengths.
    """
    if isinstance(times[0], datetime) and _on_one_day_of_month(times):
        units = [t.year * 12 + t.month for t in times]
        step, first = _usual(units)
        words = _plural(step // 12, "year") if step % 12 == 0 else _plural(step, "month")
        return words, first
    step, first = _usual(times)
    if isinstance(step, int):
        return _plural(step, "step"), first
    unit, size = next((u, s) for u, s in _UNITS if step % s == timedelta(0))
    return _plural(step // size, unit), first


def _on_one_day_of_month(times: Sequence[datetime]) -> bool:
    first = times[0]
    if any((t.time(), t.utcoffset()) != (first.time(), first.utcoffset()) for t in times):
        return False
    same_day = all(t.day == first.day for t in times)
    return same_day or all(t.day == calendar.monthrange(t.year, t.month)[1] for t in times)


def _usual(times: Sequence) -> tuple:
    """The most common difference (the smallest among equals) and where it first differs."""
    diffs = [b - a for a, b in zip(times[:-1], times[1:], strict=True)]
    step = max(Counter(diffs).items(), key=lambda item: (item[1], -item[0]))[0]
    first = next((i for i, d in enumerate(diffs) if d != step), None)
    return step, first


def _plural(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


class CsvSeriesDataModule(InMemoryDataModule):
    """Sliding windows over the columns of a CSV file, split in time.

    The series is ``(N, F)`` with columns ``[targets (C) | past covariates (P) | future
    covariates (K)]``. Train, validation and test own consecutive spans of time, in that
    order; a window belongs to the split that holds all of its targets, so no target is shared
    between splits, and its inputs may reach back into the preceding span. With ``scale`` each
    column is standardised by the training span's mean and standard deviation.

    Args:
        path: the CSV file (a ``.tsv`` or other suffix is read as tab-separated), with a header.
        target: the column to forecast, or a list of columns.
        time_column: a column of ISO dates/times or integer steps that orders the rows;
            ``None``: the row order is the time order.
        allow_gaps: accept times that do not follow the usual step instead of refusing them.
        past_covariates: columns known only up to the forecast origin (inputs only).
        future_covariates: columns known in advance; their values at the target steps are the
            batch's ``future``.
        window: input steps per window.
        horizon: target steps per window.
        splits: fractions of the time steps for train, validation and test.
        split_dates: ``[val_start, test_start]`` in the time column's form, instead of
            ``splits``; the validation span starts at the first time not before ``val_start``.
        missing: empty or NaN cells: ``error``, ``ffill``, ``interpolate`` or ``zero``.
        season: the seasonal period of MASE and of the seasonal-naive baseline; ``None``: the
            time step's usual one (:data:`SEASONS`: 12 for monthly data, 7 for daily, 24 for
            hourly, 4 for quarterly, 52 for weekly; 1 without a time column or for any other
            step), or 1 where the window is shorter than that.
        scale: standardise the columns (else the values are used as they are).
        batch_size, num_workers, seed: as for :class:`InMemoryDataModule`.
    """

    def __init__(
        self,
        path: str | None = None,
        target: str | Sequence[str] | None = None,
        time_column: str | None = None,
        allow_gaps: bool = False,
        past_covariates: Sequence[str] = (),
        future_covariates: Sequence[str] = (),
        window: int = 24,
        horizon: int = 1,
        splits: Sequence[float] = (0.7, 0.15, 0.15),
        split_dates: Sequence[str] | None = None,
        missing: Missing = "error",
        season: int | None = None,
        scale: bool = True,
        batch_size: int = 64,
        num_workers: int = 0,
        seed: int = 0,
    ):
        super().__init__(batch_size, num_workers, seed)
        check(bool(path), "data=csv needs data.path=FILE, a CSV with a header.")
        self.path = Path(path).expanduser()
        check(
            self.path.is_file(),
            f"data.path={path} is not an existing file; give a CSV with a header.",
        )
        targets = _names(target)
        past_covariates, future_covariates = _names(past_covariates), _names(future_covariates)
        time_column = None if time_column is None else _names(time_column)[0]
        check(targets, "data=csv needs data.target=COLUMN, the column (or a list) to forecast.")
        covariates = [*past_covariates, *future_covariates]
        for name in targets:
            check(name not in covariates, f"column {name!r} is both a target and a covariate.")
        columns = [*targets, *covariates]
        twice = next((name for name in columns if columns.count(name) > 1), None)
        check(twice is None, f"column {twice!r} is named twice in data.target and covariates.")
        check(
            time_column not in columns,
            f"data.time_column={time_column!r} is also a target or a covariate.",
        )
        check_count("data.window", window, 1)
        check_count("data.horizon", horizon, 1)
        if season is not None:
            check_count("data.season", season, 1)
            check(
                window >= season,
                f"data.window={window} is shorter than data.season={season}; the seasonal-naive "
                "baseline reads the last season from the window, so use data.window >= "
                "data.season.",
            )
        check(
            missing in MISSING_MODES,
            f"data.missing={missing!r} is not one of {', '.join(map(repr, MISSING_MODES))}.",
        )
        if split_dates is None:
            check_splits(tuple(splits))
        else:
            check(
                time_column is not None, "data.split_dates needs data.time_column to compare with."
            )
            check(
                len(split_dates) == 2,
                f"data.split_dates={list(split_dates)} must be [val_start, test_start].",
            )
        self.target_names = targets
        self.past_covariates = list(past_covariates)
        self.future_covariates = list(future_covariates)
        self.time_column, self.allow_gaps = time_column, allow_gaps
        self.window, self.horizon = window, horizon
        self.season = 1 if season is None else season
        self.infer_season = season is None
        self.splits = tuple(splits)
        self.split_dates = None if split_dates is None else [str(d) for d in split_dates]
        self.missing, self.scale = missing, scale
        self.series: torch.Tensor | None = None  # (N, F), scaled
        self.timestamps: Sequence[str] = []
        self.starts: dict[str, torch.Tensor] = {}
        self.bounds: list[int] = []  # span edges: train | val | test
        self.time_step = "1 row"
        self.scaler_mean = self.scaler_std = self.mase_scale = np.zeros(0)

    @property
    def spec(self) -> ForecastSpec:
        self.setup()
        return ForecastSpec(
            Inputs(features=self.series.shape[1]),
            horizon=self.horizon,
            target_names=tuple(self.target_names),
            targets_in_input=True,  # the first C input features are the targets' past
            num_past_covariates=len(self.past_covariates),
            num_future_covariates=len(self.future_covariates),
            scaler_mean=tuple(self.scaler_mean.tolist()),
            scaler_std=tuple(self.scaler_std.tolist()),
            season=self.season,
            mase_scale=tuple(self.mase_scale.tolist()),
            time_step=self.time_step,
        )

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        columns = [*self.target_names, *self.past_covariates, *self.future_covariates]
        values, self.timestamps, lines = read_series(
            self.path, columns, self.time_column, self.missing
        )  # (N, F)
        n, w, h = len(values), self.window, self.horizon
        check(
            n >= w + h,
            f"data.path={self.path} holds {n} time steps, fewer than data.window={w} plus "
            f"data.horizon={h} = {w + h}; use a shorter window or a longer series.",
        )
        times = None if self.time_column is None else [parse_time(t) for t in self.timestamps]
        if times is not None:
            self.time_step, gap = infer_step(times)
            if gap is not None and not self.allow_gaps:
                ts = self.timestamps
                hint = (
                    " (if these are dates written YYYYMMDD, write them as YYYY-MM-DD)"
                    if _compact_dates(ts[gap], ts[gap + 1])
                    else ""
                )
                raise ConfigError(
                    f"{self.path}: the time goes from {ts[gap]!r} (line {lines[gap]}) to "
                    f"{ts[gap + 1]!r} (line {lines[gap + 1]}), not the usual step of "
                    f"{self.time_step}; fill in the missing times, or set data.allow_gaps=true"
                    f"{hint}."
                )
        del lines  # read only by that sentence: a long series' lines are not kept
        if self.infer_season:
            self.season = self._usual_season()
        self.bounds = self._bounds(times, n)
        for split, a, b in zip(SPLITS, self.bounds[:-1], self.bounds[1:], strict=True):
            self.starts[split] = self._starts(split, a, b)

        train = values[: self.bounds[1]]  # (T, F): the scaler and MASE see nothing later
        if self.scale:
            self.scaler_mean = train.mean(0)
            std = train.std(0)
            self.scaler_std = np.where(std > 0, std, 1.0)
        else:
            self.scaler_mean, self.scaler_std = np.zeros(len(columns)), np.ones(len(columns))
        self.mase_scale = self._mase_scale(train[:, : len(self.target_names)])
        values -= self.scaler_mean  # in place: a long series is not copied in float64
        values /= self.scaler_std
        self.series = torch.from_numpy(values.astype(np.float32))  # (N, F)
        del values, train
        c, k = len(self.target_names), len(self.future_covariates)
        self.datasets = {
            split: WindowDataset(self.series, starts, w, h, num_targets=c, num_future=k)
            for split, starts in self.starts.items()
        }

    def _bounds(self, times: list[Time] | None, n: int) -> list[int]:
        """Span edges ``[0, val_start, test_start, n]``, by ``split_dates`` or ``splits``."""
        if self.split_dates is None:
            return [int(round(b)) for b in np.cumsum([0.0, *self.splits]) * n]
        marks = []
        for text in self.split_dates:
            try:
                mark = parse_time(text)
            except ValueError:
                mark = None
            check(
                mark is not None and _kind(mark) == _kind(times[0]),
                f"data.split_dates value {text!r} is not a time of the same form as "
                f"{self.timestamps[0]!r} in data.time_column={self.time_column!r}.",
            )
            marks.append(mark)
        first, last = self.timestamps[0], self.timestamps[-1]
        check(
            marks[0] < marks[1],
            f"data.split_dates={self.split_dates} must be in order: the validation start "
            "before the test start.",
        )
        check(
            times[0] < marks[0] and marks[1] <= times[-1],
            f"data.split_dates={self.split_dates} must lie after the first time {first!r} and "
            f"no later than the last time {last!r}.",
        )
        return [0, bisect.bisect_left(times, marks[0]), bisect.bisect_left(times, marks[1]), n]

    def _usual_season(self) -> int:
        """The season of the time step (:data:`SEASONS`), where the window holds one."""
        season = SEASONS.get(self.time_step, 1) if self.time_column else 1
        if season > self.window:
            # The seasonal-naive baseline reads the last season from the window.
            log.info(
                f"data.season: the {self.time_step} step's season of {season} is longer than "
                f"data.window={self.window}; MASE and the seasonal-naive baseline use 1. Set "
                f"data.window >= {season} for the season."
            )
            return 1
        return season

    def _starts(self, split: str, a: int, b: int) -> torch.Tensor:
        """First-target indices of the windows whose targets all lie in ``[a, b)``."""
        first, end = max(a, self.window), b - self.horizon + 1
        where = f" ({self.timestamps[a]} to {self.timestamps[b - 1]})" if b > a else ""
        name = SPLITS[split]
        check(
            end > first,
            f"the {name} span holds {b - a} time steps{where}, no room for a window of "
            f"data.window={self.window} inputs and data.horizon={self.horizon} targets; change "
            f"{'data.split_dates' if self.split_dates else 'data.splits'} or use a shorter window.",
        )
        # 32-bit where they fit: the starts of a long series are 4 bytes a step, not 8.
        return torch.arange(first, end, dtype=torch.int32 if end < 2**31 else torch.int64)

    def _mase_scale(self, train: np.ndarray) -> np.ndarray:
        """Each target's mean ``|y_t - y_{t-m}|`` over the training span ``(T, C)``, in
        original units; 0 (a constant series) becomes 1e-8 so that MASE stays finite."""
        m = self.season
        check(
            len(train) > m,
            f"data.season={m} needs a training span longer than {m} time steps; it holds "
            f"{len(train)}.",
        )
        scale = np.abs(train[m:] - train[:-m]).mean(0)  # (C,)
        return np.where(scale > 0, scale, 1e-8)

    def file_windows(
        self, mean: Sequence[float], std: Sequence[float]
    ) -> tuple[WindowDataset, Sequence[str], int]:
        """Every window of the whole file, for a trained model to forecast (``rnnlab.predict
        input=``): no splits, scaler or season of its own, the values scaled by ``mean`` and
        ``std`` (the training scaler). There is a window at every forecast origin from row
        ``window`` on, the last of them forecasting the ``horizon`` steps after the last known
        target: past the file's end (their targets NaN), or, for a model with known-future
        covariates, which need values there, into the file's last rows, where those covariates
        are given and the targets left empty (at most ``horizon`` such rows; their past
        covariates may be empty too). Returns the windows, the file's timestamps and its number
        of rows."""
        columns = [*self.target_names, *self.past_covariates, *self.future_covariates]
        check(
            len(mean) == len(columns),
            f"the data has {len(columns)} columns where training had {len(mean)}.",
        )
        c, k, h, w = len(self.target_names), len(self.future_covariates), self.horizon, self.window
        past = columns[: len(columns) - k]  # the targets and past covariates
        values, timestamps, lines = read_series(
            self.path, columns, self.time_column, self.missing, open_end=past if k else ()
        )
        n = known = len(values)
        if k:  # the rows after the last target value: the horizon to forecast
            known = n - _empty_tail(values[:, :c])
            check(
                n - known <= h,
                f"input={self.path}: its last {n - known} rows leave every target empty, more "
                f"than the data.horizon={h} steps the model forecasts.",
            )
            for j, name in enumerate(past):
                values[:known, j] = fill_column(
                    values[:known, j], name, lines[:known], self.path, self.missing
                )
        beyond = 0 if k else h  # steps forecast past the file's end
        last = min(known, n + beyond - h)  # the last window's first forecast step
        check(
            last >= w,
            f"input={self.path} holds {known} time steps; the model reads data.window={w}"
            + (f" and its known-future covariates data.horizon={h} more" if k else "")
            + f", so give at least {w + h if k else w} rows.",
        )
        values = (values - np.asarray(mean)) / np.asarray(std)
        values = np.concatenate([values, np.full((beyond, len(columns)), np.nan)])
        series = torch.from_numpy(values.astype(np.float32))  # (N + beyond, F)
        starts = torch.arange(w, last + 1)
        return WindowDataset(series, starts, w, h, num_targets=c, num_future=k), timestamps, n

    def use_scaler(self, mean: Sequence[float], std: Sequence[float]) -> None:
        """Scale the series with another scaler (a trained model's) instead of this file's own,
        in place, so every split's windows read the values the model was trained on."""
        check(
            len(mean) == self.series.shape[1],
            f"the data has {self.series.shape[1]} columns where training had {len(mean)}.",
        )
        original = self.series.double() * torch.as_tensor(self.scaler_std)
        original += torch.as_tensor(self.scaler_mean)
        scaled = (original - torch.as_tensor(mean, dtype=torch.float64)) / torch.as_tensor(
            std, dtype=torch.float64
        )
        self.series.copy_(scaled)
        self.scaler_mean, self.scaler_std = np.asarray(mean), np.asarray(std)

    def unscale_targets(self, values: torch.Tensor) -> torch.Tensor:
        """Scaled target values ``(..., C)`` in original units ``(..., C)``."""
        c = len(self.target_names)
        mean = torch.as_tensor(self.scaler_mean[:c]).to(values)
        std = torch.as_tensor(self.scaler_std[:c]).to(values)
        return values * std + mean

    def eval_batch_size(self) -> int:
        return max(self.batch_size, 1024)
