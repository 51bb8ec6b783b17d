"""Optimizer and scheduler wiring shared by every task."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, Literal

import torch

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[..., Any]

MIN_SCHEDULED_STEPS = 100


def configure_optimizers(
    parameters: Iterable[torch.nn.Parameter],
    optimizer: OptimizerFactory,
    scheduler: SchedulerFactory | None,
    interval: Literal["step", "epoch"],
    monitor: str,
    total_steps: int,
    precision: str = "32-true",
    total_epochs: int | None = None,
) -> Any:
    """What ``LightningModule.configure_optimizers`` returns for these factories.

    ``optimizer`` and ``scheduler`` are partials from Hydra (``_partial_: true``, the
    ``optimizer=`` and ``scheduler=`` groups). A scheduler whose length is left unset
    (``total_steps`` of ``OneCycleLR``, ``T_max`` of ``CosineAnnealingLR``) spans the whole run:
    the trainer's estimate of its optimizer steps, or with ``interval="epoch"`` its epochs. Runs
    shorter than ``MIN_SCHEDULED_STEPS`` steps (debug runs) get that many, since ``OneCycleLR``
    cannot split fewer steps into its warm-up and decay phases.

    An optimizer with a ``fused`` argument left ``None`` (Adam, AdamW, SGD) gets its fused
    kernel, which updates every parameter in one call, about three times faster than the
    default on a CPU, except under mixed precision, where Lightning refuses to clip the
    gradients of an optimizer that unscales them itself. Where the device or the PyTorch
    version has no fused kernel, the default is kept.
    """
    opt = _build_optimizer(optimizer, list(parameters), precision)
    if scheduler is None:
        return opt
    length = unset_length(scheduler)
    if length is not None:
        span = int(total_steps) if interval == "step" or not total_epochs else int(total_epochs)
        floor = MIN_SCHEDULED_STEPS if interval == "step" else 1
        scheduler = partial(scheduler, **{length: max(span, floor)})
    config = {"scheduler": scheduler(opt), "interval": interval, "name": "train/lr"}
    if isinstance(config["scheduler"], torch.optim.lr_scheduler.ReduceLROnPlateau):
        config["monitor"] = monitor
    return {"optimizer": opt, "lr_scheduler": config}


# The argument that sets a schedule's length, in the schedulers that take one.
_LENGTH_PARAMETERS = ("total_steps", "T_max")


def unset_length(factory: SchedulerFactory) -> str | None:
    """The name of ``factory``'s schedule-length argument when it is left unset, else None."""
    bound = factory.keywords if isinstance(factory, partial) else {}
    target = factory.func if isinstance(factory, partial) else factory
    try:
        parameters = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return None
    for name in _LENGTH_PARAMETERS:
        if name in parameters and bound.get(name) is None:
            return name
    return None


def _build_optimizer(
    factory: OptimizerFactory, parameters: list[torch.nn.Parameter], precision: str
) -> torch.optim.Optimizer:
    keywords = factory.keywords if isinstance(factory, partial) else {}
    if "fused" in keywords and keywords["fused"] is None and "mixed" not in str(precision):
        try:
            return factory(params=parameters, fused=True)
        except (RuntimeError, ValueError):  # no fused kernel for these parameters' device
            pass
    return factory(params=parameters)
