"""Building objects from Hydra configs, with the dataset's spec filling what the data decides."""

from __future__ import annotations

import inspect
from typing import Any

import hydra
import torch
from hydra.errors import InstantiationException
from lightning.pytorch import Callback
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig, OmegaConf

from rnnlab.data.batch import DataSpec
from rnnlab.utils.errors import ConfigError
from rnnlab.utils.profiling import NullProfiler, skip_inherited_callback_hooks


def instantiate(node: DictConfig, what: str, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate`` with plain containers, whose failures read as one sentence
    naming ``what``."""
    try:
        # Plain lists and dicts, not Hydra's containers: objects keep what they are given (in
        # hyperparameters, say), and checkpoints must load with `weights_only=True`.
        return hydra.utils.instantiate(node, _convert_="all", **kwargs)
    except InstantiationException as error:
        cause = error.__cause__
        if isinstance(cause, ConfigError):
            raise cause from None
        if isinstance(cause, (ValueError, TypeError)):
            raise ConfigError(f"{what}: {cause}") from error
        raise


def instantiate_for_spec(node: DictConfig, spec: DataSpec, what: str, **objects: Any) -> Any:
    """Build ``node`` with every constructor argument the data decides taken from ``spec``.

    An argument is taken from the spec when the constructor has a parameter of that name and
    the config leaves it out, marks it ``???`` or sets it to ``null`` (a net reading features
    or token ids leaves both ``input_size`` and ``vocab_size`` null, and the data fills the
    one it has); the filled values are written back into
    ``node`` so the saved config is complete. ``objects`` (built modules, such as the net a
    task wraps) are passed as they are. A required argument that neither the config, the spec
    nor ``objects`` provide means the model and data do not fit together.
    """
    target = hydra.utils.get_object(node._target_)
    parameters = inspect.signature(target).parameters
    provided = spec.available()
    filled = {
        name: provided[name]
        for name in parameters
        if name in provided and (_unset(node, name) or node[name] is None)
    }
    missing = [
        name
        for name, p in parameters.items()
        if p.default is inspect.Parameter.empty
        and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        and name not in filled
        and name not in objects
        and _unset(node, name)
    ]
    if missing:
        raise ConfigError(
            f"{what} needs {', '.join(missing)}, which this dataset does not provide "
            f"(it provides {', '.join(sorted(provided))}); choose a model, task and data that fit."
        )
    # Values a config can hold are written into it; others (tensors, such as pretrained
    # embeddings) are passed as they are, like `objects`.
    passed = dict(objects)
    for name, value in filled.items():
        if isinstance(value, torch.Tensor):
            passed[name] = value
        else:
            OmegaConf.update(node, name, value, force_add=True)
    if not passed:
        return instantiate(node, what)
    factory = instantiate(node, what, _partial_=True)
    return factory(**passed)


def _unset(node: DictConfig, name: str) -> bool:
    return name not in node or OmegaConf.is_missing(node, name)


def build_system(cfg: DictConfig) -> tuple[Any, Any, Any]:
    """The datamodule, net and task that ``cfg.data``, ``cfg.model`` and ``cfg.task`` describe:
    the data first, whose spec then fills what the net and the task leave to it."""
    datamodule = instantiate(cfg.data, "data")
    net, task = build_model(cfg, datamodule.spec)
    return datamodule, net, task


def build_model(cfg: DictConfig, spec: DataSpec) -> tuple[Any, Any]:
    """The net and the task around it, for data that ``spec`` describes."""
    net = instantiate_for_spec(cfg.model, spec, "model")
    task = instantiate_for_spec(cfg.task, spec, "task", net=net)
    return net, task


def build_trainer(node: DictConfig, task: Any, **kwargs: Any) -> Any:
    """The trainer ``node`` describes, for ``task``.

    Without a ``profiler`` in ``node``, the trainer gets a :class:`NullProfiler`, and
    Lightning's callback dispatch skips the hooks callbacks inherit and leave empty.

    Lightning refuses ``gradient_clip_val`` for a task that runs its own optimisation (such as
    truncated BPTT), so such a task is handed the clipping settings instead and clips at the
    same point of its step, and the trainer is built without them.
    """
    if not task.automatic_optimization:
        task.gradient_clip_val = node.get("gradient_clip_val")
        task.gradient_clip_algorithm = node.get("gradient_clip_algorithm") or "norm"
        kwargs |= {"gradient_clip_val": None, "gradient_clip_algorithm": None}
    if node.get("profiler") is None:
        kwargs["profiler"] = NullProfiler()
        skip_inherited_callback_hooks()
    return instantiate(node, "trainer", **kwargs)


def instantiate_callbacks(node: DictConfig | None, task: Any = None) -> list[Callback]:
    """Every callback under ``node``, skipping entries without a ``_target_`` and, given the
    ``task``, those whose ``task_type`` it is not.

    A figure that acts on one kind of task has nothing to do in the rest, so it stays out of
    them (and out of the hooks a profiled trainer calls for every callback at every step).
    """
    callbacks = _instantiate_each(node, "callbacks")
    if task is None:
        return callbacks
    return [cb for cb in callbacks if isinstance(task, getattr(cb, "task_type", object))]


def instantiate_loggers(node: DictConfig | None) -> list[Logger]:
    """Every logger under ``node``, skipping entries without a ``_target_``."""
    return _instantiate_each(node, "logger")


def _instantiate_each(node: DictConfig | None, group: str) -> list:
    if not node:
        return []
    return [
        instantiate(child, f"{group}.{name}")
        for name, child in node.items()
        if isinstance(child, DictConfig) and "_target_" in child
    ]
