"""The one exception type for a user's mistake.

A :class:`ConfigError` carries one sentence that names the bad value and says what is
allowed. Entry points print that sentence and exit non-zero instead of a traceback
(``HYDRA_FULL_ERROR=1`` still shows it). It has no rnnlab imports, so every axis may raise it.

A :class:`NumericalFault` is the other sentence a run may end with: its training diverged.

:func:`check`, :func:`check_count`, :func:`check_not_negative` and :func:`check_seed` raise a
:class:`ConfigError` for a value that is out of range or of the wrong kind (a word or a
fraction where a count is needed), naming the setting.
"""


class ConfigError(ValueError):
    """A bad name, value or combination in the user's configuration or input files."""


def check(condition: bool, message: str) -> None:
    """Raise :class:`ConfigError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise ConfigError(message)


class NumericalFault(RuntimeError):
    """Training met a loss, gradient or weight that is not finite (NaN or infinite).

    It carries one sentence naming the step and the quantity; the command line prints it and
    exits with :attr:`exit_code`, distinct from a :class:`ConfigError`'s 2, so that a script
    can tell a diverged run from a mistyped one. Inside an Optuna sweep it fails the trial.
    """

    exit_code = 3


def check_count(key: str, value: object, least: int, also: str = "") -> None:
    """Refuse setting ``key`` unless ``value`` is a whole number of at least ``least``: one
    smaller is told ``key=value must be at least N``, anything else (a fraction, a word) that
    it ``must be a whole number of at least N``; ``also`` ends either sentence, as in
    ``" (or null)"`` where the caller lets ``None`` through itself."""
    whole = _whole(value)
    if not (whole and value >= least):
        kind = "" if whole else "a whole number of "
        raise ConfigError(f"{key}={value} must be {kind}at least {least}{also}.")


def check_not_negative(key: str, value: object) -> None:
    """Refuse setting ``key`` unless ``value`` is a number of at least 0 (NaN is not)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ConfigError(f"{key}={value} must be a number of at least 0.")
    if not value >= 0:  # NaN too: it compares false
        raise ConfigError(f"{key}={value} must not be negative.")


SEED_LIMIT = 2**32 - 1  # numpy's generators take seeds up to this


def check_seed(value: object, key: str = "seed") -> None:
    """Refuse a seed that is not a whole number from 0 to :data:`SEED_LIMIT`."""
    check(
        _whole(value) and 0 <= value <= SEED_LIMIT,
        f"{key}={value} must be a whole number from 0 to {SEED_LIMIT}.",
    )


def _whole(value: object) -> bool:
    """An ``int`` and not a ``bool`` (which Python counts as one)."""
    return isinstance(value, int) and not isinstance(value, bool)
