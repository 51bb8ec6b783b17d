"""A quiet console for the command line: rnnlab's own lines and its metrics table.

Lightning reports its set-up at ``INFO`` (devices found, the dataloader estimate, an
advertisement for a cloud product) and some libraries warn of deprecations inside one another
that a user can do nothing about. The command-line entry points call :func:`quiet_console`
before training; ``verbose=true`` (or ``hydra.verbose=...``) brings everything back. Library
calls (``rnnlab.train.train``, ``rnnlab.train.run``) never call it: a notebook keeps its own
logging and warning filters.
"""

from __future__ import annotations

import logging
import warnings

# Lightning's loggers: set-up notes at INFO, problems at WARNING and above.
_LIGHTNING_LOGGERS = ("lightning.pytorch", "lightning.fabric")
# Where Lightning's profilers write their reports, at INFO.
_PROFILER_LOGGER = "lightning.pytorch.profilers"


def quiet_console(verbose: bool | str | list = False) -> None:
    """Unless ``verbose`` (or Hydra's ``hydra.verbose``) is set, keep Lightning's set-up notes
    and other packages' deprecation warnings off the console; warnings rnnlab's own code
    raises, and every error, still show."""
    if verbose or _hydra_verbose():
        return
    for name in _LIGHTNING_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    # A profiler's report is the output asked for (trainer.profiler=..., debug=profiler).
    logging.getLogger(_PROFILER_LOGGER).setLevel(logging.INFO)
    for category in (DeprecationWarning, FutureWarning):
        # `module` matches where a warning is raised: anywhere but in rnnlab.
        warnings.filterwarnings("ignore", category=category, module=r"(?!rnnlab)")


def _hydra_verbose() -> bool:
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.initialized() and bool(HydraConfig.get().verbose)
