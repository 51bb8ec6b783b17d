"""The best value of every validation metric over a run, as ``val/<metric>_best``."""

from __future__ import annotations

import math
from typing import Any

import lightning as L
from lightning.pytorch import Callback

from rnnlab.utils.metric_names import default_mode


class BestMetrics(Callback):
    """After each validation, keeps the best value so far of every scalar ``val/<metric>``
    (highest for accuracies, F1, BLEU and the like; lowest for the rest). ``metrics()`` gives
    them as ``val/<metric>_best``, the keys a sweep may optimize. A resumed run keeps them."""

    def __init__(self) -> None:
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
            pick = max if default_mode(key) == "max" else min
            self.best[key] = pick(self.best.get(key, value), value)

    def metrics(self) -> dict[str, float]:
        return {f"{key}_best": value for key, value in sorted(self.best.items())}

    def state_dict(self) -> dict[str, Any]:
        return {"best": dict(self.best)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best = dict(state_dict.get("best", {}))
