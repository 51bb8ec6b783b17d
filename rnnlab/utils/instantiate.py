"""Building objects from Hydra configs, with the dataset's spec filling what the data decides."""

from __future__ import annotations

import inspect
from typing import Any

import hydra
from hydra.errors import InstantiationException
from lightning.pytorch import Callback
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig, OmegaConf

from rnnlab.data.batch import DataSpec
from rnnlab.utils.errors import ConfigError


def instantiate(node: DictConfig, what: str, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate`` whose failures read as one sentence naming ``what``."""
    try:
        return hydra.utils.instantiate(node, **kwargs)
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
    the config leaves it out or marks it ``???``; the filled values are written back into
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
        if name in provided and (name not in node or OmegaConf.is_missing(node, name))
    }
    missing = [
        name
        for name, p in parameters.items()
        if p.default is inspect.Parameter.empty
        and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        and name not in filled
        and name not in objects
        and (name not in node or OmegaConf.is_missing(node, name))
    ]
    if missing:
        raise ConfigError(
            f"{what} needs {', '.join(missing)}, which this dataset does not provide "
            f"(it provides {', '.join(sorted(provided))}); choose a model, task and data that fit."
        )
    for name, value in filled.items():
        OmegaConf.update(node, name, value, force_add=True)
    if not objects:
        return instantiate(node, what)
    factory = instantiate(node, what, _partial_=True)
    return factory(**objects)


def build_system(cfg: DictConfig) -> tuple[Any, Any, Any]:
    """The datamodule, net and task that ``cfg.data``, ``cfg.model`` and ``cfg.task`` describe:
    the data first, whose spec then fills what the net and the task leave to it."""
    datamodule = instantiate(cfg.data, "data")
    net = instantiate_for_spec(cfg.model, datamodule.spec, "model")
    task = instantiate_for_spec(cfg.task, datamodule.spec, "task", net=net)
    return datamodule, net, task


def instantiate_callbacks(node: DictConfig | None) -> list[Callback]:
    """Every callback under ``node``, skipping entries without a ``_target_``."""
    return _instantiate_each(node, "callbacks")


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
