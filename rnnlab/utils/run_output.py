"""What a finished run leaves behind: ``metrics.json`` and ``metric_modes.json``, its config and
final metrics in every logger (TensorBoard, CSV, MLflow, W&B), a printed table."""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.loggers import MLFlowLogger, TensorBoardLogger, WandbLogger
from rich.console import Console
from rich.table import Table

from rnnlab.loggers import TensorBoardLogger as RnnlabTensorBoardLogger
from rnnlab.utils.atomic import atomic_write_text
from rnnlab.utils.run_files import METRICS_FILE, MODES_FILE, NONFINITE_KEY


def scalar_metrics(metrics: Mapping[str, Any], prefixes: tuple[str, ...]) -> dict[str, float]:
    """The float values of ``metrics`` whose keys start with one of ``prefixes``."""
    out = {}
    for key, value in metrics.items():
        if key.startswith(prefixes):
            value = value.item() if isinstance(value, torch.Tensor) else value
            out[key] = float(value)
    return out


def write_metrics(path: str | os.PathLike, metrics: Mapping[str, Any]) -> Path:
    """Write ``metrics`` as flat, sorted JSON; the file is replaced whole or not at all.

    The JSON is strict: a value that is not finite is written as ``null``, and the key
    ``nonfinite`` maps each such metric to ``"nan"``, ``"inf"`` or ``"-inf"``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    values, nonfinite = {}, {}
    for key, value in sorted(metrics.items()):
        if isinstance(value, float) and not math.isfinite(value):
            value, nonfinite[key] = None, str(value)  # "nan", "inf", "-inf"
        values[key] = value
    if nonfinite:
        values[NONFINITE_KEY] = nonfinite
    return atomic_write_text(path, json.dumps(values, indent=2, allow_nan=False) + "\n")


def tensorboard_loggers(trainer: L.Trainer) -> list[TensorBoardLogger]:
    """The trainer's TensorBoard loggers (none with ``logger=none``)."""
    return [lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)]


def finish_run(
    trainer: L.Trainer,
    output_dir: str | os.PathLike,
    hparams: Mapping[str, Any],
    metrics: dict[str, float],
    facts: Mapping[str, float],
    mode: Callable[[str], str],
    baselines: Mapping[str, str],
) -> dict[str, float]:
    """Add the dataset's ``facts`` (``data/<name>``) to ``metrics``; on rank zero, log them as
    hparams, write ``metrics.json`` and, with each metric's direction by ``mode``,
    ``metric_modes.json``, and print the table with the ``baselines`` (name: heading) in
    columns. Returns the completed metrics."""
    metrics |= facts
    if trainer.is_global_zero:
        log_hparams(trainer, hparams, metrics)
        output_dir = Path(output_dir)
        modes = {key: mode(key) for key in metrics if not key.startswith("data/")}
        write_metrics(output_dir / MODES_FILE, modes)
        write_metrics(output_dir / METRICS_FILE, metrics)
        print_metrics(metrics, baselines)
    return metrics


def log_hparams(trainer: L.Trainer, hparams: Mapping[str, Any], metrics: Mapping[str, float]):
    """Give every logger the run's config and its real final metrics: TensorBoard's HPARAMS
    tab; the parameters and final metrics (at the last step) of any other logger, such as
    CSV's ``hparams.yaml`` and ``metrics.csv``, an MLflow run or a W&B run.

    In TensorBoard, whose HPARAMS tab reads each metric from the last scalar of its tag, every
    metric is one point on its chart (:meth:`rnnlab.loggers.TensorBoardLogger.log_hyperparams`).
    The data's facts (``data/noise_floor``, ``data/chance_acc``) are columns of the settings,
    not metrics: a metric of the HPARAMS tab is also a scalar chart, and a fact would be a chart
    of one point at the head of the time-series tab."""
    finite = {k: v for k, v in metrics.items() if math.isfinite(v)}
    facts = {k: v for k, v in finite.items() if k.startswith("data/")}
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            results = {k: v for k, v in finite.items() if k not in facts}
            # Each metric one point on its chart: rnnlab's logger leaves out the test results
            # Lightning wrote, and writes the rest at the step of its latest scalar, where
            # Lightning wrote them, not at a step 0 of their own (a line from the run's start)
            # nor at `global_step` (optimizer steps: past the curves' end where a batch takes
            # several). Lightning's own logger keeps no record: every metric, at `global_step`.
            step = None if isinstance(logger, RnnlabTensorBoardLogger) else trainer.global_step
            logger.log_hyperparams({**hparams, **facts}, metrics=results, step=step)
            logger.experiment.flush()
        else:
            logger.log_hyperparams(dict(hparams))
            logger.log_metrics(finite, step=trainer.global_step)
            logger.save()  # Lightning saved and finalised it after testing; this comes later
            if isinstance(logger, WandbLogger):
                # Written out now: a later run of this process (a sweep, `rnnlab.train.run`
                # called twice) would otherwise log into this W&B run.
                logger.experiment.finish()


def log_layout(trainer: L.Trainer, headline: str | None) -> None:
    """TensorBoard's CUSTOM SCALARS tab: the training and validation loss in one chart, and
    the task's ``headline`` metric (``acc``, ``mse``, ``bpc``) of validation and test in
    another."""
    charts = {"loss": ["Multiline", [r"^train/loss$", r"^val/loss$"]]}
    if headline:
        charts[headline] = ["Multiline", [rf"^val/{headline}$", rf"^test/{headline}$"]]
    for logger in tensorboard_loggers(trainer):
        logger.experiment.add_custom_scalars({"rnnlab": charts})


def log_config_text(trainer: L.Trainer, config_yaml: str) -> None:
    """Show the resolved config in TensorBoard's TEXT tab, and keep it as ``config.yaml`` among
    an MLflow run's artifacts."""
    # Markdown would reflow YAML; four leading spaces keep it a code block.
    text = "\n".join("    " + line for line in config_yaml.splitlines())
    for logger in tensorboard_loggers(trainer):
        logger.experiment.add_text("config", text, global_step=0)
    for logger in trainer.loggers:
        if isinstance(logger, MLFlowLogger):
            logger.experiment.log_text(logger.run_id, config_yaml, "config.yaml")


def print_metrics(metrics: Mapping[str, float], baselines: Mapping[str, str] | None = None) -> None:
    """A table of the test metrics (the validation ones for a run without a test), with MSE
    also as a multiple of the data's noise floor where it has one, and the values of
    ``baselines`` (name: heading; ``test/naive_mae``, ...) in columns beside the model's."""
    stage = "test" if any(key.startswith("test/") for key in metrics) else "val"
    noise_floor = metrics.get("data/noise_floor")
    baselines = {
        name: heading
        for name, heading in (baselines or {}).items()
        if any(k.startswith(f"{stage}/{name}_") for k in metrics)
    }
    own = {
        key: value
        for key, value in metrics.items()
        if key.startswith(f"{stage}/")
        and not any(key.startswith(f"{stage}/{b}_") for b in baselines)
    }
    table = Table(title=f"{stage} metrics")
    table.add_column("metric")
    table.add_column("value", justify="right")
    has_floor = noise_floor is not None and noise_floor > 0
    if has_floor:
        table.add_column("× noise floor", justify="right")
    for heading in baselines.values():
        table.add_column(heading, justify="right")
    for key, value in sorted(own.items(), key=lambda item: _numbers_in_order(item[0])):
        row = [key, f"{value:.6g}"]
        if has_floor:
            row.append(f"{value / noise_floor:.3f}" if key.endswith("/mse") else "")
        for baseline in baselines:
            other = metrics.get(key.replace(f"{stage}/", f"{stage}/{baseline}_", 1))
            row.append("" if other is None else f"{other:.6g}")
        table.add_row(*row)
    if noise_floor is not None:
        pad = [""] * len(baselines)
        table.add_row(
            "data/noise_floor", f"{noise_floor:.6g}", *(["1.000"] if has_floor else []), *pad
        )
    Console().print(table)


def _numbers_in_order(key: str) -> list[str | int]:
    """A sort key that puts ``test/acc@50`` before ``test/acc@200``: the digits of ``key``
    compare as numbers."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", key)]
