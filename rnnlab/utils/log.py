"""rnnlab's own console lines: the ``rnnlab`` logger, from rank zero only.

The command line (Hydra) shows them; from Python, they follow the caller's logging settings.
"""

from __future__ import annotations

import logging

from lightning.fabric.utilities.rank_zero import rank_zero_only

log = logging.getLogger("rnnlab")


@rank_zero_only
def info(message: str) -> None:
    """Report ``message`` at INFO, once per run (on rank zero of a DDP run)."""
    log.info(message)
