"""Building objects from Hydra configs, with failures that read as one sentence."""

from __future__ import annotations

from typing import Any

import hydra
from hydra.errors import InstantiationException
from omegaconf import DictConfig

from rnnlab.utils.errors import ConfigError


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
        if isinstance(cause, ImportError):  # an optional package (logger=mlflow without MLflow)
            raise ConfigError(f"{what} needs a package that is not installed: {cause}") from error
        raise


def instantiate_each(node: DictConfig | None, group: str) -> list:
    """Every object under ``node`` (``callbacks``, ``logger``), skipping entries without a
    ``_target_`` (a group's defaults may leave some unset)."""
    if not node:
        return []
    return [
        instantiate(child, f"{group}.{name}")
        for name, child in node.items()
        if isinstance(child, DictConfig) and "_target_" in child
    ]
