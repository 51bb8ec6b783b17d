"""What a checkpoint needs beyond Lightning's own for a resumed run to go on exactly as an
uninterrupted one would: the random state, and the epoch of the training loader's pass."""

from __future__ import annotations

import random
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch import Callback

from rnnlab.data.batch import ResumableLoader

LOADER_KEY = "rnnlab_train_loader"  # the training loader's state in a checkpoint


class ExactResume(Callback):
    """Saves the random state at each checkpoint and restores it before the first training
    batch of a resumed run; names the epoch of each pass of a :class:`ResumableLoader`.

    The random state (torch on the CPU and on every CUDA device, NumPy's global generator,
    Python's ``random``) draws dropout masks and teacher-forcing coins, which Lightning's
    Trainer does not save. It is restored at the first training batch rather than when the
    checkpoint loads, so that what a resumed run does before it (building the optimizers, the
    sanity check) cannot shift it. rnnlab's loaders draw from generators of their own, so
    starting a pass, which a resumed run does at another moment, leaves it alone too.

    The loader's epoch lets it tell a checkpoint taken in the middle of the epoch being resumed
    (continue with the next batch) from one taken at the end of an earlier epoch (start the
    next epoch at its beginning). The callback also carries the loader's state itself: Lightning
    saves it too, but restores it only when nothing has set up the training data before the
    checkpoint loads, and a task whose schedule spans the run's steps
    (``trainer.estimated_stepping_batches``, as the one-cycle schedule does) has.

    ``rnnlab.train`` adds this callback to every run.
    """

    def __init__(self) -> None:
        self._loaded: dict[str, Any] | None = None  # a checkpoint's random state, until used
        self._loader_state: dict[str, Any] | None = None  # its loader's state, until used

    def state_dict(self) -> dict[str, Any]:
        return {"random": random_state()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._loaded = state_dict.get("random")

    def on_save_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        loader = trainer.train_dataloader
        if isinstance(loader, ResumableLoader):
            checkpoint[LOADER_KEY] = loader.state_dict()

    def on_load_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        self._loader_state = checkpoint.get(LOADER_KEY)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Lightning calls no `on_train_epoch_start` when it resumes in the middle of an epoch,
        # so the loader learns its epoch, and its state, here; the loader uses the state when
        # its pass begins, at the first batch, if that pass is of the checkpoint's epoch.
        loader = trainer.train_dataloader
        if isinstance(loader, ResumableLoader):
            loader.set_epoch(trainer.current_epoch)
            if self._loader_state is not None:
                loader.load_state_dict(self._loader_state)
        self._loader_state = None

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        loader = trainer.train_dataloader
        if isinstance(loader, ResumableLoader):
            loader.set_epoch(trainer.current_epoch)

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self._loaded is not None:
            set_random_state(self._loaded)
            self._loaded = None


def random_state() -> dict[str, Any]:
    """The global random state of torch (CPU and CUDA), NumPy and Python, in types that a
    ``weights_only`` checkpoint load accepts."""
    numpy = np.random.get_state(legacy=False)
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {
            "key": torch.from_numpy(numpy["state"]["key"].astype(np.int64)),
            "pos": int(numpy["state"]["pos"]),
            "has_gauss": int(numpy["has_gauss"]),
            "gauss": float(numpy["gauss"]),
        },
        "python": random.getstate(),
    }


def set_random_state(state: dict[str, Any]) -> None:
    """Restore what :func:`random_state` returned; a CUDA state is restored only on a machine
    with as many CUDA devices."""
    torch.set_rng_state(state["torch"].cpu())
    cuda = list(state.get("cuda", []))
    if cuda and torch.cuda.is_available() and torch.cuda.device_count() == len(cuda):
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda])
    numpy = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": "MT19937",
            "state": {"key": numpy["key"].numpy().astype(np.uint32), "pos": numpy["pos"]},
            "has_gauss": numpy["has_gauss"],
            "gauss": numpy["gauss"],
        }
    )
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
