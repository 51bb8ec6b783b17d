"""An Optuna study run as a Hydra sweep: ask a batch of trials, launch them as jobs, tell the
study what each job left behind, until the study holds ``n_trials`` finished trials.

The study lives in ``storage`` under ``study_name``, so running the same command again continues
it: finished trials count towards ``n_trials``, and a trial left running by a sweep that was
stopped (its process gone) is run again with its parameters. A trial that raises (a run whose
training diverged raises :class:`~rnnlab.utils.errors.NumericalFault`), or whose objective is
missing or not finite, is marked failed and the study goes on; one whose pruner stops it is
marked pruned. Several sweeps of the same command share the study as workers: each reads from
it, before every batch, how many trials are still to start.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import os
import socket
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import hydra
import optuna
from hydra.core.utils import JobReturn, JobStatus
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from optuna.distributions import CategoricalDistribution, check_distribution_compatibility
from optuna.trial import TrialState

from rnnlab.sweeps.space import SearchSpace, override_value, parse_space
from rnnlab.sweeps.summary import STATES, TrialRecord, report_sweep
from rnnlab.sweeps.trial import JOURNAL, TRIAL_FILE, TrialRef, live_trial, open_storage
from rnnlab.utils.atomic import atomic_write_text
from rnnlab.utils.errors import ConfigError, NumericalFault, check
from rnnlab.utils.run_files import METRICS_FILE, NONFINITE_KEY

log = logging.getLogger(__name__)

_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


class OptunaSearch:
    """One sweep over an Optuna study; :meth:`run` is the sweeper's ``sweep``."""

    def __init__(
        self,
        *,
        objective: str,
        direction: str | None,
        study_name: str,
        storage: str,
        n_trials: int,
        n_jobs: int | None,
        sampler: DictConfig | None,
        pruner: DictConfig | None,
        params: Mapping[str, Any] | None,
        enqueue: Sequence[Mapping[str, Any]] | None,
        monitor: str | None,
        config: DictConfig,
        launcher: Any,
    ):
        check(n_trials >= 1, f"hydra.sweeper.n_trials={n_trials} must be at least 1.")
        check(
            direction in (None, "minimize", "maximize"),
            f"hydra.sweeper.direction={direction} must be minimize or maximize (or null).",
        )
        self.objective = objective
        self.direction = direction or default_direction(objective, config)
        self.monitor = monitor or default_monitor(objective)
        self.study_name = study_name
        self.storage = absolute_storage(storage)
        self.n_trials = n_trials
        self.batch_size = batch_size(n_jobs, config.hydra.get("launcher"))
        self.sampler_config = sampler
        self.pruner_config = pruner
        self.params = params
        self.enqueue = enqueue or []
        self.config = config
        self.launcher = launcher
        self.sweep_dir = Path(config.hydra.sweep.dir)
        self.job_index = 0
        self._storage: optuna.storages.BaseStorage | None = None

    def run(self, arguments: Sequence[str]) -> optuna.Study:
        space = parse_space(self.params, arguments)
        check(
            bool(space.distributions),
            "an Optuna sweep needs something to search: give hydra.sweeper.params or a sweep "
            "such as model.hidden_size=choice(32,64) on the command line.",
        )
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.sweep_dir / "multirun.yaml", OmegaConf.to_yaml(self.config))

        study = self._open_study()
        self._check_space(study, space)
        for params in self.enqueue:
            study.enqueue_trial(enqueued(space, params), skip_if_exists=True)
        resumed = self._left_running(study)
        self._announce(study, resumed)

        records: list[TrialRecord] = []
        # What is left is read from the study before every batch: other sweeps of the same
        # command (workers on this or other machines) take trials from it too, each as soon
        # as its own last batch ends.
        while resumed or (todo := self._unclaimed(study)) > 0:
            if resumed:
                batch, resumed = resumed[: self.batch_size], resumed[self.batch_size :]
            else:
                batch = [self._ask(study, space) for _ in range(min(self.batch_size, todo))]
            records += self._launch(study, space, batch)
        return report_sweep(study, records, self.sweep_dir, self.objective, self.storage)

    def _unclaimed(self, study: optuna.Study) -> int:
        """Trials still to start: ``n_trials`` less those finished or running anywhere."""
        states = [t.state for t in study.get_trials(deepcopy=False)]
        return self.n_trials - _finished(states) - states.count(TrialState.RUNNING)

    def _open_study(self) -> optuna.Study:
        self._storage = open_storage(self.storage)
        study = optuna.create_study(
            study_name=self.study_name,
            storage=self._storage,
            pruner=self._build(self.pruner_config) or optuna.pruners.NopPruner(),
            direction=self.direction,
            load_if_exists=True,
        )
        check(
            study.direction.name.lower() == self.direction,
            f"study {self.study_name!r} in {self.storage} was made to "
            f"{study.direction.name.lower()}, not to {self.direction}; give another "
            "hydra.sweeper.study_name or the study's direction.",
        )
        # A sampler seeded the same way in every session would propose the first session's
        # parameters again; offset its seed by the trials the study already holds.
        sampler = self._build(self.sampler_config, seed_offset=len(study.trials))
        study.sampler = sampler or optuna.samplers.TPESampler()
        return study

    def _build(self, config: DictConfig | None, seed_offset: int = 0) -> Any:
        if config is None:
            return None
        if seed_offset and config.get("seed") is not None:
            return instantiate(config, seed=config.seed + seed_offset)
        return instantiate(config)

    def _left_running(self, study: optuna.Study) -> list[optuna.Trial]:
        """Trials left running by an earlier sweep of this machine whose process is gone."""
        host = socket.gethostname()
        stale = [
            t
            for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if t.user_attrs.get("sweeper_host") == host
            and not _alive(t.user_attrs.get("sweeper_pid"))
        ]
        return [self._live(study, t.number) for t in stale]

    def _live(self, study: optuna.Study, number: int) -> optuna.Trial:
        trial = live_trial(study, self._storage, number)
        self._claim(trial)
        return trial

    def _check_space(self, study: optuna.Study, space: SearchSpace) -> None:
        """Refuse a search space that the stored study's trials contradict."""
        stored = {}
        for trial in study.get_trials(deepcopy=False):
            stored |= trial.distributions
        for key, new in space.distributions.items():
            if key not in stored:
                continue
            try:
                check_distribution_compatibility(stored[key], new)
            except ValueError as error:
                raise ConfigError(
                    f"study {self.study_name!r} in {self.storage} searched {key} over another "
                    f"space ({error}); give another hydra.sweeper.study_name."
                ) from None

    def _ask(self, study: optuna.Study, space: SearchSpace) -> optuna.Trial:
        trial = study.ask(space.distributions)
        self._claim(trial)
        return trial

    @staticmethod
    def _claim(trial: optuna.Trial) -> None:
        trial.set_user_attr("sweeper_host", socket.gethostname())
        trial.set_user_attr("sweeper_pid", os.getpid())

    def _launch(
        self, study: optuna.Study, space: SearchSpace, batch: list[optuna.Trial]
    ) -> list[TrialRecord]:
        for trial in batch:
            log.info("trial %d: %s", trial.number, " ".join(space.overrides(trial.params)))
        jobs = [[*space.overrides(t.params), *self._env_overrides(t)] for t in batch]
        try:
            returns = self.launcher.launch(jobs, initial_job_idx=self.job_index)
        except Exception as error:  # noqa: BLE001 - a worker killed, a cluster refusing the job
            # The launcher gives no result of any job of the batch: all of them failed.
            failed = JobReturn(status=JobStatus.FAILED)
            failed.return_value = error
            returns = [failed] * len(jobs)
        self.job_index += len(jobs)
        return [self._tell(study, t, r) for t, r in zip(batch, returns, strict=True)]

    def _env_overrides(self, trial: optuna.Trial) -> list[str]:
        ref = TrialRef(self.storage, self.study_name, trial.number, self.monitor)
        return [f"++hydra.job.env_set.{k}={override_value(v)}" for k, v in ref.env().items()]

    def _tell(self, study: optuna.Study, trial: optuna.Trial, ret: JobReturn) -> TrialRecord:
        state, value, reason = self._outcome(ret)
        job_dir = _job_dir(ret)
        if reason:
            trial.set_user_attr("reason", reason)
        if job_dir:
            trial.set_user_attr("job_dir", str(job_dir))
        frozen = study.tell(trial, value, state=state)
        record = TrialRecord.of(frozen, job_dir)
        if state == TrialState.PRUNED:  # the reason says "pruned after epoch ..."
            print(f"[rnnlab] trial {trial.number} {reason}", file=sys.stderr)
        elif state == TrialState.FAIL:
            print(f"[rnnlab] trial {trial.number} failed: {reason}", file=sys.stderr)
        else:
            print(self._status(study, frozen), file=sys.stderr)
        if job_dir and job_dir.is_dir():
            record.write(job_dir / TRIAL_FILE, self.study_name, self.storage, self.objective)
        return record

    def _status(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> str:
        """One line for a completed trial: its value, the best so far and the study's count."""
        value = "not finite" if trial.value is None else f"{trial.value:.4g}"
        line = f"[rnnlab] trial {trial.number} complete: {self.objective}={value}"
        trials = study.get_trials(deepcopy=False)  # one read of the storage
        scored = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
        if scored:
            pick = min if self.direction == "minimize" else max
            best = pick(scored, key=lambda t: t.value)
            line += f"; best {best.value:.4g} (trial {best.number})"
        finished = _finished([t.state for t in trials])
        return f"{line}; {finished} of n_trials={self.n_trials} finished"

    def _outcome(self, ret: JobReturn | None) -> tuple[TrialState, float | None, str | None]:
        """The trial's state, objective value and, where it did not complete, why."""
        if ret is None or ret.status != JobStatus.COMPLETED:
            error = _job_error(ret)
            if isinstance(error, optuna.TrialPruned):
                return TrialState.PRUNED, None, str(error) or "pruned"
            if isinstance(error, BaseException):
                return TrialState.FAIL, None, one_line(error)
            return TrialState.FAIL, None, "the job did not report back"
        path = _job_dir(ret) / METRICS_FILE
        if not path.is_file():
            return TrialState.FAIL, None, f"the job wrote no {path}"
        metrics = json.loads(path.read_text())
        if self.objective not in metrics:
            keys = ", ".join(sorted(metrics))
            return TrialState.FAIL, None, f"{path} has no {self.objective}; it has: {keys}"
        value = metrics[self.objective]  # null where it was not finite
        if value is None or not math.isfinite(float(value)):
            spelled = (metrics.get(NONFINITE_KEY) or {}).get(self.objective, value)
            return TrialState.FAIL, None, f"{self.objective} is {spelled}"
        return TrialState.COMPLETE, float(value), None

    def _announce(self, study: optuna.Study, resumed: Sequence[optuna.Trial]) -> None:
        """Print the study, its trials' states so far, and what this sweep will run."""
        states = [t.state for t in study.get_trials(deepcopy=False)]
        finished = _finished(states)
        elsewhere = states.count(TrialState.RUNNING) - len(resumed)
        todo = self.n_trials - finished - elsewhere
        counts = ", ".join(f"{states.count(s)} {STATES[s]}" for s in _FINISHED)
        print(f"[rnnlab] Optuna study {self.study_name!r} in {self.storage}")
        print(
            f"[rnnlab] {self.direction} {self.objective}; {finished} finished trials "
            f"({counts}), {elsewhere} running elsewhere; running {max(todo, 0)} of "
            f"n_trials={self.n_trials}, {self.batch_size} at a time; jobs in {self.sweep_dir}"
        )
        for trial in resumed:
            print(f"[rnnlab] trial {trial.number} was left running by a stopped sweep; rerunning")


def _finished(states: Sequence[TrialState]) -> int:
    """How many of ``states`` are finished: complete, pruned or failed."""
    return sum(state in _FINISHED for state in states)


def enqueued(space: SearchSpace, params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` to try first, each checked to lie in the search space."""
    for key, value in params.items():
        check(
            key in space.distributions,
            f"hydra.sweeper.enqueue names {key}, which is not searched; "
            f"searched: {', '.join(space.distributions)}.",
        )
        dist = space.distributions[key]
        if isinstance(dist, CategoricalDistribution):
            inside = value in dist.choices
        else:
            inside = isinstance(value, int | float) and dist.low <= value <= dist.high
        check(inside, f"hydra.sweeper.enqueue: {key}={value} lies outside its search space.")
    return dict(params)


def default_direction(objective: str, config: DictConfig) -> str:
    """``maximize`` where the sweep's task says a higher ``objective`` is better (accuracy, F1,
    BLEU, ...: :meth:`~rnnlab.tasks.base.SupervisedTask.metric_mode`), else ``minimize``."""
    target = OmegaConf.select(config, "task._target_")
    if target is None:
        return "minimize"
    task = hydra.utils.get_class(target)
    return "maximize" if task.metric_mode(objective) == "max" else "minimize"


def default_monitor(objective: str) -> str:
    """The validation metric a trial reports during training for ``objective``:
    ``val/loss_best`` and ``test/loss`` are both watched through ``val/loss``."""
    name = objective.split("/", 1)[-1].removesuffix("_best")
    return f"val/{name}"


def absolute_storage(url: str) -> str:
    """``url`` with a relative SQLite or journal path made absolute, its folder created, so that
    every job and every worker finds the same file wherever it runs."""
    for prefix in ("sqlite:///", JOURNAL):
        if url.startswith(prefix) and url != "sqlite:///:memory:":
            path = Path(url.removeprefix(prefix)).expanduser().resolve()
            path.parent.mkdir(parents=True, exist_ok=True)
            return prefix + str(path)
    return url


def batch_size(n_jobs: int | None, launcher: DictConfig | None) -> int:
    """Trials launched together: ``n_jobs``, else the launcher's own ``n_jobs`` (joblib; -1 is
    every CPU), else 1."""
    if n_jobs is None and launcher is not None:
        n_jobs = launcher.get("n_jobs")
        if n_jobs is not None and n_jobs < 0:
            n_jobs = os.cpu_count() or 1
    n_jobs = 1 if n_jobs is None else n_jobs
    check(n_jobs >= 1, f"hydra.sweeper.n_jobs={n_jobs} must be at least 1.")
    return n_jobs


def one_line(error: BaseException) -> str:
    """``Type: first line of the message`` (a user's mistake or a diverged run: just the
    message, which is one sentence)."""
    lines = str(error).strip().splitlines()
    message = lines[0] if lines else ""
    if isinstance(error, ConfigError | NumericalFault):
        return message
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def _job_dir(ret: JobReturn | None) -> Path | None:
    if ret is None or ret.hydra_cfg is None:
        return None
    return Path(ret.hydra_cfg.hydra.runtime.output_dir)


def _alive(pid: Any) -> bool:
    """Whether the sweep process ``pid`` still runs; this process only now started, so a trial
    it seems to hold was left by an earlier process that had the same number."""
    if not isinstance(pid, int) or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _job_error(ret: JobReturn | None) -> BaseException | None:
    """The exception a job that did not complete raised, as its ``return_value`` raises it
    (which also writes a note of Hydra's on stderr, kept out of the sweep's report)."""
    if ret is None or ret.status == JobStatus.UNKNOWN:
        return None
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # Hydra's note; the sweep says why
            _ = ret.return_value
    except BaseException as error:  # noqa: BLE001 - the job's own exception, whatever it is
        return error
    return None
