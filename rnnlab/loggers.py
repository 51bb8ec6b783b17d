"""Loggers that rnnlab configures beyond Lightning's own (``conf/logger/``), and the logging
interval it chooses for a run that sets none."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import lightning as L
from lightning.pytorch import Callback
from lightning.pytorch.loggers import TensorBoardLogger as LightningTensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only
from torch import Tensor

EPOCH_TAG = "trainer/epoch"
LIGHTNING_LOG_INTERVAL = 50  # Lightning's `log_every_n_steps` where none is given


class TensorBoardLogger(LightningTensorBoardLogger):
    """Lightning's TensorBoard logger (every argument and behaviour its own), with the epoch
    counter that Lightning adds to every record written as ``trainer/epoch`` instead of
    ``epoch``, and the final metrics of :meth:`log_hyperparams` written once each.

    TensorBoard's time-series tab shows its groups of cards in order of name, and a tag
    without a ``/`` is a group of its own: a bare ``epoch`` opened the tab on a chart of the
    counter, above the run's metrics. As ``trainer/epoch`` it is still there, after ``train/``.
    Other loggers (CSV, MLflow, W&B) keep Lightning's ``epoch``.

    The logger keeps each scalar tag's last value (``last_values``) and the step of the latest
    scalar it wrote (``last_step``, the step axis Lightning's scalars use: Lightning batches,
    which are not ``global_step`` where a batch takes several optimizer steps).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.last_values: dict[str, float] = {}
        self.last_step: int | None = None
        self._written: frozenset[str] = frozenset()  # inside log_hyperparams: not again

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        if "epoch" in metrics:
            metrics = {(EPOCH_TAG if key == "epoch" else key): v for key, v in metrics.items()}
        metrics = {key: v for key, v in metrics.items() if key not in self._written}
        super().log_metrics(metrics, step)
        for key, value in metrics.items():
            if isinstance(value, Tensor):
                value = value.item()
            if isinstance(value, int | float):
                self.last_values[key] = float(value)
        if metrics and step is not None:
            self.last_step = step if self.last_step is None else max(self.last_step, step)

    @rank_zero_only
    def log_hyperparams(
        self,
        params: Any,
        metrics: dict[str, Any] | None = None,
        step: int | None = None,
    ) -> None:
        """Lightning's: ``params`` as the HPARAMS tab's settings and ``metrics`` as its metric
        columns, each of which TensorBoard reads from the last scalar of its tag in this run.

        A metric whose last scalar already holds its value (``test/loss``, written by
        Lightning when testing) is not written again, so its chart keeps one point; the others
        (``val/acc_best``, a baseline's scores) are written at ``step``, by default the step of
        the latest scalar, where Lightning wrote the test results.
        """
        if not isinstance(metrics, dict) or not metrics:
            super().log_hyperparams(params, metrics, step)
            return
        self._written = frozenset(key for key, value in metrics.items() if self._holds(key, value))
        try:
            super().log_hyperparams(params, metrics, self.last_step if step is None else step)
        finally:
            self._written = frozenset()

    def _holds(self, key: str, value: Any) -> bool:
        """Whether the last scalar of tag ``key`` is ``value`` (as TensorBoard keeps it, a
        32-bit float)."""
        last = self.last_values.get(key)
        value = value.item() if isinstance(value, Tensor) else value
        return last is not None and math.isclose(last, float(value), rel_tol=1e-6)


class LogEveryEpoch(Callback):
    """Chooses the trainer's ``log_every_n_steps`` once the training batches are counted:
    Lightning's 50, or the batches of one epoch where an epoch holds fewer, so that every
    epoch puts at least one point on each training curve (``train/loss``, ``train/lr``).

    For a trainer whose ``log_every_n_steps`` nobody set: Lightning's fixed 50 leaves a run of
    6 batches an epoch with no ``train/loss`` at all, and warns on every such run. Until the
    batches are counted (Lightning counts them when it loads the training data, and warns
    there) the trainer logs no training step; a run has taken none by then.
    """

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage == "fit":
            trainer.log_every_n_steps = 0  # no interval to compare the batches with yet

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        batches = trainer.num_training_batches  # per epoch, after limit_train_batches; inf
        trainer.log_every_n_steps = max(1, int(min(LIGHTNING_LOG_INTERVAL, batches)))
