"""Checkpoints written whole or not at all, so a kill never leaves a truncated ``last.ckpt``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import fsspec
import torch
from fsspec.implementations.local import LocalFileSystem
from lightning.pytorch.plugins.io import TorchCheckpointIO

from rnnlab.utils.atomic import atomic_open


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's :class:`TorchCheckpointIO`, saving a local checkpoint through a temporary
    file beside it that is synced and renamed onto it (:mod:`rnnlab.utils.atomic`).

    Lightning's own writer stages a local checkpoint in the system's temporary folder and
    moves it into place: where that folder is on another file system than the run (a node's
    ``/tmp`` and a shared ``logs/``, as on most clusters) the move is a copy, and a kill
    during it leaves a truncated checkpoint, and a full-size stray in ``/tmp``. Loading,
    removing, remote paths (``s3://...``) and the refusal of ``storage_options`` are
    Lightning's own.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any = None
    ) -> None:
        """Write ``checkpoint`` to ``path``, replacing an existing file whole or not at all.

        Args:
            checkpoint: the model and trainer state.
            path: where to write it; missing folders are created.
            storage_options: refused, as Lightning's :class:`TorchCheckpointIO` does.
        """
        fs, local = fsspec.core.url_to_fs(str(path))
        if storage_options is not None or not isinstance(fs, LocalFileSystem):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        Path(local).parent.mkdir(parents=True, exist_ok=True)
        # Straight into the file: no second copy of the checkpoint in memory, as a buffer holds.
        with atomic_open(local, "wb") as file:
            torch.save(checkpoint, file)
