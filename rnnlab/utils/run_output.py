"""What a finished run leaves behind: ``metrics.json``, hparams in TensorBoard, a printed table."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from rich.console import Console
from rich.table import Table


def scalar_metrics(metrics: Mapping[str, Any], prefixes: tuple[str, ...]) -> dict[str, float]:
    """The float values of ``metrics`` whose keys start with one of ``prefixes``."""
    out = {}
    for key, value in metrics.items():
        if key.startswith(prefixes):
            value = value.item() if isinstance(value, torch.Tensor) else value
            out[key] = float(value)
    return out


def write_metrics(path: str | os.PathLike, metrics: Mapping[str, float]) -> Path:
    """Write ``metrics`` as flat, sorted JSON; the file is replaced whole or not at all."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(dict(sorted(metrics.items())), indent=2) + "\n")
    tmp.replace(path)
    return path


def tensorboard_loggers(trainer: L.Trainer) -> list[TensorBoardLogger]:
    """The trainer's TensorBoard loggers (none with ``logger=none``)."""
    return [lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)]


def finish_run(
    trainer: L.Trainer,
    output_dir: str | os.PathLike,
    hparams: Mapping[str, Any],
    metrics: dict[str, float],
    noise_floor: float | None,
) -> dict[str, float]:
    """Add the dataset's noise floor to ``metrics``; on rank zero, log them as hparams, write
    ``metrics.json`` and print the table. Returns the completed metrics."""
    if noise_floor is not None:
        metrics["data/noise_floor"] = noise_floor
    if trainer.is_global_zero:
        log_hparams(trainer, hparams, metrics)
        write_metrics(Path(output_dir) / "metrics.json", metrics)
        print_metrics(metrics, noise_floor)
    return metrics


def log_hparams(trainer: L.Trainer, hparams: Mapping[str, Any], metrics: Mapping[str, float]):
    """Fill TensorBoard's HPARAMS tab with the run's config and its real final metrics."""
    finite = {k: v for k, v in metrics.items() if math.isfinite(v)}
    for logger in tensorboard_loggers(trainer):
        logger.log_hyperparams(dict(hparams), metrics=finite)
        logger.experiment.flush()


def log_config_text(trainer: L.Trainer, config_yaml: str) -> None:
    """Show the resolved config in TensorBoard's TEXT tab."""
    # Markdown would reflow YAML; four leading spaces keep it a code block.
    text = "\n".join("    " + line for line in config_yaml.splitlines())
    for logger in tensorboard_loggers(trainer):
        logger.experiment.add_text("config", text, global_step=0)


def print_metrics(metrics: Mapping[str, float], noise_floor: float | None) -> None:
    """A table of the test metrics (the validation ones for a run without a test), with MSE
    also as a multiple of the noise floor, and the baselines' values (``test/naive_mae``, ...)
    in columns beside the model's."""
    stage = "test" if any(key.startswith("test/") for key in metrics) else "val"
    baselines = [b for b in BASELINE_COLUMNS if any(k.startswith(f"{stage}/{b}_") for k in metrics)]
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
    for baseline in baselines:
        table.add_column(BASELINE_COLUMNS[baseline], justify="right")
    for key, value in sorted(own.items()):
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


# Reference forecasts reported beside the model (``test/naive_mae``, ...), and their headings.
BASELINE_COLUMNS = {"naive": "naive", "seasonal_naive": "seasonal naive"}
