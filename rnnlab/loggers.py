"""Loggers that rnnlab configures beyond Lightning's own (``conf/logger/``)."""

from __future__ import annotations

from collections.abc import Mapping

from lightning.pytorch.loggers import TensorBoardLogger as LightningTensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only

EPOCH_TAG = "trainer/epoch"


class TensorBoardLogger(LightningTensorBoardLogger):
    """Lightning's TensorBoard logger (every argument and behaviour its own), with the epoch
    counter that Lightning adds to every record written as ``trainer/epoch`` instead of
    ``epoch``.

    TensorBoard's time-series tab shows its groups of cards in order of name, and a tag
    without a ``/`` is a group of its own: a bare ``epoch`` opened the tab on a chart of the
    counter, above the run's metrics. As ``trainer/epoch`` it is still there, after ``train/``.
    Other loggers (CSV, MLflow, W&B) keep Lightning's ``epoch``.
    """

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        if "epoch" in metrics:
            metrics = {(EPOCH_TAG if key == "epoch" else key): v for key, v in metrics.items()}
        super().log_metrics(metrics, step)
