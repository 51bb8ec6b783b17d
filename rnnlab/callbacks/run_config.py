"""Stores the run's resolved configuration and data spec inside every checkpoint."""

from __future__ import annotations

from typing import Any

from lightning.pytorch import Callback

from rnnlab.data.specs import Spec, spec_to_dict

CHECKPOINT_KEY = "rnnlab_config"
SPEC_KEY = "rnnlab_spec"


class RunConfig(Callback):
    """Writes ``config`` (plain containers) into each checkpoint under ``"rnnlab_config"``, and
    the dataset's ``spec`` (its vocabulary, scaler, class names) under ``"rnnlab_spec"``.

    With them, ``python -m rnnlab.eval ckpt_path=...`` rebuilds the net, task and data of the
    run without the user repeating its overrides, and ``rnnlab.generate``, ``rnnlab.translate``
    and ``rnnlab.predict`` rebuild the model without its data.
    """

    def __init__(self, config: dict[str, Any], spec: Spec):
        self.config = config
        self.spec = spec_to_dict(spec)

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        checkpoint[CHECKPOINT_KEY] = self.config
        checkpoint[SPEC_KEY] = self.spec
