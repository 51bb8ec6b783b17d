"""Preemption: SIGTERM or SIGUSR1 ends a run at the end of the current batch, with a checkpoint
of that step and a distinct exit status.

Lightning already turns SIGTERM into :class:`~lightning.pytorch.utilities.exceptions.
SIGTERMException` (a ``SystemExit``) once the current batch is done, and calls every callback's
``on_exception`` on the way out. :class:`Preemption` saves the checkpoint there, and makes
SIGUSR1 (what SLURM sends ahead of a time limit, ``sbatch --signal=USR1@90``) stop the run the
same way where nothing else handles it. ``rnnlab.train`` then exits with
:data:`PREEMPTED_EXIT_CODE`; resuming with ``ckpt_path=<run dir>/checkpoints/last.ckpt`` (in
the same run directory) continues with the next batch.

Under ``trainer=slurm`` Lightning's own SLURM environment handles SIGUSR1 instead: it saves
``hpc_ckpt_<n>.ckpt`` in the run directory and requeues the job, and the requeued job (the same
run directory) restores it by itself.
"""

from __future__ import annotations

import signal
from pathlib import Path
from types import FrameType
from typing import Any

import lightning as L
from lightning.pytorch import Callback
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities.exceptions import SIGTERMException

from rnnlab.utils.log import info

# The exit status of a run that a signal stopped after saving its checkpoint: EX_TEMPFAIL of
# sysexits.h ("a temporary failure; the user is invited to retry"), apart from 0 (success), 1
# (an error) and 2 (a user's mistake in the configuration).
PREEMPTED_EXIT_CODE = 75


class Preempted(SystemExit):
    """The run was stopped by a signal after saving the checkpoint it resumes from; as a
    ``SystemExit`` it ends the command line with :data:`PREEMPTED_EXIT_CODE`."""

    def __init__(self, checkpoint: str | None) -> None:
        super().__init__(PREEMPTED_EXIT_CODE)
        self.checkpoint = checkpoint


class Preemption(Callback):
    """Saves ``dirpath/filename`` at the step where a SIGTERM or SIGUSR1 stopped training.

    Args:
        dirpath: folder of the checkpoint, the run's ``checkpoints/``.
        filename: its name; ``last.ckpt`` is the one a resumed run reads.
    """

    def __init__(self, dirpath: str | Path, filename: str = "last.ckpt") -> None:
        self.path = Path(dirpath) / filename
        self.signal: str | None = None  # the signal that stopped the run, once one has
        self.saved: str | None = None  # the checkpoint saved on the way out
        self._installed = False  # whether our SIGUSR1 handler is in place
        self._previous: Any = signal.SIG_DFL  # the handler it replaced

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Lightning installs its signal handlers after the setup hooks and before this one; a
        # SIGUSR1 handler already there (Lightning's SLURM requeue, or the user's) stays.
        if signal.getsignal(signal.SIGUSR1) in (signal.SIG_DFL, None):
            self._previous = signal.signal(signal.SIGUSR1, self._stop_like_sigterm)
            self._previous = signal.SIG_DFL if self._previous is None else self._previous
            self._installed = True

    def _stop_like_sigterm(self, signum: int, frame: FrameType | None) -> None:
        """SIGUSR1: what SIGTERM does during training (Lightning's handler, which stops the
        run at the end of the current batch)."""
        self.signal = signal.Signals(signum).name
        handler = signal.getsignal(signal.SIGTERM)
        if callable(handler):
            handler(signal.SIGTERM, frame)

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        self._restore_handler()
        if not isinstance(exception, SIGTERMException) or trainer.state.fn != TrainerFn.FITTING:
            return
        self.signal = self.signal or "SIGTERM"
        trainer.save_checkpoint(self.path)
        self.saved = str(self.path)
        info(
            f"{self.signal}: stopped at epoch {trainer.current_epoch}, step "
            f"{trainer.global_step}; saved {self.path}. Resume with ckpt_path={self.path} "
            "in the same run directory."
        )

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._restore_handler()

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._restore_handler()

    def _restore_handler(self) -> None:
        if self._installed:
            signal.signal(signal.SIGUSR1, self._previous)
            self._installed = False
