"""Forecasts written back as CSV, in original units with their timestamps (``rnnlab.predict``).

Each row is one forecast value: the forecast origin (the time of the window's last input step),
the time forecast, the horizon step, and for each target the forecast and the actual value.
"""

from __future__ import annotations

import csv
import io

import torch
from omegaconf import DictConfig, OmegaConf

from rnnlab.data.batch import DataSpec
from rnnlab.tasks.forecasting import ForecastingTask
from rnnlab.utils.errors import check
from rnnlab.utils.instantiate import instantiate

SPLITS = ("train", "val", "test", "all")


def forecast_table(
    saved: DictConfig, spec: DataSpec, task: ForecastingTask, split: str, path: str | None
) -> str:
    """The forecasts of every window of ``split`` (or of all three) as CSV text.

    The data is rebuilt from the run's saved config; ``path`` replaces its ``data.path`` (a new
    CSV with the same columns). Inputs are scaled with the scaler saved at training, not one
    fitted on the new file, so the model sees what it was trained on.
    """
    check(split in SPLITS, f"split={split!r} is not one of {', '.join(SPLITS)}.")
    node = OmegaConf.create(OmegaConf.to_container(saved.data))
    if path is not None:
        check("path" in node, "input= replaces data.path, and this run's data has no file.")
        node.path = str(path)
    datamodule = instantiate(node, "data")
    datamodule.setup()
    series = datamodule.series
    mean, std = spec.extras.get("scaler_mean"), spec.extras.get("scaler_std")
    if mean is not None and hasattr(datamodule, "use_scaler"):
        datamodule.use_scaler(mean, std)
    timestamps = getattr(datamodule, "timestamps", None) or [str(i) for i in range(len(series))]
    names = spec.extras.get("target_names") or [f"y{i}" for i in range(spec.output_size)]

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "split",
            "origin",
            "time",
            "step",
            *(f"{n}_{k}" for n in names for k in ("forecast", "actual")),
        ]
    )
    for name in ("train", "val", "test") if split == "all" else (split,):
        dataset = datamodule.datasets[name]
        for index in torch.arange(len(dataset)).split(1024):
            batch = dataset[index]
            with torch.no_grad():
                forecast = task.unscale(task(batch.x, batch.lengths, batch.future))
            actual = task.unscale(batch.y)
            for row, start in enumerate(dataset.starts[index].tolist()):
                for step in range(forecast.shape[1]):
                    values = [
                        f"{v:.6g}"
                        for c in range(forecast.shape[2])
                        for v in (float(forecast[row, step, c]), float(actual[row, step, c]))
                    ]
                    origin, time = timestamps[start - 1], timestamps[start + step]
                    writer.writerow([name, origin, time, step + 1, *values])
    return out.getvalue()
