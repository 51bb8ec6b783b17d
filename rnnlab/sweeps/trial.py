"""The job's side of a trial: which trial it is, and the study it reports to.

The sweeper sets these variables for each job through ``hydra.job.env_set``, so they reach the
job wherever the launcher runs it (this process, a joblib worker, a SLURM node) and are inherited
by every DDP process the job starts. Only rank zero opens the study; the other ranks follow its
pruning decisions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import optuna

    from rnnlab.callbacks.pruning import OptunaPruning

STORAGE_ENV = "RNNLAB_OPTUNA_STORAGE"
STUDY_ENV = "RNNLAB_OPTUNA_STUDY"
TRIAL_ENV = "RNNLAB_OPTUNA_TRIAL"
MONITOR_ENV = "RNNLAB_OPTUNA_MONITOR"

# Written into each trial's job directory: its number, state, value and parameters.
TRIAL_FILE = "optuna_trial.json"
JOURNAL = "journal:"  # a storage URL of Optuna's journal file: journal:logs/optuna.journal


@dataclass(frozen=True)
class TrialRef:
    """Where a job's trial lives: ``storage`` URL, ``study`` name, trial ``number``, and the
    validation metric (``monitor``) it reports for pruning."""

    storage: str
    study: str
    number: int
    monitor: str

    def env(self) -> dict[str, str]:
        """The environment variables that carry this reference into the job."""
        return {
            STORAGE_ENV: self.storage,
            STUDY_ENV: self.study,
            TRIAL_ENV: str(self.number),
            MONITOR_ENV: self.monitor,
        }


def current_trial() -> TrialRef | None:
    """The trial this process runs, or None outside an Optuna sweep."""
    number = os.environ.get(TRIAL_ENV)
    if number is None:
        return None
    return TrialRef(
        storage=os.environ[STORAGE_ENV],
        study=os.environ[STUDY_ENV],
        number=int(number),
        monitor=os.environ[MONITOR_ENV],
    )


def open_trial(ref: TrialRef, pruner: optuna.pruners.BasePruner) -> optuna.Trial:
    """The live :class:`optuna.Trial` of ``ref``, judged by ``pruner`` (the sweep's own)."""
    import optuna

    storage = open_storage(ref.storage)
    study = optuna.load_study(study_name=ref.study, storage=storage, pruner=pruner)
    return live_trial(study, storage, ref.number)


def live_trial(
    study: optuna.Study, storage: optuna.storages.BaseStorage, number: int
) -> optuna.Trial:
    """Trial ``number`` of ``study`` (kept in ``storage``) as a live :class:`optuna.Trial`,
    which can report, be asked whether to prune, and be told its outcome."""
    import optuna

    study_id = storage.get_study_id_from_name(study.study_name)
    trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, number)
    return optuna.trial.Trial(study, trial_id)


def sweep_pruner() -> optuna.pruners.BasePruner:
    """The pruner of the sweep this job belongs to, built from the job's Hydra config."""
    import optuna
    from hydra.core.hydra_config import HydraConfig
    from hydra.utils import instantiate

    config = HydraConfig.get().sweeper.get("pruner") if HydraConfig.initialized() else None
    return instantiate(config) if config is not None else optuna.pruners.NopPruner()


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """The Optuna storage at ``url``. SQLite waits up to a minute for a lock instead of failing
    at once, since parallel trials write to the same file. ``journal:<path>`` is Optuna's
    journal file, appended to under a file lock: for a file system shared by several machines,
    where SQLite's locking is unsafe."""
    import optuna

    if url.startswith(JOURNAL):
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(url.removeprefix(JOURNAL)))
    if url.startswith("sqlite:"):
        engine_kwargs = {"connect_args": {"timeout": 60}}
        return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
    return optuna.storages.get_storage(url)


def pruning_callback() -> OptunaPruning | None:
    """An :class:`~rnnlab.callbacks.pruning.OptunaPruning` callback for the trial this process
    runs, or None outside an Optuna sweep."""
    ref = current_trial()
    if ref is None:
        return None
    from rnnlab.callbacks.pruning import OptunaPruning

    return OptunaPruning(lambda: open_trial(ref, sweep_pruner()), ref.monitor)
