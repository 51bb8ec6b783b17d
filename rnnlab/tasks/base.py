"""What every supervised task shares: one step for all stages, losses, optimizers."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Literal

import lightning as L
import torch
from torch import nn
from torchmetrics import MeanMetric, MinMetric

from rnnlab.data.batch import Batch
from rnnlab.tasks.optim import OptimizerFactory, SchedulerFactory, configure_optimizers

# Values that can never be a parameter, buffer or submodule.
_PLAIN_VALUES = (str, int, float, bool, type(None))


class SupervisedTask(L.LightningModule, ABC):
    """A ``LightningModule`` whose subclasses say how a batch becomes a loss, and what to measure.

    It logs ``{stage}/loss`` (``train/loss`` on logging steps, ``train/loss_epoch`` per epoch,
    epoch means for ``val`` and ``test``) and ``val/loss_best``, and builds the optimizer and
    scheduler from their partials.

    Args:
        optimizer: a partial that builds the optimizer from ``params``.
        scheduler: an optional partial that builds an LR scheduler from the optimizer.
        scheduler_interval: step the scheduler every ``step`` or every ``epoch``.
        monitor: metric a ``ReduceLROnPlateau`` scheduler watches.
    """

    def __init__(
        self,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        scheduler_interval: Literal["step", "epoch"] = "step",
        monitor: str = "val/loss",
    ):
        super().__init__()
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.scheduler_interval = scheduler_interval
        self.monitor = monitor
        self.losses = nn.ModuleDict({stage: MeanMetric() for stage in ("val", "test")})
        # The training loss's epoch mean is summed by hand: a metric's update, with its input
        # checks, costs a few per cent of a small net's step.
        self.register_buffer("train_loss_sum", torch.zeros(()), persistent=False)
        self.train_loss_count = 0
        self.val_loss_best = MinMetric()

    def __setattr__(self, name: str, value: Any) -> None:
        # Lightning records the running hook's name on the module twice per hook and callback,
        # about fifty times a step. ``nn.Module.__setattr__`` makes several Python-level type
        # checks for each (1 µs, against 0.1 µs here); a plain value under a name that is no
        # parameter, buffer or submodule is stored exactly as it would store it.
        members = self.__dict__
        if (
            isinstance(value, _PLAIN_VALUES)
            and "_parameters" in members  # Module.__init__ has run
            and name not in members["_parameters"]
            and name not in members["_buffers"]
            and name not in members["_modules"]
        ):
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    @abstractmethod
    def compute_loss(self, batch: Batch) -> tuple[torch.Tensor, Any]:
        """The batch's mean loss, and the outputs that ``update_metrics`` needs."""

    @abstractmethod
    def update_metrics(self, stage: str, outputs: Any, batch: Batch) -> None:
        """Update and log the ``val`` or ``test`` metrics with one batch."""

    def loss_weight(self, batch: Batch) -> int | torch.Tensor:
        """How many items the batch's mean loss averages over (its sequences), so that epoch
        means weigh every item alike; a tensor count avoids a device sync."""
        return len(batch)

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        loss, _ = self.compute_loss(batch)
        weight = self.loss_weight(batch)
        self.train_loss_sum.add_(loss.detach() * weight)
        self.train_loss_count += weight
        # `self.log` costs about half a millisecond of bookkeeping, a fifth of a small-batch
        # step on a CPU, so the step loss is logged only on the steps whose values the logger
        # writes (every `trainer.log_every_n_steps`).
        if (self.global_step + 1) % self.trainer.log_every_n_steps == 0:
            self.log("train/loss", loss)  # the progress bar reads it when it redraws
        return loss

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._evaluation_step(batch, "val")

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._evaluation_step(batch, "test")

    def configure_optimizers(self):
        return configure_optimizers(
            self.parameters(),
            self.optimizer_factory,
            self.scheduler_factory,
            self.scheduler_interval,
            self.monitor,
            self.scheduled_steps(),
            self.trainer.precision,
        )

    def scheduled_steps(self) -> int:
        """Optimizer steps in the whole run, which a one-cycle schedule spans."""
        return self.trainer.estimated_stepping_batches

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

    def _evaluation_step(self, batch: Batch, stage: str) -> None:
        loss, outputs = self.compute_loss(batch)
        self.losses[stage].update(loss, weight=self.loss_weight(batch))
        self.log(f"{stage}/loss", self.losses[stage], on_epoch=True, prog_bar=True)
        self.update_metrics(stage, outputs, batch)
