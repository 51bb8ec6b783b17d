"""Reports a trial's validation metric to its Optuna study and stops the trial when the study's
pruner says so."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import lightning as L
from lightning.pytorch import Callback

from rnnlab.utils.errors import ConfigError


class OptunaPruning(Callback):
    """After each validation, rank zero reports ``monitor`` at the epoch's index to the trial
    that ``open_trial`` returns (opened on first use) and asks the pruner; every rank then
    follows its answer, so DDP processes stop together. A pruned run stops at the end of the
    epoch; ``pruned`` then says at which epoch and with what value, and the caller skips the
    test and reports the trial as pruned.
    """

    def __init__(self, open_trial: Callable[[], Any], monitor: str):
        self.open_trial = open_trial
        self.monitor = monitor
        self.pruned: dict[str, float] | None = None  # {"epoch": ..., "value": ...} once pruned
        self._trial = None

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        epoch = trainer.current_epoch
        value = math.nan
        prune = False
        if trainer.is_global_zero:
            value = self._value(trainer)
            if self._trial is None:
                self._trial = self.open_trial()
            self._trial.report(value, step=epoch)
            prune = self._trial.should_prune()
        prune = trainer.strategy.broadcast(prune, src=0)
        if prune:
            self.pruned = {"epoch": epoch, "value": value}
            trainer.should_stop = True

    def _value(self, trainer: L.Trainer) -> float:
        metrics = trainer.callback_metrics
        if self.monitor not in metrics:
            logged = ", ".join(sorted(k for k in metrics if k.startswith("val/")))
            raise ConfigError(
                f"hydra.sweeper.monitor={self.monitor} is not logged at validation; "
                f"choose one of: {logged}."
            )
        return float(metrics[self.monitor])
