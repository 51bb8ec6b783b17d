"""Stores the run's resolved configuration inside every checkpoint."""

from __future__ import annotations

from typing import Any

from lightning.pytorch import Callback

CHECKPOINT_KEY = "rnnlab_config"


class RunConfig(Callback):
    """Writes ``config`` (plain containers) into each checkpoint under ``"rnnlab_config"``.

    With it, ``python -m rnnlab.eval ckpt_path=...`` rebuilds the net, task and data of the
    run without the user repeating its overrides.
    """

    def __init__(self, config: dict[str, Any]):
        self.config = config

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        checkpoint[CHECKPOINT_KEY] = self.config
