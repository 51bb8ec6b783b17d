"""Forecasting: predict the next ``horizon`` values of a series from a window of its past."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanAbsoluteError, MeanSquaredError, MetricCollection

from rnnlab.data.batch import Batch
from rnnlab.tasks.base import SupervisedTask
from rnnlab.tasks.optim import OptimizerFactory, SchedulerFactory


class ForecastingTask(SupervisedTask):
    """Wraps a sequence encoder with a linear head that emits the next ``horizon`` steps.

    The head reads the encoder's summary of the window (``Encoded.last``). Loss is the mean
    squared error; MSE, MAE and RMSE are reported for ``val`` and ``test`` as
    ``{stage}/{metric}``. Any regression of a whole sequence onto ``horizon x output_size``
    numbers (the adding problem) runs through this task too.

    Args:
        net: an encoder with an ``output_size`` attribute whose forward maps ``(B, T, F)`` and
            lengths to an ``Encoded`` result.
        horizon: steps to predict.
        output_size: target variables per step.
        optimizer, scheduler, scheduler_interval, monitor: as for
            :class:`~rnnlab.tasks.base.SupervisedTask`.
    """

    def __init__(
        self,
        net: nn.Module,
        horizon: int,
        output_size: int,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        scheduler_interval: Literal["step", "epoch"] = "step",
        monitor: str = "val/loss",
    ):
        super().__init__(optimizer, scheduler, scheduler_interval, monitor)
        # Factories stay out of the checkpoint, which then loads with ``weights_only=True``.
        self.save_hyperparameters(ignore=["net", "optimizer", "scheduler"], logger=False)
        self.net = net
        self.head = nn.Linear(net.output_size, horizon * output_size)
        self.metrics = nn.ModuleDict(
            {
                stage: MetricCollection(
                    {
                        "mse": MeanSquaredError(),
                        "mae": MeanAbsoluteError(),
                        "rmse": MeanSquaredError(squared=False),
                    },
                    prefix=f"{stage}/",
                )
                for stage in ("val", "test")
            }
        )

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Forecast ``(B, horizon, output_size)`` from windows ``x`` ``(B, T, F)``."""
        summary = self.net(x, lengths).last  # (B, D*H)
        return self.head(summary).view(x.shape[0], self.hparams.horizon, self.hparams.output_size)

    def predict_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        return self(batch.x, batch.lengths)

    def compute_loss(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        pred = self(batch.x, batch.lengths)  # (B, H, C)
        return F.mse_loss(pred, batch.y), pred

    def update_metrics(self, stage: str, pred: torch.Tensor, batch: Batch) -> None:
        self.metrics[stage].update(pred.flatten(), batch.y.flatten())
        self.log_dict(self.metrics[stage], on_epoch=True)
