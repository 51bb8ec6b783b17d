"""A search space in Hydra's sweep syntax, as Optuna distributions.

Each key of ``hydra.sweeper.params``, and each sweep on the command line, becomes one parameter:

=================================  ==========================================================
``choice(16, 32, 64)``, ``a,b,c``  categorical over those values (numbers, strings, booleans)
``range(1, 4)``                    integers 1, 2, 3 (``range(0.1, 0.5, 0.1)``: stepped floats)
``interval(0.0, 0.5)``             a float in [0.0, 0.5]
``tag(log, interval(1e-4, 1e-2))`` a float on a log scale
``tag(int, interval(8, 256))``     an integer in [8, 256] (add ``log`` for a log scale)
=================================  ==========================================================

A plain value (``trainer.max_epochs=5``) is passed to every trial unchanged. The command line
wins over the config where both name a key, so a search can be narrowed without editing it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep
from hydra.errors import HydraException
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from rnnlab.utils.errors import ConfigError, check

_TAGS = {"log", "int"}
# Strings that may stand bare in an override; anything else is quoted.
_BARE = re.compile(r"^[A-Za-z_][\w\-./]*$")
_NOT_BARE = {"true", "false", "null", "nan", "inf"}


@dataclass
class SearchSpace:
    """What a trial may vary (``distributions``, by override key) and what it may not
    (``fixed``: overrides passed to every trial as given)."""

    distributions: dict[str, BaseDistribution] = field(default_factory=dict)
    fixed: list[str] = field(default_factory=list)

    def overrides(self, params: Mapping[str, Any]) -> list[str]:
        """The command-line overrides of a trial with ``params``."""
        return [*self.fixed, *(f"{key}={override_value(params[key])}" for key in params)]


def parse_space(params: Mapping[str, Any] | None, arguments: Sequence[str] = ()) -> SearchSpace:
    """The search space of ``params`` (the config's ``{key: sweep}``) and the command line's
    ``arguments``; the latter win for a key both name."""
    lines = [f"{key}={_as_override_text(value)}" for key, value in (params or {}).items()]
    parser = OverridesParser.create()
    by_key: dict[str, Override] = {}
    for line in [*lines, *arguments]:
        try:
            override = parser.parse_override(line)
        except HydraException as error:
            message = str(error).splitlines()[0]
            raise ConfigError(f"cannot read the sweep override {line!r}: {message}") from None
        by_key[override.get_key_element()] = override

    space = SearchSpace()
    for key, override in by_key.items():
        if override.is_sweep_override():
            space.distributions[key] = distribution(key, override.value())
        else:
            value = override.get_value_element_as_str()
            space.fixed.append(override.input_line or f"{key}={value}")
    return space


def distribution(key: str, sweep: Any) -> BaseDistribution:
    """The Optuna distribution of one Hydra sweep (``choice``, ``range`` or ``interval``)."""
    tags = set(sweep.tags)
    unknown = ", ".join(sorted(tags - _TAGS))
    check(not unknown, f"{key}: unknown tag {unknown}; allowed: {', '.join(sorted(_TAGS))}.")
    try:
        if isinstance(sweep, ChoiceSweep):
            check(not tags, f"{key}: choice() takes no tags; its values are taken as written.")
            return CategoricalDistribution(_choices(key, sweep.list))
        if isinstance(sweep, RangeSweep):
            return _range(key, sweep, log="log" in tags)
        if isinstance(sweep, IntervalSweep):
            if "int" in tags:
                low, high = math.ceil(sweep.start), math.floor(sweep.end)
                return IntDistribution(low, high, log="log" in tags)
            return FloatDistribution(float(sweep.start), float(sweep.end), log="log" in tags)
    except ValueError as error:
        if isinstance(error, ConfigError):
            raise
        raise ConfigError(f"{key}: {error}") from None
    raise ConfigError(f"{key}: {type(sweep).__name__} cannot be searched by Optuna.")


def override_value(value: Any) -> str:
    """``value`` as it is written on Hydra's command line."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    if _BARE.match(text) and text.lower() not in _NOT_BARE:
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _choices(key: str, values: Sequence[Any]) -> tuple[Any, ...]:
    for value in values:
        check(
            value is None or isinstance(value, bool | int | float | str),
            f"{key}: choice values must be numbers, strings, booleans or null, not {value!r}.",
        )
    return tuple(values)


def _range(key: str, sweep: RangeSweep, log: bool) -> BaseDistribution:
    start, stop, step = sweep.start, sweep.stop, sweep.step
    check(step > 0, f"{key}: range() needs a positive step.")
    count = math.ceil((stop - start) / step)
    check(count >= 1, f"{key}: range({start}, {stop}) is empty.")
    last = start + step * (count - 1)
    if all(isinstance(v, int) for v in (start, stop, step)):
        return IntDistribution(start, last, step=step, log=log)
    return FloatDistribution(float(start), float(last), step=None if log else float(step), log=log)


def _as_override_text(value: Any) -> str:
    """A config value of ``params`` as override text: a YAML list is a choice of its items."""
    if isinstance(value, str):
        return value
    if isinstance(value, Sequence):
        return "choice(" + ", ".join(override_value(v) for v in value) + ")"
    return override_value(value)
