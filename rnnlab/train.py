"""Train a net on a dataset: ``python -m rnnlab.train model=lstm data=sine``.

Build the datamodule, ask it for its spec, build the net for that spec, build the task around
the net, build the trainer, fit, test the best checkpoint, and write what the run leaves behind.

From Python, :func:`run` does the same from a list of overrides::

    from rnnlab.train import run
    metrics, objects = run(["model=gru", "data=sine", "trainer.max_epochs=3"])
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import InterpolationResolutionError

from rnnlab import cli
from rnnlab.build import (
    build_callbacks,
    build_loggers,
    build_system,
    build_trainer,
    lightning_refusals,
    score_baselines,
)
from rnnlab.callbacks.best_metrics import BestMetrics
from rnnlab.callbacks.exact_resume import ExactResume
from rnnlab.callbacks.finite import FiniteGuard
from rnnlab.callbacks.preemption import Preempted, Preemption
from rnnlab.callbacks.pruning import OptunaPruning
from rnnlab.callbacks.run_config import RunConfig
from rnnlab.checkpoints import check_resume, check_resumed_schedule, resolve_ckpt_path
from rnnlab.sweeps.trial import pruning_callback
from rnnlab.tasks.optim import unset_length
from rnnlab.utils.console import quiet_console
from rnnlab.utils.ddp import ddp_job
from rnnlab.utils.errors import ConfigError, check, check_seed
from rnnlab.utils.memory import set_cpu_memory
from rnnlab.utils.run_output import finish_run, log_config_text, log_layout, scalar_metrics


def with_absolute_data_files(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` (as a checkpoint keeps it) with the data's files (``data.path``,
    ``data.vectors``) made absolute from where the run started, so that ``rnnlab.eval``,
    ``predict`` and ``export`` find them from any directory; the run's own messages and
    ``.hydra/config.yaml`` keep them as given."""
    data = config.get("data")
    if not isinstance(data, dict):
        return config
    files = {
        key: str(Path(value).expanduser().absolute())
        for key in ("path", "vectors")
        if isinstance(value := data.get(key), str) and value
    }
    return {**config, "data": {**data, **files}}


def train(cfg: DictConfig) -> tuple[dict[str, float], dict[str, Any]]:
    """Fit and test the run that ``cfg`` describes; return its final metrics and its objects
    (``datamodule``, ``net``, ``task``, ``trainer``)."""
    check_seed(cfg.seed)
    try:
        cfg.paths.output_dir  # noqa: B018 - resolved now, where a mistake can be named
    except InterpolationResolutionError:
        raise ConfigError(
            "paths.output_dir comes from Hydra's run directory, and no Hydra run is set up: "
            "call rnnlab.train.run(overrides), which sets one up, or give train() a config "
            "with paths.output_dir set."
        ) from None
    test = cfg.get("test", False)
    check(isinstance(test, bool), f"test={test} must be true or false.")
    L.seed_everything(cfg.seed, workers=True, verbose=False)  # the seed is in the config

    # Everything the settings and the data can get wrong is found before the run directory is
    # written: a refused run leaves no trace, and an existing run directory stays as it was.
    resumed = resolve_ckpt_path(cfg)  # resume=true, ckpt_path=last or a file: found, readable
    datamodule, net, task = build_system(cfg)
    ckpt_path = None
    if resumed is not None:  # the same task and data, and weights that fit the net
        ckpt_path, checkpoint = resumed
        check_resume(ckpt_path, checkpoint, cfg, task, datamodule.spec)
        spans_run = task.scheduler_factory is not None and unset_length(task.scheduler_factory)
        check_resumed_schedule(ckpt_path, checkpoint, cfg, bool(spans_run))
        del checkpoint  # Lightning reads the file itself when fitting
    finite = FiniteGuard(cfg.get("nonfinite", "stop"))  # a NaN or inf loss or gradient

    config = with_absolute_data_files(OmegaConf.to_container(cfg, resolve=True))
    best_metrics = BestMetrics(task.metric_mode)  # val/<metric>_best, which sweeps optimize
    # SIGTERM or SIGUSR1: a checkpoint of the current step, then exit PREEMPTED_EXIT_CODE.
    preemption = Preemption(Path(cfg.paths.output_dir) / "checkpoints")
    loggers = build_loggers(cfg.get("logger"))
    callbacks = [
        *build_callbacks(cfg.get("callbacks"), task, logged=bool(loggers)),
        RunConfig(config, datamodule.spec),
        best_metrics,
        finite,
        ExactResume(),  # the random state and the loader's epoch, for an exact resume
        preemption,
    ]
    pruning = pruning_callback()  # inside an Optuna sweep: report to the trial, stop if pruned
    if pruning is not None:
        callbacks.append(pruning)
    trainer: L.Trainer = build_trainer(cfg.trainer, task, callbacks=callbacks, logger=loggers)
    cli.open_run_dir(cfg)  # the trainer's settings are checked too
    log_config_text(trainer, OmegaConf.to_yaml(cfg, resolve=True))
    log_layout(trainer, task.headline)
    objects = {"datamodule": datamodule, "net": net, "task": task, "trainer": trainer}

    # A DDP job of a multirun starts its own ranks; a setting Lightning refuses once it reads
    # the data ends the run in one sentence.
    with ddp_job(entry="rnnlab.train"), lightning_refusals():
        try:
            trainer.fit(task, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
        except SIGTERMException:  # stopped by a signal, its checkpoint saved: a distinct status
            raise Preempted(preemption.saved) from None
        metrics = best_metrics.metrics()
        kept = ("val/loss_best", "train/skipped_steps")
        metrics |= scalar_metrics(trainer.callback_metrics, kept)
        if pruning is not None and pruning.pruned is not None:
            stop_pruned(trainer, pruning)
            return metrics, objects  # ranks other than zero end quietly
        baselines = dict(task.baselines)
        if cfg.get("test"):
            checkpoint = trainer.checkpoint_callback
            best = checkpoint.best_model_path if checkpoint else ""
            # rnnlab prints its own table of the final metrics: not Lightning's too.
            trainer.test(
                task,
                datamodule=datamodule,
                ckpt_path=best or None,
                verbose=False,
                weights_only=True,
            )
            metrics |= scalar_metrics(trainer.callback_metrics, ("test/",))
            metrics |= test_variants(trainer, task, datamodule)
            scores, headings = score_baselines(task, datamodule)
            metrics |= scores
            baselines |= headings
    finish_run(
        trainer,
        cfg.paths.output_dir,
        hparams(cfg),
        metrics,
        datamodule.spec.facts(),
        task.metric_mode,
        baselines,
    )
    return metrics, objects


def run(overrides: Sequence[str] = ()) -> tuple[dict[str, float], dict[str, Any]]:
    """Train as ``python -m rnnlab.train <overrides>`` would, from Python (a notebook, a
    script): the same composed configuration, checks and run directory; returns
    :func:`train`'s metrics and objects. A user's mistake raises
    :class:`~rnnlab.utils.errors.ConfigError` with the sentence the command line prints.

    It leaves the calling process as it is: the C allocator (``cpu_memory``), logging and
    warnings are the command line's business only.
    """
    return cli.run_in_python(train, "train", overrides)


def stop_pruned(trainer: L.Trainer, pruning: OptunaPruning) -> None:
    """On rank zero, end a pruned trial with :class:`optuna.TrialPruned`, which the sweeper
    records; the trial is not tested and writes no ``metrics.json``."""
    if trainer.is_global_zero:
        import optuna

        epoch, value = pruning.pruned["epoch"], pruning.pruned["value"]
        raise optuna.TrialPruned(f"pruned after epoch {epoch}: {pruning.monitor}={value:.6g}")


def test_variants(trainer: L.Trainer, task: L.LightningModule, datamodule) -> dict[str, float]:
    """Score the tested weights on each of the datamodule's further test sets
    (``test_variants``, a test set at each of several lengths): ``test/<metric>@<name>``.

    Each set is scored by a trainer of its own that logs nothing, so that the run's logs hold
    one ``test/`` value of each metric; these scores reach TensorBoard's HPARAMS tab and
    ``metrics.json`` with the others. Under DDP every rank scores every set whole (their
    metrics' states, synchronised, are equal copies, so means are unchanged).
    """
    variants = datamodule.test_variants() if hasattr(datamodule, "test_variants") else {}
    scores: dict[str, float] = {}
    if not variants:
        return scores
    device = trainer.strategy.root_device
    evaluator = L.Trainer(
        accelerator="gpu" if device.type == "cuda" else "cpu",
        devices=[device.index or 0] if device.type == "cuda" else 1,
        precision=trainer.precision,
        limit_test_batches=trainer.limit_test_batches,
        logger=False,
        callbacks=[],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    for name, loader in variants.items():
        evaluator.test(task, dataloaders=loader, verbose=False)
        tested = scalar_metrics(evaluator.callback_metrics, ("test/",))
        scores |= {f"{key}@{name}": value for key, value in tested.items()}
    return scores


def hparams(cfg: DictConfig) -> dict[str, Any]:
    """The settings worth comparing runs by: model, data, task, optimizer, scheduler and
    trainer, plus the seed."""
    groups = ("model", "data", "task", "optimizer", "scheduler", "trainer")
    return {
        **{key: OmegaConf.to_container(cfg[key], resolve=True) for key in groups if key in cfg},
        "seed": cfg.seed,
    }


def _main(cfg: DictConfig) -> float | None:
    # What only the command line does to its process: the allocator, and a quiet console.
    set_cpu_memory(cfg.get("cpu_memory", "reuse"))
    quiet_console(cfg.get("verbose", False))
    _warn_search_without_multirun()
    metrics, _ = train(cfg)
    return metrics.get(cfg.get("optimized_metric") or "")


def _warn_search_without_multirun() -> None:
    """``hparams_search=...`` without ``-m`` trains once with the defaults: say so."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode == RunMode.RUN and "optuna" in hydra_cfg.sweeper.get("_target_", ""):
        print(
            "note: hparams_search only searches in a multirun; add -m to run the Optuna study. "
            "Training once with the defaults.",
            file=sys.stderr,
        )


def main() -> None:
    cli.run(_main, config_name="train")


if __name__ == "__main__":
    main()
