"""The entry points' glue: the datamodule, net, task and trainer that a configuration describes.

Read in the order ``rnnlab.train`` uses it: the data first, whose spec decides what the net reads
(:meth:`~rnnlab.tasks.base.SupervisedTask.net_arguments`); then the net; then the task around
the net and the spec. Each step checks that the parts fit (the task reads this spec, the net
reads these inputs, the task accepts this net) and says so in one sentence naming both parts.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import hydra
import lightning as L
import torch
from hydra.errors import InstantiationException
from lightning.fabric.loggers import TensorBoardLogger as FabricTensorBoardLogger
from lightning.pytorch import Callback
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint, ProgressBar
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities.exceptions import MisconfigurationException
from omegaconf import DictConfig, OmegaConf
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

from rnnlab.data.baselines import HasBaselines, ScoresBaselines
from rnnlab.data.specs import Spec
from rnnlab.loggers import LogEveryEpoch
from rnnlab.nets.protocol import OPTIONAL_PARAMETERS
from rnnlab.tasks.base import SupervisedTask
from rnnlab.tasks.optim import MIN_SCHEDULED_STEPS, unset_length
from rnnlab.utils.checkpoint_io import AtomicCheckpointIO
from rnnlab.utils.errors import ConfigError, check
from rnnlab.utils.instantiate import instantiate, instantiate_each, locate
from rnnlab.utils.profiling import NullProfiler


def build_system(cfg: DictConfig) -> tuple[L.LightningDataModule, torch.nn.Module, SupervisedTask]:
    """The datamodule, net and task that ``cfg.data``, ``cfg.model`` and ``cfg.task`` describe."""
    datamodule = instantiate(cfg.data, "data")
    net, task = build_model(cfg, datamodule.spec)
    return datamodule, net, task


def build_model(cfg: DictConfig, spec: Spec) -> tuple[torch.nn.Module, SupervisedTask]:
    """The net and the task around it, for data that ``spec`` describes; the data-decided
    arguments of the net are written into ``cfg.model``, so the saved config is complete."""
    task_class = _task_class(cfg)
    problem = task_class.spec_problem(spec)
    if problem:
        raise ConfigError(f"{choice(cfg, 'task')} does not fit {choice(cfg, 'data')}: {problem}.")
    net = build_net(cfg, task_class.net_arguments(spec), spec)
    problem = task_class.net_problem(net)
    if problem:
        raise ConfigError(f"{choice(cfg, 'model')} does not fit {choice(cfg, 'task')}: {problem}.")
    factory = instantiate(cfg.task, "task", _partial_=True)
    optimizer, scheduler = build_optimizer(cfg)
    return net, _call(factory, "task", net=net, spec=spec, optimizer=optimizer, scheduler=scheduler)


def build_net(cfg: DictConfig, arguments: dict[str, Any], spec: Spec) -> torch.nn.Module:
    """The net ``cfg.model`` describes, given the data's ``arguments`` (its input parameters,
    see :mod:`rnnlab.nets.protocol`); a net that cannot take them cannot read the data."""
    node = cfg.model
    target = locate(node._target_, "model")
    parameters = inspect.signature(target).parameters
    arguments = {
        name: value
        for name, value in arguments.items()
        if name in parameters or name not in OPTIONAL_PARAMETERS
    }
    unread = [name for name in arguments if name not in parameters]
    if unread:
        raise ConfigError(
            f"{choice(cfg, 'model')} cannot read {choice(cfg, 'data')}, which gives "
            f"{spec.inputs.describe()} (as {', '.join(unread)}, which {target.__name__} does not "
            "take); choose a model that reads them."
        )
    missing = [
        name
        for name, p in parameters.items()
        if p.default is inspect.Parameter.empty
        and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        and name not in arguments
        and OmegaConf.select(node, name, default=None) is None
    ]
    if missing:
        raise ConfigError(
            f"{choice(cfg, 'model')} cannot read {choice(cfg, 'data')}: it needs "
            f"{', '.join(missing)}, which neither its config nor the data "
            f"({spec.inputs.describe()}) gives."
        )
    tensors = {}
    for name, value in arguments.items():
        if isinstance(value, torch.Tensor):  # pretrained embeddings: passed, not configured
            tensors[name] = value
        else:
            OmegaConf.update(node, name, value, force_add=True)
    if not tensors:
        return instantiate(node, "model")
    return _call(instantiate(node, "model", _partial_=True), "model", **tensors)


def build_optimizer(cfg: DictConfig) -> tuple[Any, Any]:
    """The optimizer and (or ``None``) scheduler partials of ``cfg.optimizer`` and
    ``cfg.scheduler``, which the task calls in ``configure_optimizers``."""
    scheduler = cfg.get("scheduler")
    has_scheduler = isinstance(scheduler, DictConfig) and "_target_" in scheduler
    optimizer = instantiate(cfg.optimizer, "optimizer")
    # torch checks the settings (lr, betas, momentum, a schedule's max_lr, ...) when it builds
    # each: so both are built once now, on a stand-in weight, rather than mid-fit.
    try:
        probe = optimizer(params=[torch.nn.Parameter(torch.zeros(1))])
    except (ValueError, TypeError) as error:
        target = cfg.optimizer.get("_target_", "the optimizer")
        raise ConfigError(f"optimizer: {target} refuses its settings: {error}.") from None
    if not has_scheduler:
        return optimizer, None
    schedule = instantiate(scheduler, "scheduler")
    length = unset_length(schedule)  # the run's length, filled in when it is known
    trainer = cfg.get("trainer") or {}
    endless = trainer.get("max_epochs") == -1 and trainer.get("max_steps", -1) == -1
    if length is not None and endless:
        target = scheduler.get("_target_", "the scheduler")
        raise ConfigError(
            f"scheduler: {target} spans the run's steps, and trainer.max_epochs=-1 with "
            "trainer.max_steps=-1 sets no end; give trainer.max_steps, or scheduler=none."
        )
    try:
        built = schedule(probe, **({length: MIN_SCHEDULED_STEPS} if length else {}))
        if isinstance(built, LRScheduler):  # some settings (eta_min) are first read by a step
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "a step before the optimizer's": a stand-in
                if isinstance(built, ReduceLROnPlateau):
                    built.step(0.0)  # it steps on a metric's value
                else:
                    built.step()
    except (ValueError, TypeError) as error:
        target = scheduler.get("_target_", "the scheduler")
        raise ConfigError(f"scheduler: {target} refuses its settings: {error}.") from None
    return optimizer, schedule


def build_trainer(node: DictConfig, task: SupervisedTask, **kwargs: Any) -> L.Trainer:
    """The trainer ``node`` describes, for ``task``.

    Without a ``profiler`` in ``node``, the trainer gets a :class:`NullProfiler`. It writes
    checkpoints through :class:`AtomicCheckpointIO` in place of Lightning's default writer; a
    ``CheckpointIO`` of another kind in ``trainer.plugins`` stays.

    Lightning refuses ``gradient_clip_val`` for a task that runs its own optimisation (truncated
    BPTT, ``task.steps_per_batch`` above 1), so such a task is handed the clipping settings
    instead and clips at the same point of its step, and the trainer is built without them.
    """
    _check_trainer(node)
    _check_group_settings(node, kwargs)
    if node.get("log_every_n_steps") is None:  # unset: an interval that gives every epoch a point
        kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), LogEveryEpoch()]
    if not task.automatic_optimization:
        accumulate = node.get("accumulate_grad_batches", 1)
        check(
            accumulate == 1,
            f"trainer.accumulate_grad_batches={accumulate} cannot be used with "
            f"{_own_optimisation(task)}, which takes one optimizer step per batch of data "
            "(raise data.batch_size instead).",
        )
        task.gradient_clip_val = node.get("gradient_clip_val")
        task.gradient_clip_algorithm = node.get("gradient_clip_algorithm") or "norm"
        kwargs |= {"gradient_clip_val": None, "gradient_clip_algorithm": None}
    if node.get("profiler") is None:
        kwargs["profiler"] = NullProfiler()
    try:
        trainer = instantiate(node, "trainer", **kwargs)
    except InstantiationException as error:  # Lightning's refusal of a value, as one line
        if isinstance(error.__cause__, MisconfigurationException):
            raise ConfigError(f"trainer: {error.__cause__}") from None
        raise
    if type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:  # Lightning's default writer
        trainer.strategy.checkpoint_io = AtomicCheckpointIO()
    return trainer


@contextmanager
def lightning_refusals() -> Iterator[None]:
    """Inside: Lightning's refusal of a setting that it can judge only once it reads the data
    (a fraction of batches that comes to less than one, ``limit_val_batches=0.01`` of a small
    set), raised from ``fit`` or ``test`` as a ``MisconfigurationException``, becomes one
    sentence, a :class:`ConfigError`. The run directory keeps what was written before: the
    settings and log, and where the refusal came at the test, the training's checkpoints."""
    try:
        yield
    except MisconfigurationException as error:
        raise ConfigError(f"Lightning refused the settings: {error}") from None


def _own_optimisation(task: SupervisedTask) -> str:
    """What makes ``task`` optimise by hand, as its setting."""
    if task.steps_per_batch > 1:
        return f"task.steps_per_batch={task.steps_per_batch}"
    return f"{type(task).__name__}'s own optimisation (one step per truncated-BPTT chunk)"


# Whole-number trainer settings Lightning takes without a check (a negative minimum, which
# it ignores) or divides by (a zero interval, a ZeroDivisionError mid-run): the least value
# each may take, and what the sentence adds. ``null`` is Lightning's default for each.
_WHOLE_NUMBERS = {
    "max_epochs": (-1, ", or -1 (no limit)"),
    "max_steps": (-1, ", or -1 (no limit)"),
    "min_epochs": (0, ""),
    "min_steps": (0, ""),
    "log_every_n_steps": (1, ""),
    "check_val_every_n_epoch": (1, " (or null: validate every val_check_interval batches)"),
    "num_sanity_val_steps": (-1, ", or -1 (every validation batch)"),
}


# Trainer arguments that rnnlab's config groups decide, and what to give instead: each refused
# where it clashes with what rnnlab hands the trainer (see _check_group_settings).
_SET_BY_GROUPS = {
    "logger": "the logger group sets the loggers; give logger=none for none, or logger=csv, "
    "logger=[tensorboard,mlflow]",
    "callbacks": "the callbacks group sets the callbacks; give callbacks=none for rnnlab's own "
    "only, or add one with +callbacks.<name>._target_=<class>",
    "enable_checkpointing": "the callbacks group's model_checkpoint saves the checkpoints; give "
    "~callbacks.model_checkpoint to save none",
    "enable_progress_bar": "the callbacks group's rich_progress_bar draws the bar; give "
    "~callbacks.rich_progress_bar for none",
    "barebones": "rnnlab's runs keep their record (checkpoints, metrics.json, the curves) "
    "through callbacks and loggers, which barebones turns off; give callbacks=none "
    "logger=none for the leanest run",
}


def _check_group_settings(node: DictConfig, given: dict[str, Any]) -> None:
    """Refuse, in one sentence, a trainer argument of ``node`` that clashes with the
    arguments ``given`` beside it: one they would override unseen (``logger=false``), or a
    switch that Lightning refuses beside their callbacks and loggers."""
    callbacks = given.get("callbacks") or []
    clashes = {
        "logger": "logger" in given,
        "callbacks": "callbacks" in given,
        "enable_checkpointing": node.get("enable_checkpointing") is False
        and any(isinstance(c, ModelCheckpoint) for c in callbacks),
        "enable_progress_bar": node.get("enable_progress_bar") is False
        and any(isinstance(c, ProgressBar) for c in callbacks),
        "barebones": node.get("barebones") is True and bool(callbacks or given.get("logger")),
    }
    for key, clash in clashes.items():
        if key in node and clash:
            value = str(node[key]).lower() if isinstance(node[key], bool) else node[key]
            raise ConfigError(f"trainer.{key}={value}: {_SET_BY_GROUPS[key]}.")


def _check_trainer(node: DictConfig) -> None:
    """Refuse the trainer values that Lightning takes silently (a negative clipping norm) or
    refuses in a traceback, each in one sentence naming the value."""
    clip = node.get("gradient_clip_val")
    check(
        clip is None or (isinstance(clip, int | float) and clip >= 0),
        f"trainer.gradient_clip_val={clip} must be at least 0 (or null: no clipping).",
    )
    # Checked here for every task: Lightning checks it only where it clips itself, not for a
    # task that clips in its own optimisation (truncated BPTT, several steps a batch). Lightning
    # reads the name in any case.
    algorithm = node.get("gradient_clip_algorithm")
    check(
        algorithm is None or str(algorithm).lower() in ("norm", "value"),
        f"trainer.gradient_clip_algorithm={algorithm} must be norm or value (or null: norm).",
    )
    for key, (least, also) in _WHOLE_NUMBERS.items():
        value, lowest = node.get(key), max(least, 0)  # -1: a word for "no limit" or "all"
        check(
            value is None or (isinstance(value, int) and (value >= lowest or value == least)),
            f"trainer.{key}={value} must be a whole number of at least {lowest}{also}.",
        )
    interval = node.get("val_check_interval")  # a count of batches, or a fraction of an epoch
    check(
        interval != 0 or isinstance(interval, float),
        "trainer.val_check_interval=0 must be a whole number of batches of at least 1, or a "
        "fraction of an epoch (0.25: four times an epoch).",
    )
    accumulate = node.get("accumulate_grad_batches", 1)
    check(
        isinstance(accumulate, int) and accumulate >= 1,
        f"trainer.accumulate_grad_batches={accumulate} must be a whole number of at least 1.",
    )


def build_callbacks(
    node: DictConfig | None, task: SupervisedTask | None = None, logged: bool = True
) -> list[Callback]:
    """Every callback under ``node``, skipping entries without a ``_target_``; given the
    ``task``, those that declare a ``task_type`` it is not; and without a logger
    (``logged=False``), the learning-rate monitor, which records into one.

    A figure that acts on one kind of task has nothing to do in the rest, so it stays out of
    them (and out of the hooks Lightning calls for every callback at every step); the monitor
    would stop a run with ``logger=none`` before its first step.

    Under ``task.steps_per_batch`` above 1 Lightning's callbacks see the optimizer steps only
    where a batch ends, so a checkpoint every ``every_n_train_steps`` must fall there.
    """
    steps = getattr(task, "steps_per_batch", 1)
    for name, entry in (node or {}).items():
        every = entry.get("every_n_train_steps") if isinstance(entry, DictConfig) else None
        check(
            not every or every % steps == 0,
            f"callbacks.{name}.every_n_train_steps={every} must be a multiple of "
            f"task.steps_per_batch={steps}: callbacks see the step count only where a batch of "
            f"{steps} optimizer steps ends.",
        )
    callbacks = instantiate_each(node, "callbacks")
    if not logged:
        callbacks = [cb for cb in callbacks if not isinstance(cb, LearningRateMonitor)]
    if task is None:
        return callbacks
    return [cb for cb in callbacks if isinstance(task, getattr(cb, "task_type", object))]


def build_loggers(node: DictConfig | None, purge_step: int | None = None) -> list:
    """Every logger under ``node``, skipping entries without a ``_target_``.

    ``purge_step``, for a resumed run: where its TensorBoard loggers' writers (torch's
    ``SummaryWriter``, to which Lightning hands the arguments it does not take) hide the
    events of the earlier session at that step and after, which the resumed run logs again;
    without it TensorBoard would show those steps twice (a run killed after its checkpoint).
    """
    if purge_step is None or not node:
        return instantiate_each(node, "logger")
    loggers = []
    for name, child in node.items():
        if not (isinstance(child, DictConfig) and "_target_" in child):
            continue
        target = locate(str(child._target_), f"logger.{name}")
        writes_events = isinstance(target, type) and issubclass(target, FabricTensorBoardLogger)
        extra = {"purge_step": purge_step} if writes_events and "purge_step" not in child else {}
        loggers.append(instantiate(child, f"logger.{name}", **extra))
    return loggers


def score_baselines(
    task: SupervisedTask, datamodule: L.LightningDataModule
) -> tuple[dict[str, float], dict[str, str]]:
    """The test metrics of the plain baselines that ``datamodule`` fits on its training split
    (:mod:`rnnlab.data.baselines`), scored by ``task`` as ``test/<name>_<metric>``, and their
    headings by name; nothing for data that offers none, or a task that scores none."""
    if not (isinstance(datamodule, HasBaselines) and isinstance(task, ScoresBaselines)):
        return {}, {}
    metrics, headings = {}, {}
    for name, baseline in datamodule.baselines().items():
        scores = task.score_baseline(baseline.predictions, baseline.targets)
        metrics |= {f"test/{name}_{metric}": value for metric, value in scores.items()}
        headings[name] = baseline.heading
    return metrics, headings


def choice(cfg: DictConfig, group: str) -> str:
    """How the user chose ``group``: ``model=lstm`` in a Hydra run, else the class it builds."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        for key, value in HydraConfig.get().runtime.choices.items():
            if key.split("@")[0] == group and value is not None:
                return f"{group}={value}"
    target = OmegaConf.select(cfg, f"{group}._target_", default="?")
    return f"{group} {target.rsplit('.', 1)[-1]}"


def _task_class(cfg: DictConfig) -> type[SupervisedTask]:
    target = cfg.task.get("_target_")
    try:
        task_class = hydra.utils.get_class(target)
    except Exception as error:  # noqa: BLE001 - Hydra wraps import errors of any kind
        raise ConfigError(f"task._target_={target} cannot be imported ({error}).") from None
    if not issubclass(task_class, SupervisedTask):
        raise ConfigError(f"task._target_={target} is no rnnlab task (a SupervisedTask).")
    return task_class


def _call(factory: Any, what: str, **objects: Any) -> Any:
    """``factory(**objects)``, whose bad-value failures read as one sentence naming ``what``."""
    try:
        return factory(**objects)
    except ConfigError:
        raise
    except (ValueError, TypeError) as error:
        raise ConfigError(f"{what}: {error}") from error
