"""Running the model from a callback as the trainer runs it in a step.

A callback that draws forecasts, samples text or measures gradients calls the task itself,
outside Lightning's steps. Under ``trainer.precision=64-true`` (or ``16-true``, ``bf16-true``)
the trainer has converted the weights, and converts each step's batch to match; under mixed
precision it runs the step's forward in autocast. :func:`in_step_precision` gives a callback the
same: the context of a step's forward, and the conversion for its batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import lightning as L


@contextmanager
def in_step_precision(trainer: L.Trainer) -> Iterator[Callable[[Any], Any]]:
    """Inside: the trainer's forward context; yields its conversion of a batch's floats
    (integer ids, lengths and masks are left as they are)."""
    plugin = trainer.precision_plugin
    with plugin.forward_context():
        yield plugin.convert_input
