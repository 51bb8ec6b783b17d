"""Forecasting from the command line: horizons by strategy, a user's CSV, predictions, errors."""

import csv
import datetime as dt
import json
import math
import random

import pytest

from rnnlab.predict import _windows, predict
from rnnlab.train import train
from rnnlab.utils.errors import ConfigError
from tests.conftest import compose_config, run_main

QUICK = [
    "model.hidden_size=16",
    "trainer=cpu",
    "trainer.max_epochs=2",
    "~callbacks.rich_progress_bar",
    "~callbacks.rich_model_summary",
]


def daily_csv(path, days=240, duplicate=False, bad=None):
    """Sales with a weekly pattern, a temperature (past covariate) and a promotion flag (known
    in advance), one row per day."""
    rows = ["date,sales,temp,promo"]
    for d in range(days):
        day = dt.date(2023, 1, 1) + dt.timedelta(days=d)
        promo = int(d % 10 == 0)
        sales = 1000 + 50 * math.sin(2 * math.pi * d / 7) + 80 * promo + d * 0.5
        rows.append(f"{day.isoformat()},{sales:.2f},{15 + 10 * math.sin(d / 30):.2f},{promo}")
    if duplicate:
        rows.insert(5, rows[4])
    if bad:
        rows[bad[0]] = bad[1]
    path.write_text("\n".join(rows) + "\n")
    return path


def monthly_trend_csv(path, years=25, seed=0):
    """25 years of months: a linear trend, a yearly season and noise (seeded), so the test
    years lie above every level seen in training."""
    rng = random.Random(seed)
    rows = ["month,sales"]
    for i in range(12 * years):
        season = 10 * math.sin(2 * math.pi * i / 12) + 5 * math.cos(4 * math.pi * i / 12)
        value = 100 + 0.5 * i + season + rng.gauss(0, 2)
        rows.append(f"{dt.date(2000 + i // 12, i % 12 + 1, 1).isoformat()},{value:.3f}")
    path.write_text("\n".join(rows) + "\n")
    return path


def test_a_trending_seasonal_csv_beats_seasonal_naive_with_the_plain_defaults(tmp_path):
    path = monthly_trend_csv(tmp_path / "monthly.csv")
    overrides = ["model=gru", "data=csv", f"data.path={path}", "data.target=sales",
                 "data.time_column=month", "trainer=cpu", "~callbacks.rich_progress_bar",
                 "~callbacks.rich_model_summary", "~callbacks.forecast_figure"]  # fmt: skip
    metrics, objects = train(compose_config("train", overrides, tmp_path / "run"))
    assert objects["datamodule"].spec.season == 12  # read from the monthly time column
    assert metrics["test/mase"] < 1
    assert metrics["test/mase"] < metrics["test/seasonal_naive_mase"]
    # The plain forecasting task, without window normalisation, is what the default fixes.
    raw, _ = train(compose_config("train", [*overrides, "task=forecasting"], tmp_path / "raw"))
    assert raw["test/mase"] > 1


@pytest.mark.parametrize("strategy", ["direct", "recursive", "seq2seq"])
def test_every_strategy_reports_error_by_step_beside_the_baselines(tmp_path, strategy):
    overrides = ["model=lstm", "data=sine", "data.length=6000", "data.horizon=4",
                 f"task.strategy={strategy}", *QUICK]  # fmt: skip
    metrics, _ = train(compose_config("train", overrides, tmp_path))
    steps = [metrics[f"test/mae_step{h}"] for h in range(1, 5)]
    assert all(v > 0 for v in steps)
    for name in ("mae", "rmse", "mape", "smape", "mase"):
        assert {f"test/{name}", f"test/naive_{name}", f"test/seasonal_naive_{name}"} <= set(metrics)
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert written["test/mae_step4"] == pytest.approx(steps[-1])


def test_a_users_csv_with_covariates_trains_and_predicts_in_original_units(tmp_path):
    path = daily_csv(tmp_path / "sales.csv")
    overrides = ["model=gru", "data=csv", f"data.path={path}", "data.target=sales",
                 "data.time_column=date", "data.past_covariates=[temp]",
                 "data.future_covariates=[promo]", "data.window=14", "data.horizon=3",
                 "data.season=7", *QUICK]  # fmt: skip
    metrics, _ = train(compose_config("train", overrides, tmp_path / "run"))
    assert metrics["test/seasonal_naive_mase"] > 0
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    table = predict(compose_config("predict", [f"ckpt_path={ckpt}"], tmp_path))
    rows = list(csv.DictReader(table.splitlines()))
    assert list(rows[0]) == ["split", "origin", "time", "step", "sales_forecast", "sales_actual"]
    file = {r["date"]: float(r["sales"]) for r in csv.DictReader(path.open())}
    for row in rows:
        assert float(row["sales_actual"]) == pytest.approx(file[row["time"]], abs=0.01)
        assert 700 < float(row["sales_forecast"]) < 1400  # original units, not standardised
    first = [r for r in rows if r["origin"] == rows[0]["origin"]]
    assert [r["step"] for r in first] == ["1", "2", "3"]
    assert first[0]["time"] > first[0]["origin"]
    # A newer file whose last 3 days give the promotions planned and leave sales (and the
    # temperature, a past covariate) empty: the last window forecasts those 3 days.
    lines = path.read_text().splitlines()
    planned = [",".join([day, "", "", promo]) for day, *_, promo in
               (line.split(",") for line in lines[-3:])]  # fmt: skip
    newer = tmp_path / "newer.csv"
    newer.write_text("\n".join([lines[0], *lines[-30:-3], *planned]) + "\n")
    table = predict(compose_config("predict", [f"ckpt_path={ckpt}", f"input={newer}"], tmp_path))
    rows = list(csv.DictReader(table.splitlines()))
    last = [r for r in rows if r["origin"] == lines[-4].split(",")[0]]
    assert [r["time"] for r in last] == [line.split(",")[0] for line in lines[-3:]]
    assert [r["sales_actual"] for r in last] == ["", "", ""]
    assert all(700 < float(r["sales_forecast"]) < 1400 for r in last)
    assert rows[-1] == last[-1]  # no window after it
    too_many = tmp_path / "too_many.csv"
    blank = [",".join([line.split(",")[0], "", "", "0"]) for line in lines[-4:]]
    too_many.write_text("\n".join([lines[0], *lines[-30:-4], *blank]) + "\n")
    with pytest.raises(ConfigError, match="its last 4 rows leave every target empty, more than"):
        predict(compose_config("predict", [f"ckpt_path={ckpt}", f"input={too_many}"], tmp_path))


def test_predict_forecasts_a_newer_file_whole_and_past_its_end(tmp_path):
    path = daily_csv(tmp_path / "sales.csv", days=240)  # 2023-01-01 to 2023-08-28
    overrides = ["model=gru", "data=csv", f"data.path={path}", "data.target=sales",
                 "data.time_column=date", "data.window=14", "data.horizon=3",
                 "data.split_dates=[2023-06-01,2023-07-15]", *QUICK]  # fmt: skip
    train(compose_config("train", overrides, tmp_path / "run"))
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    lines = path.read_text().splitlines()
    newer = tmp_path / "newer.csv"  # the last 20 days: after both split dates, shorter than a span
    newer.write_text("\n".join([lines[0], *lines[-20:]]) + "\n")
    table = predict(compose_config("predict", [f"ckpt_path={ckpt}", f"input={newer}"], tmp_path))
    rows = list(csv.DictReader(table.splitlines()))
    assert {r["split"] for r in rows} == {"input"}
    origins = list(dict.fromkeys(r["origin"] for r in rows))
    assert origins[0] == "2023-08-22" and origins[-1] == "2023-08-28"  # row 14 on, to the end
    assert len(rows) == 3 * (20 - 14 + 1)
    file = {r["date"]: r["sales"] for r in csv.DictReader(newer.open())}
    for row in rows:
        if row["time"]:  # a step inside the file: its actual value
            assert float(row["sales_actual"]) == pytest.approx(float(file[row["time"]]), abs=0.01)
    past = [r for r in rows if r["origin"] == "2023-08-28"]
    assert [(r["time"], r["sales_actual"]) for r in past] == [("", "")] * 3
    assert all(700 < float(r["sales_forecast"]) < 1400 for r in past)
    short = tmp_path / "short.csv"
    short.write_text("\n".join([lines[0], *lines[-5:]]) + "\n")
    with pytest.raises(ConfigError, match=f"input={short} holds 5 time steps; the model reads"):
        predict(compose_config("predict", [f"ckpt_path={ckpt}", f"input={short}"], tmp_path))


def test_a_run_on_a_relative_path_predicts_from_another_directory(tmp_path, monkeypatch):
    (tmp_path / "project").mkdir()
    daily_csv(tmp_path / "project" / "sales.csv", days=120)
    monkeypatch.chdir(tmp_path / "project")
    overrides = ["model=gru", "data=csv", "data.path=sales.csv", "data.target=sales",
                 "data.window=7", *QUICK]  # fmt: skip
    train(compose_config("train", overrides, tmp_path / "run"))
    monkeypatch.chdir(tmp_path)  # where sales.csv is not
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    table = predict(compose_config("predict", [f"ckpt_path={ckpt}"], tmp_path))
    assert table.startswith("split,origin,time,step,sales_forecast,sales_actual\ntest,")


@pytest.mark.parametrize(
    "change, message",
    [
        ({"target": "revenue"}, "has no column 'revenue'"),
        ({"bad": (6, "2023-01-06,abc,1,0")}, "line 7: column 'sales' holds 'abc', not a number"),
        ({"days": 10}, "fewer than data.window=14 plus data.horizon=3"),
        ({"duplicate": True}, "2023-01-04"),
    ],
)
def test_bad_series_end_the_run_in_one_line(tmp_path, change, message):
    path = daily_csv(
        tmp_path / "s.csv",
        days=change.get("days", 240),
        duplicate=change.get("duplicate", False),
        bad=change.get("bad"),
    )
    args = ["model=gru", "data=csv", f"data.path={path}",
            f"data.target={change.get('target', 'sales')}", "data.time_column=date",
            "data.window=14", "data.horizon=3"]  # fmt: skip
    result = run_main("rnnlab.train", *args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().startswith("error: ") and message in result.stderr
    assert result.stderr.strip().count("\n") == 0


def test_predict_refuses_a_split_it_does_not_know(tmp_path):
    overrides = ["model=gru", "data=sine", "data.length=3000", *QUICK]
    train(compose_config("train", overrides, tmp_path / "run"))
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    with pytest.raises(ConfigError, match="split='future' is not one of"):
        predict(compose_config("predict", [f"ckpt_path={ckpt}", "split=future"], tmp_path))


def test_predict_refuses_a_data_module_that_keeps_no_windows():
    class OwnWindows:  # a user's forecasting data module, its windows a Dataset of its own
        datasets = {"train": [], "val": [], "test": []}

    with pytest.raises(ConfigError) as refused:
        _windows(OwnWindows(), ("val", "test"))
    assert str(refused.value) == (
        "rnnlab.predict reads a forecaster's windows from its data module's datasets[<split>], "
        "each a rnnlab.data.batch.WindowDataset, and OwnWindows has none for val, test; call "
        "the task's predict() from Python on batches of your own instead."
    )


@pytest.mark.parametrize("strategy", ["direct", "recursive", "seq2seq"])
def test_several_targets_work_with_every_strategy(tmp_path, strategy):
    path = tmp_path / "two.csv"
    lines = ["step,a,b"] + [
        f"{t},{math.sin(t / 5):.4f},{math.cos(t / 7) * 10:.4f}" for t in range(300)
    ]
    path.write_text("\n".join(lines) + "\n")
    overrides = ["model=gru", "data=csv", f"data.path={path}", "data.target=[a,b]",
                 "data.time_column=step", "data.window=12", "data.horizon=3",
                 f"task.strategy={strategy}", *QUICK]  # fmt: skip
    metrics, _ = train(compose_config("train", overrides, tmp_path / "run"))
    assert metrics["test/mae"] > 0 and "test/mae_step3" in metrics
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    table = predict(compose_config("predict", [f"ckpt_path={ckpt}"], tmp_path))
    header = table.splitlines()[0].split(",")
    assert header[4:] == ["a_forecast", "a_actual", "b_forecast", "b_actual"]
