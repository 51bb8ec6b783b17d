"""Building objects from Hydra configs, with failures that read as one sentence."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import hydra
from hydra.errors import InstantiationException
from omegaconf import DictConfig

from rnnlab.utils.errors import ConfigError


def instantiate(node: DictConfig, what: str, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate`` with plain containers, whose failures read as one sentence
    naming ``what``."""
    _check_target(node, what)
    _check_flags(node, what)
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


def _check_target(node: DictConfig, what: str) -> None:
    """Refuse a ``_target_`` that cannot be imported, in one sentence (:func:`locate`)."""
    target = node.get("_target_") if isinstance(node, DictConfig) else None
    if isinstance(target, str):
        locate(target, what)


# A parameter annotated as one of these takes true or false (and, for the last two, null).
_FLAG_TYPES = frozenset({"bool", "bool | None", "None | bool", "Optional[bool]"})


def _check_flags(node: DictConfig, what: str) -> None:
    """Refuse, in one sentence, text given for a true-or-false parameter of ``what``'s target:
    Hydra reads ``task.crf=no`` or ``model.bidirectional=off`` as the text ``'no'``, which
    Python would take for true."""
    target = node.get("_target_") if isinstance(node, DictConfig) else None
    if not isinstance(target, str):
        return
    try:
        parameters = inspect.signature(locate(target, what)).parameters
    except (TypeError, ValueError):  # a callable without a signature to read
        return
    for name, parameter in parameters.items():
        value = node.get(name) if name in node else None
        if isinstance(value, str) and _annotation(parameter) in _FLAG_TYPES:
            raise ConfigError(f"{what}.{name}={value} must be true or false.")


def _annotation(parameter: inspect.Parameter) -> str:
    """``parameter``'s annotation as written (postponed annotations are already text)."""
    annotation = parameter.annotation
    return annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)


def locate(target: str, what: str) -> Any:
    """The object that the dotted path ``target`` (``what``'s ``_target_``) names: its longest
    importable module, then attributes. A name that is not there (a typo, or a project not on
    the Python path) and a package of another name that is not installed (which the target's
    module imports) are each refused in one sentence."""
    parts = target.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError as error:
            needed = (error.name or parts[0]).split(".")[0]
            if needed != parts[0]:  # the target's module imports a package that is missing
                message = f"{what} needs a package that is not installed: {error}"
                raise ConfigError(message) from None
            continue  # not a module: the path's last names are attributes
        try:
            for name in parts[cut:]:
                found = getattr(found, name)
        except AttributeError:
            break
        return found
    raise ConfigError(
        f"{what}._target_={target} cannot be imported: no such module or name; check the "
        "spelling, and that its module is on the Python path."
    )


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
