"""Stores the run's resolved configuration and data spec inside every checkpoint."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from lightning.pytorch import Callback

from rnnlab.data.batch import DataSpec

CHECKPOINT_KEY = "rnnlab_config"
SPEC_KEY = "rnnlab_spec"


class RunConfig(Callback):
    """Writes ``config`` (plain containers) into each checkpoint under ``"rnnlab_config"``, and
    the dataset's ``spec`` (its vocabulary, for one) under ``"rnnlab_spec"``.

    With them, ``python -m rnnlab.eval ckpt_path=...`` rebuilds the net, task and data of the
    run without the user repeating its overrides, and ``python -m rnnlab.generate`` rebuilds a
    language model without its data.
    """

    def __init__(self, config: dict[str, Any], spec: DataSpec | None = None):
        self.config = config
        self.spec = spec

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        checkpoint[CHECKPOINT_KEY] = self.config
        if self.spec is not None:
            checkpoint[SPEC_KEY] = spec_to_dict(self.spec)


def spec_to_dict(spec: DataSpec) -> dict[str, Any]:
    """``spec`` as plain lists and dicts, which ``torch.load(weights_only=True)`` reads."""
    fields = dataclasses.asdict(spec)
    # Tensors (pretrained embeddings) are in the model's weights already.
    fields["extras"] = {
        k: list(v) if isinstance(v, tuple) else v
        for k, v in fields["extras"].items()
        if not isinstance(v, torch.Tensor)
    }
    return {k: list(v) if isinstance(v, tuple) else v for k, v in fields.items()}


def spec_from_dict(fields: dict[str, Any]) -> DataSpec:
    """The :class:`DataSpec` that :func:`spec_to_dict` wrote."""
    vocab = fields.get("vocab")
    return DataSpec(**{**fields, "vocab": tuple(vocab) if vocab is not None else None})
