"""The one exception type for a user's mistake.

A :class:`ConfigError` carries one sentence that names the bad value and says what is
allowed. Entry points print that sentence and exit non-zero instead of a traceback
(``HYDRA_FULL_ERROR=1`` still shows it). It has no rnnlab imports, so every axis may raise it.
"""


class ConfigError(ValueError):
    """A bad name, value or combination in the user's configuration or input files."""


def check(condition: bool, message: str) -> None:
    """Raise :class:`ConfigError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise ConfigError(message)
