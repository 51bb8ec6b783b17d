"""Test a saved checkpoint: ``python -m rnnlab.eval ckpt_path=<run>/checkpoints/last.ckpt``.

The net, task and data are rebuilt from the config that training stored in the checkpoint, so
no training override needs repeating; the trainer, logger and output paths come from
``conf/eval.yaml`` and the command line.
"""

from __future__ import annotations

from typing import Any

import lightning as L
from omegaconf import DictConfig, OmegaConf

from rnnlab.build import (
    build_loggers,
    build_system,
    build_trainer,
    lightning_refusals,
    score_baselines,
)
from rnnlab.checkpoints import load_run, load_weights
from rnnlab.cli import open_run_dir, run
from rnnlab.utils.console import quiet_console
from rnnlab.utils.errors import check, check_seed
from rnnlab.utils.run_output import finish_run, scalar_metrics


def evaluate(cfg: DictConfig) -> tuple[dict[str, float], dict[str, Any]]:
    """Test the checkpoint ``cfg.ckpt_path`` on its run's test split; return metrics and objects."""
    saved, spec, checkpoint = load_run(cfg.ckpt_path)
    check_seed(cfg.seed)
    L.seed_everything(cfg.seed, workers=True, verbose=False)  # the seed is in the config

    datamodule, _, task = build_system(saved)
    check(
        spec.inputs.vocab == datamodule.spec.inputs.vocab,
        f"the data behind ckpt_path={cfg.ckpt_path} has changed since training: its "
        "vocabulary differs from the checkpoint's.",
    )
    # The weights go into the task here, not through the trainer's ckpt_path: Lightning would
    # restore the training run's callback states too, and warn that this trainer has none.
    load_weights(task, checkpoint, f"ckpt_path={cfg.ckpt_path}")
    del checkpoint
    # Data with no test split (a language model trained with test=false) is refused here,
    # before the eval run's folder is written, not when Lightning asks for the loader.
    datamodule.setup("test")
    datamodule.test_dataloader()
    # Testing saves nothing: no checkpoint callback.
    loggers = build_loggers(cfg.get("logger"))
    trainer = build_trainer(cfg.trainer, task, logger=loggers, enable_checkpointing=False)
    open_run_dir(cfg)  # once everything the settings can get wrong has been checked
    with lightning_refusals():
        trainer.test(task, datamodule=datamodule, verbose=False)

    metrics = scalar_metrics(trainer.callback_metrics, ("test/",))
    scores, headings = score_baselines(task, datamodule)
    metrics |= scores
    groups = ("model", "data", "task", "optimizer", "scheduler")
    hparams = {key: OmegaConf.to_container(saved[key]) for key in groups if key in saved}
    finish_run(
        trainer,
        cfg.paths.output_dir,
        hparams,
        metrics,
        datamodule.spec.facts(),
        task.metric_mode,
        {**task.baselines, **headings},
    )
    return metrics, {"datamodule": datamodule, "task": task, "trainer": trainer}


def _main(cfg: DictConfig) -> None:
    quiet_console(cfg.get("verbose", False))
    evaluate(cfg)


def main() -> None:
    run(_main, config_name="eval")


if __name__ == "__main__":
    main()
