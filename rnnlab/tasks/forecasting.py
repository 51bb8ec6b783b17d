"""Forecasting: predict the next ``horizon`` values of a series from a window of its past."""

from __future__ import annotations

from typing import Literal

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import (
    MeanAbsoluteError,
    MeanMetric,
    MeanSquaredError,
    MetricCollection,
    MinMetric,
)

from rnnlab.data.batch import Batch
from rnnlab.tasks.optim import OptimizerFactory, SchedulerFactory, configure_optimizers


class ForecastingTask(L.LightningModule):
    """Wraps a sequence encoder with a linear head that emits the next ``horizon`` steps.

    The head reads the encoder's summary of the window (``Encoded.last``). Loss is the mean
    squared error; MSE, MAE and RMSE are reported per stage as ``{stage}/{metric}``, and the
    best validation loss so far as ``val/loss_best``.

    Args:
        net: an encoder with an ``output_size`` attribute whose forward maps ``(B, T, F)`` and
            lengths to an ``Encoded`` result.
        horizon: steps to predict.
        output_size: target variables per step.
        optimizer: a partial that builds the optimizer from ``params``.
        scheduler: an optional partial that builds an LR scheduler from the optimizer.
        scheduler_interval: step the scheduler every ``step`` or every ``epoch``.
        monitor: metric a ``ReduceLROnPlateau`` scheduler watches.
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
        super().__init__()
        # Factories stay out of the checkpoint, which then loads with ``weights_only=True``.
        self.save_hyperparameters(ignore=["net", "optimizer", "scheduler"], logger=False)
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.net = net
        self.head = nn.Linear(net.output_size, horizon * output_size)
        self.losses = nn.ModuleDict({stage: MeanMetric() for stage in ("val", "test")})
        # The training loss's epoch mean is summed by hand: a metric's update, with its input
        # checks, costs a few per cent of a small net's step.
        self.register_buffer("train_loss_sum", torch.zeros(()), persistent=False)
        self.train_loss_count = 0
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
        self.val_loss_best = MinMetric()

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Forecast ``(B, horizon, output_size)`` from windows ``x`` ``(B, T, F)``."""
        summary = self.net(x, lengths).last  # (B, D*H)
        return self.head(summary).view(x.shape[0], self.hparams.horizon, self.hparams.output_size)

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        return self._shared_step(batch, "train")

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._shared_step(batch, "val")

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._shared_step(batch, "test")

    def predict_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        return self(batch.x, batch.lengths)

    def configure_optimizers(self):
        return configure_optimizers(
            self.parameters(),
            self.optimizer_factory,
            self.scheduler_factory,
            self.hparams.scheduler_interval,
            self.hparams.monitor,
            self.trainer.estimated_stepping_batches,
            self.trainer.precision,
        )

    def on_train_start(self) -> None:
        # The sanity check's validation batches must not count towards the best value.
        self.val_loss_best.reset()

    def on_train_epoch_end(self) -> None:
        if self.train_loss_count:
            mean = self.train_loss_sum / self.train_loss_count
            self.log("train/loss_epoch", mean, sync_dist=True)  # ranks see equal batch counts
        self.train_loss_sum.zero_()
        self.train_loss_count = 0

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            return
        self.val_loss_best(self.losses["val"].compute())
        self.log("val/loss_best", self.val_loss_best.compute(), sync_dist=True)

    def _shared_step(self, batch: Batch, stage: str) -> torch.Tensor:
        pred = self(batch.x, batch.lengths)  # (B, H, C)
        loss = F.mse_loss(pred, batch.y)
        if stage == "train":
            self.train_loss_sum += loss.detach() * len(batch)
            self.train_loss_count += len(batch)
            # `self.log` costs about half a millisecond of bookkeeping, a fifth of a small-batch
            # step on a CPU, so the step loss is logged only on the steps whose values the logger
            # writes (every `trainer.log_every_n_steps`); the epoch mean is logged at epoch end.
            if (self.global_step + 1) % self.trainer.log_every_n_steps == 0:
                self.log("train/loss", loss, prog_bar=True)
        else:
            self.losses[stage].update(loss, weight=len(batch))
            self.log(f"{stage}/loss", self.losses[stage], on_epoch=True, prog_bar=True)
            self.metrics[stage].update(pred.flatten(), batch.y.flatten())
            self.log_dict(self.metrics[stage], on_epoch=True)
        return loss
