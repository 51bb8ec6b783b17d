"""The best value of every validation metric over a run, as ``val/<metric>_best``."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import lightning as L
from lightning.pytorch import Callback


class BestMetrics(Callback):
    """After each validation, keeps the best value so far of every scalar ``val/<metric>``:
    the highest where ``mode(key)`` is ``max`` (the task's own directions, such as
    :meth:`~rnnlab.tasks.base.SupervisedTask.metric_mode`), else the lowest. ``metrics()``
    gives them as ``val/<metric>_best``, the keys a sweep may optimize. A resumed run keeps
    them."""

    def __init__(self, mode: Callable[[str], str]) -> None:
        self.mode = mode
        self.best: dict[str, float] = {}

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        for key, value in trainer.callback_metrics.items():
            if not key.startswith("val/") or key.endswith("_best") or value.numel() != 1:
                continue
            value = float(value)
            if math.isnan(value):
                continue
            pick = max if self.mode(key) == "max" else min
            self.best[key] = pick(self.best.get(key, value), value)

    def metrics(self) -> dict[str, float]:
        return {f"{key}_best": value for key, value in sorted(self.best.items())}

    def state_dict(self) -> dict[str, Any]:
        return {"best": dict(self.best)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best = dict(state_dict.get("best", {}))
