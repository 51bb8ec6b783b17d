"""The one exception type for a user's mistake.

A :class:`ConfigError` carries one sentence that names the bad value and says what is
allowed. Entry points print that sentence and exit non-zero instead of a traceback
(``HYDRA_FULL_ERROR=1`` still shows it). It has no rnnlab imports, so every axis may raise it.

A :class:`NumericalFault` is the other sentence a run may end with: its training diverged.
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
