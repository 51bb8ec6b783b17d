import random
from datetime import date, timedelta

import numpy as np
import pytest
import torch

from rnnlab.data.csv_series import CsvSeriesDataModule, read_series
from rnnlab.utils.errors import ConfigError
from rnnlab.utils.instantiate import instantiate
from tests.conftest import compose_config

START = date(2024, 1, 1)


def write(path, header: str, rows: list[str]) -> str:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return str(path)


def daily(tmp_path, n: int, value=lambda i: i, name="s.csv", skip=()) -> str:
    """``date,y``: one row a day from 2024-01-01, ``y`` = ``value(i)``."""
    rows = [f"{START + timedelta(i)},{value(i)}" for i in range(n) if i not in skip]
    return write(tmp_path / name, "date,y", rows)


def all_windows(dm, split: str):
    return dm.datasets[split][torch.arange(len(dm.datasets[split]))]


def test_shuffled_daily_rows_are_sorted_and_windows_line_up_with_the_file(tmp_path):
    # Row i (in time) holds y = i, p = 1000 + i, f = 2000 + i, so every offset is checkable.
    rows = [f"{i},{2000 + i},{START + timedelta(i)},{1000 + i}" for i in range(60)]
    random.Random(0).shuffle(rows)
    path = write(tmp_path / "s.csv", "y,f,date,p", rows)
    dm = CsvSeriesDataModule(
        path, "y", time_column="date", past_covariates=["p"], future_covariates=["f"],
        window=5, horizon=3, scale=False,
    )  # fmt: skip
    spec = dm.spec
    assert dm.timestamps == [str(START + timedelta(i)) for i in range(60)]
    assert spec.inputs.features == 3 and spec.num_targets == 1 and spec.horizon == 3
    assert spec.time_step == "1 day"
    assert spec.num_past_covariates == 1 and spec.num_future_covariates == 1
    assert spec.target_names == ("y",)
    targets = set()
    for split in ("train", "val", "test"):
        batch, starts = all_windows(dm, split), dm.starts[split]
        assert torch.equal(dm.datasets[split].starts, starts) and starts.dtype == torch.int32
        past = (starts[:, None] + torch.arange(-5, 0)).float()  # (S, W)
        ahead = (starts[:, None] + torch.arange(3)).float()  # (S, H)
        assert batch.x.shape == (len(starts), 5, 3)  # [target | past | future]
        assert torch.equal(batch.x[..., 0], past)
        assert torch.equal(batch.x[..., 1], past + 1000)
        assert torch.equal(batch.x[..., 2], past + 2000)
        assert torch.equal(batch.y, ahead[..., None])
        assert torch.equal(batch.future, ahead[..., None] + 2000)
        new = set(ahead.flatten().long().tolist())
        assert not new & targets  # no target step is shared between splits
        targets |= new
    assert targets == set(range(5, 60))


def test_columns_named_by_numbers_are_found_as_hydra_reads_them(tmp_path):
    # data.target=101 reaches the module as the integer 101; the header spells it "101".
    rows = [f"{i},{i % 7},{i % 5}" for i in range(120)]
    path = write(tmp_path / "sensors.csv", "2020,101,102", rows)
    config = compose_config(
        "train",
        ["data=csv", f"data.path={path}", "data.target=101", "data.past_covariates=[102]",
         "data.time_column=2020", "data.window=4"],
        tmp_path,
    )  # fmt: skip
    assert config.data.target == 101 and config.data.time_column == 2020
    dm = instantiate(config.data, "data")
    dm.setup()
    assert dm.spec.target_names == ("101",) and dm.series.shape == (120, 2)


def test_a_spreadsheets_semicolons_blanks_in_the_header_and_months_as_yyyy_mm(tmp_path):
    rows = [f"{1949 + i // 12}-{i % 12 + 1:02d}; {100 + i}" for i in range(48)]
    path = write(tmp_path / "AirPassengers.csv", "Month; #Passengers", rows)
    dm = CsvSeriesDataModule(path, target="#Passengers", time_column="Month", window=12)
    dm.setup()
    assert dm.time_step == "1 month" and dm.season == 12
    assert dm.timestamps[:2] == ["1949-01", "1949-02"]
    values = dm.unscale_targets(dm.series[:3, :1]).flatten().tolist()
    assert values == pytest.approx([100, 101, 102])


def test_a_semicolon_spreadsheets_decimal_commas_are_decimal_marks(tmp_path):
    rows = [f"2020-01-{i + 1:02d};{i},25;{-i * 3},5" for i in range(20)]
    rows[5] = "2020-01-06;;-15,5"  # an empty cell to fill keeps the slow path's reading too
    path = write(tmp_path / "export.csv", "date;load;temp", rows)
    values, _, _ = read_series(path, ["load", "temp"], "date", missing="interpolate")
    assert values[:3].tolist() == [[0.25, 0.5], [1.25, -3.5], [2.25, -6.5]]
    assert values[5].tolist() == [5.25, -15.5]
    bad = write(tmp_path / "bad.csv", "date;load", ["2020-01-01;1.234,5", "2020-01-02;2,5"])
    with pytest.raises(ConfigError, match=r"line 2: column 'load' holds '1.234,5', not a number"):
        read_series(bad, ["load"], "date")


def test_a_comma_separated_file_keeps_refusing_a_decimal_comma(tmp_path):
    path = write(tmp_path / "c.csv", "date,load", ['2020-01-01,"1,5"', "2020-01-02,2.5"])
    with pytest.raises(ConfigError, match=r"line 2: column 'load' holds '1,5', not a number"):
        read_series(path, ["load"], "date")


def test_scaled_windows_unscale_to_the_file_values(tmp_path):
    dm = CsvSeriesDataModule(daily(tmp_path, 50, lambda i: 3 * i + 7), "y", "date", window=4)
    dm.setup()
    batch = all_windows(dm, "test")
    expected = 3 * (dm.starts["test"][:, None, None] + torch.arange(1)[:, None]) + 7.0
    torch.testing.assert_close(dm.unscale_targets(batch.y), expected)
    assert abs(float(dm.series[: dm.bounds[1], 0].mean())) < 1e-5  # standard on train


def test_the_scaler_sees_the_training_span_only(tmp_path):
    plain = CsvSeriesDataModule(daily(tmp_path, 80, name="a.csv"), "y", "date", window=6)
    changed = CsvSeriesDataModule(
        daily(tmp_path, 80, lambda i: i if i < 56 else 100 * i, name="b.csv"), "y", "date",
        window=6,
    )  # fmt: skip
    assert plain.spec.scaler_mean == changed.spec.scaler_mean
    assert plain.spec.scaler_std == changed.spec.scaler_std
    end = changed.bounds[1]
    assert end == 56  # 0.7 of 80 steps
    assert changed.spec.scaler_mean == pytest.approx((np.arange(56).mean(),))
    assert changed.spec.scaler_std == pytest.approx((np.arange(56).std(),))
    train = all_windows(changed, "train")
    assert int(changed.starts["train"].max()) + 1 <= end  # horizon 1: every target before end
    assert float(changed.unscale_targets(train.y).max()) < end


def test_split_dates_cut_the_spans_and_are_checked(tmp_path):
    path = daily(tmp_path, 100)
    dm = CsvSeriesDataModule(path, "y", "date", window=7, split_dates=["2024-03-01", "2024-03-21"])
    dm.setup()
    assert dm.bounds == [0, 60, 80, 100]  # 2024 is a leap year
    assert dm.timestamps[int(dm.starts["val"][0])] == "2024-03-01"
    assert dm.timestamps[int(dm.starts["test"][0])] == "2024-03-21"
    for dates, words in [
        (["2024-03-21", "2024-03-01"], "in order"),
        (["2023-12-01", "2024-03-01"], "after the first time"),
        (["2024-03-01", "2024-05-01"], "no later than the last time"),
        (["2024-03-01", "next week"], "same form"),
    ]:
        with pytest.raises(ConfigError, match=words):
            CsvSeriesDataModule(path, "y", "date", split_dates=dates).setup()
    with pytest.raises(ConfigError, match="needs data.time_column"):
        CsvSeriesDataModule(path, "y", split_dates=["2024-03-01", "2024-03-21"])


def test_monthly_and_yearly_steps_are_regular(tmp_path):
    def months(k: int, day: int | None) -> list[str]:
        firsts = [date(2019 + (m // 12), m % 12 + 1, 1) for m in range(k)]
        if day is not None:
            return [str(d.replace(day=day)) for d in firsts]
        return [
            str(date(d.year + d.month // 12, d.month % 12 + 1, 1) - timedelta(1)) for d in firsts
        ]

    for stamps, step in [
        (months(30, 15), "1 month"),
        (months(30, None), "1 month"),  # month ends: 31, 28, 31, 30, ...
        (months(60, 1)[::3], "3 months"),
        ([f"{1990 + i}-06-30" for i in range(20)], "1 year"),
        ([f"2024-01-01T{h:02d}:30" for h in range(24)], "1 hour"),
        ([str(5 * i) for i in range(20)], "5 steps"),
    ]:
        path = write(tmp_path / "m.csv", "t,y", [f"{t},{i}" for i, t in enumerate(stamps)])
        dm = CsvSeriesDataModule(path, "y", "t", window=2)
        assert dm.spec.time_step == step
    dm = CsvSeriesDataModule(daily(tmp_path, 30), "y", window=2)
    assert dm.spec.time_step == "1 row" and dm.timestamps[:3] == ["0", "1", "2"]


def test_a_gap_is_refused_unless_allowed(tmp_path):
    path = daily(tmp_path, 40, skip={20, 21})
    with pytest.raises(ConfigError, match="'2024-01-20' .line 21. to '2024-01-23' .line 22."):
        CsvSeriesDataModule(path, "y", "date", window=3).setup()
    dm = CsvSeriesDataModule(path, "y", "date", window=3, allow_gaps=True)
    assert dm.spec.time_step == "1 day" and len(dm.timestamps) == 38
    monthly = [f"2020-{m:02d}-01,{m}" for m in (1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12)]
    path = write(tmp_path / "m.csv", "date,y", monthly)
    with pytest.raises(ConfigError, match="'2020-03-01' .line 4. to '2020-05-01'.*1 month"):
        CsvSeriesDataModule(path, "y", "date", window=2).setup()


def test_dates_written_yyyymmdd_are_told_to_be_written_as_dates(tmp_path):
    days = [f"{START + timedelta(i):%Y%m%d},{i}" for i in range(60)]  # integers to the parser
    path = write(tmp_path / "compact.csv", "day,y", days)
    with pytest.raises(ConfigError, match=r"\(if these are dates written YYYYMMDD, write them"):
        CsvSeriesDataModule(path, "y", "day", window=3).setup()


def test_a_duplicate_time_is_refused_naming_both_lines(tmp_path):
    rows = [f"{START + timedelta(i)},{i}" for i in range(30)]
    rows.insert(25, f"{START + timedelta(3)},99")  # line 27 repeats line 5's date
    path = write(tmp_path / "s.csv", "date,y", rows)
    with pytest.raises(ConfigError, match="'2024-01-04' appears twice, on line 5 and line 27"):
        read_series(path, ["y"], "date")


def test_missing_values_are_refused_or_filled(tmp_path):
    rows = ["0,1,5", "1,,6", "2,,", "3,4,8", "4,5,NaN"]
    path = write(tmp_path / "s.csv", "t,a,b", rows)
    with pytest.raises(ConfigError, match=r", line 3: column 'a' has no value"):
        read_series(path, ["a", "b"], "t")
    expected = {
        "ffill": [[1, 5], [1, 6], [1, 6], [4, 8], [5, 8]],
        "interpolate": [[1, 5], [2, 6], [3, 7], [4, 8], [5, 8]],
        "zero": [[1, 5], [0, 6], [0, 0], [4, 8], [5, 0]],
    }
    for missing, values in expected.items():
        got, _, _ = read_series(path, ["a", "b"], "t", missing)
        np.testing.assert_array_equal(got, values)
    # In time order, not file order; interpolation gives a leading gap its nearest value.
    path = write(tmp_path / "r.csv", "t,a", ["3,9", "1,", "2,5", "0,"])
    got, stamps, lines = read_series(path, ["a"], "t", "interpolate")
    assert stamps == ["0", "1", "2", "3"] and lines.tolist() == [5, 3, 4, 2]
    np.testing.assert_array_equal(got[:, 0], [5, 5, 5, 9])
    with pytest.raises(ConfigError, match="line 5: column 'a' has no value and nothing before"):
        read_series(path, ["a"], "t", "ffill")
    with pytest.raises(ConfigError, match="data.missing='drop' is not one of"):
        CsvSeriesDataModule(path, "a", missing="drop")


def test_a_cell_that_is_not_a_number_is_named_by_line(tmp_path):
    path = write(tmp_path / "s.csv", "y,x", ["1,2", "2,3", "abc,4"])
    with pytest.raises(ConfigError) as error:
        read_series(path, ["y", "x"], None, "zero")
    assert str(error.value) == f"{path}, line 4: column 'y' holds 'abc', not a number."
    path = write(tmp_path / "t.csv", "date,y", ["2024-01-01,1", "2024-13-01,2"])
    with pytest.raises(ConfigError, match="line 3: column 'date' holds '2024-13-01', not an ISO"):
        read_series(path, ["y"], "date")


def test_bad_settings_are_one_sentence(tmp_path):
    path = daily(tmp_path, 30)
    with pytest.raises(ConfigError, match="no column 'sales'; its columns are: date, y"):
        CsvSeriesDataModule(path, "sales").setup()
    with pytest.raises(ConfigError, match="no column 'temp'"):
        CsvSeriesDataModule(path, "y", "date", past_covariates=["temp"]).setup()
    with pytest.raises(ConfigError, match="data=csv needs data.path=FILE, a CSV with a header."):
        CsvSeriesDataModule(None, "y")
    with pytest.raises(ConfigError, match="not an existing file"):
        CsvSeriesDataModule(str(tmp_path / "nope.csv"), "y")
    with pytest.raises(ConfigError, match="'y' is both a target and a covariate"):
        CsvSeriesDataModule(path, "y", future_covariates=["y"])
    with pytest.raises(ConfigError, match="holds 30 time steps, fewer than data.window=28 plus "
                       "data.horizon=3 = 31"):  # fmt: skip
        CsvSeriesDataModule(path, "y", "date", window=28, horizon=3).setup()
    with pytest.raises(ConfigError, match="the test span holds 3 time steps .* no room"):
        CsvSeriesDataModule(path, "y", "date", window=5, horizon=4, splits=[0.7, 0.2, 0.1]).setup()


def test_several_targets_keep_their_order_and_units(tmp_path):
    rows = [f"{i},{10 * i},{-i},{i % 2}" for i in range(40)]
    path = write(tmp_path / "s.csv", "b,a,c,k", rows)
    dm = CsvSeriesDataModule(path, ["a", "b"], past_covariates=["c"], future_covariates=["k"],
                             window=4, horizon=2, batch_size=8)  # fmt: skip
    spec = dm.spec
    assert spec.num_targets == 2 and spec.inputs.features == 4
    assert spec.target_names == ("a", "b")
    assert len(spec.scaler_mean) == len(spec.scaler_std) == 4
    assert spec.mase_scale == pytest.approx((10.0, 1.0))
    batch = next(iter(dm.train_dataloader()))
    assert (
        batch.x.shape == (8, 4, 4)
        and batch.y.shape == (8, 2, 2)
        and batch.future.shape == (8, 2, 1)
    )
    t = dm.datasets["train"].starts
    torch.testing.assert_close(
        dm.unscale_targets(all_windows(dm, "train").y)[:, 0], torch.stack([10.0 * t, 1.0 * t], -1)
    )


def test_mase_scale_is_the_training_seasonal_naive_error_in_original_units(tmp_path):
    path = daily(tmp_path, 50, lambda i: 2.5 * i - 40)
    for scale in (True, False):
        for season, expected in ((1, 2.5), (7, 17.5)):
            dm = CsvSeriesDataModule(path, "y", "date", window=7, season=season, scale=scale)
            assert dm.spec.mase_scale == pytest.approx((expected,))
            assert dm.spec.season == season
    flat = CsvSeriesDataModule(daily(tmp_path, 30, lambda i: 4, name="f.csv"), "y", window=3)
    assert flat.spec.mase_scale == (1e-8,) and flat.spec.scaler_std == (1.0,)
    assert all(type(v) is float for v in dm.spec.scaler_mean + flat.spec.mase_scale)


def test_the_config_builds_the_datamodule(tmp_path):
    path = daily(tmp_path, 60)
    overrides = ["data=csv", f"data.path={path}", "data.target=y", "data.time_column=date"]
    cfg = compose_config("train", overrides, tmp_path)
    assert cfg.task._target_ == "rnnlab.tasks.ForecastingTask"
    dm = instantiate(cfg.data, "data")
    assert isinstance(dm, CsvSeriesDataModule) and dm.window == 24
    assert dm.spec.time_step == "1 day"


def test_a_window_shorter_than_the_season_is_refused_before_training(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("y\n" + "".join(f"{i}\n" for i in range(50)))
    with pytest.raises(ConfigError, match="data.window=5 is shorter than data.season=12"):
        CsvSeriesDataModule(str(path), "y", window=5, season=12)


@pytest.mark.parametrize(
    "times, window, expected",
    [
        ([f"{2000 + i // 12}-{i % 12 + 1:02d}-01" for i in range(60)], 24, 12),  # monthly
        ([f"{2000 + i // 4}-{3 * (i % 4) + 1:02d}-01" for i in range(60)], 24, 4),  # quarterly
        ([str(START + timedelta(i)) for i in range(60)], 24, 7),  # daily
        ([f"2024-01-{1 + i // 24:02d}T{i % 24:02d}:00" for i in range(60)], 24, 24),  # hourly
        ([str(2000 + i) for i in range(60)], 24, 1),  # yearly integer steps: no season
        ([f"{2000 + i // 12}-{i % 12 + 1:02d}-01" for i in range(60)], 6, 1),  # window < 12
    ],
)
def test_the_season_is_read_from_the_time_step_unless_given(tmp_path, times, window, expected):
    path = write(tmp_path / "s.csv", "t,y", [f"{t},{i % 5}" for i, t in enumerate(times)])
    dm = CsvSeriesDataModule(path, "y", "t", window=window)
    assert dm.spec.season == expected
    train = np.array([i % 5 for i in range(dm.bounds[1])], dtype=float)
    m = expected
    assert dm.spec.mase_scale == pytest.approx((np.abs(train[m:] - train[:-m]).mean(),))
    given = CsvSeriesDataModule(path, "y", "t", window=window, season=2)
    assert given.spec.season == 2  # an explicit season wins
    assert CsvSeriesDataModule(path, "y", window=window).spec.season == 1  # no time column


# Long files: parsed a block of rows at a time into one array.

LONG = 150_000  # rows: more than two parse blocks


def test_a_long_file_reads_as_its_rows_across_blocks(tmp_path):
    rows = [f"{i % 1000} , {i}" for i in range(LONG)]  # blanks around cells, as files have
    rows[70_000] = ""  # a blank line is skipped: every later row sits one line lower
    rows[140_000] = "7,"  # an empty cell in the third block
    path = write(tmp_path / "long.csv", "a,b", rows)
    with pytest.raises(ConfigError, match=r", line 140002: column 'b' has no value"):
        read_series(path, ["a", "b"])
    values, stamps, lines = read_series(path, ["a", "b"], missing="ffill")
    kept = [i for i in range(LONG) if i != 70_000]
    assert values.shape == (LONG - 1, 2) and lines.tolist() == [i + 2 for i in kept]
    expected_b = np.array(kept, dtype=np.float64)
    expected_b[kept.index(140_000)] = 139_999  # carried forward
    np.testing.assert_array_equal(values[:, 1], expected_b)
    np.testing.assert_array_equal(values[:, 0], [7 if i == 140_000 else i % 1000 for i in kept])
    assert len(stamps) == LONG - 1 and stamps[-1] == str(LONG - 2) and stamps[:2] == ["0", "1"]
    with pytest.raises(IndexError):
        stamps[LONG]


def test_a_long_file_costs_its_values_not_python_rows(tmp_path):
    import tracemalloc

    path = write(tmp_path / "long.csv", "y", [f"{np.sin(i / 50):.6f}" for i in range(LONG)])
    tracemalloc.start()
    values, _, _ = read_series(path, ["y"])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # Values and lines take 12 bytes a row (1.8 MB), one block of parsed strings a few more:
    # 6 MB in all. Rows held as Python lists of strings take 29 MB.
    assert values.shape == (LONG, 1) and peak < 12e6, f"peak {peak / 1e6:.1f} MB"


@pytest.mark.parametrize("end", ["\n", "\r\n", "\r", "mixed"])
def test_every_line_ending_reads_the_same_rows(tmp_path, end):
    rows = ["y", *map(str, range(1, 8))]
    if end == "mixed":  # a file edited on several systems
        text = "".join(row + ("\r\n", "\n", "\r")[i % 3] for i, row in enumerate(rows))
    else:
        text = end.join(rows) + end
    path = tmp_path / "s.csv"
    path.write_bytes(text.encode())
    values, _, lines = read_series(path, ["y"])
    assert values[:, 0].tolist() == list(range(1, 8)) and lines.tolist() == list(range(2, 9))
