"""A Hydra sweeper that runs an Optuna study: ``python -m rnnlab.train -m hparams_search=<name>``.

Hydra finds sweepers only in the ``hydra_plugins`` namespace package, so this class lives here;
it checks that Optuna is installed and hands everything else to :mod:`rnnlab.sweeps.search`.
Its settings are ``conf/hydra/sweeper/optuna.yaml``, one to one. Hydra imports this module at
every start, so it imports nothing heavy.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class OptunaSweeper(Sweeper):
    """Searches ``params`` with Optuna's ``sampler``, pruning with ``pruner``, for the best
    value of the ``objective`` key of each job's ``metrics.json``."""

    def __init__(
        self,
        objective: str,
        study_name: str,
        storage: str,
        n_trials: int,
        direction: str | None = None,
        n_jobs: int | None = None,
        sampler: DictConfig | None = None,
        pruner: DictConfig | None = None,
        monitor: str | None = None,
        params: Mapping[str, Any] | None = None,
        enqueue: Sequence[Mapping[str, Any]] | None = None,
    ):
        self.settings = {
            "objective": objective,
            "study_name": study_name,
            "storage": storage,
            "n_trials": n_trials,
            "direction": direction,
            "n_jobs": n_jobs,
            "sampler": sampler,
            "pruner": pruner,
            "monitor": monitor,
            "params": params,
            "enqueue": enqueue,
        }
        self.search: Any = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        from hydra.core.plugins import Plugins

        from rnnlab.cli import exit_on_config_error

        try:
            from rnnlab.sweeps.search import OptunaSearch
        except ModuleNotFoundError as error:
            if error.name != "optuna":
                raise
            print(
                "error: hparams_search needs Optuna; install it with "
                "pip install 'rnnlab[sweeps]' (or pip install optuna).",
                file=sys.stderr,
            )
            sys.exit(2)
        launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )
        build = exit_on_config_error(OptunaSearch)
        self.search = build(**self.settings, config=config, launcher=launcher)

    def sweep(self, arguments: list[str]) -> Any:
        from rnnlab.cli import exit_on_config_error

        return exit_on_config_error(self.search.run)(arguments)
