"""Test a saved checkpoint: ``python -m rnnlab.eval ckpt_path=<run>/checkpoints/last.ckpt``.

The net, task and data are rebuilt from the config that training stored in the checkpoint, so
no training override needs repeating; the trainer, logger and output paths come from
``conf/eval.yaml`` and the command line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf

from rnnlab.build import build_loggers, build_system, build_trainer, score_baselines
from rnnlab.callbacks.run_config import CHECKPOINT_KEY, SPEC_KEY
from rnnlab.cli import run
from rnnlab.data.specs import Spec, spec_from_dict
from rnnlab.utils.console import quiet_console
from rnnlab.utils.errors import ConfigError, check
from rnnlab.utils.run_output import finish_run, scalar_metrics


def load_checkpoint(ckpt_path: str | Path) -> dict[str, Any]:
    """A checkpoint written by ``rnnlab.train``, read onto the CPU."""
    path = Path(ckpt_path)
    check(path.is_file(), f"ckpt_path={path} does not exist; give the path of a .ckpt file.")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ConfigError(f"ckpt_path={path} is not a readable checkpoint ({error}).") from None
    check(
        CHECKPOINT_KEY in checkpoint,
        f"ckpt_path={path} holds no rnnlab config; was it written by python -m rnnlab.train?",
    )
    return checkpoint


def load_run(ckpt_path: str | Path) -> tuple[DictConfig, Spec, dict[str, Any]]:
    """The training config and data spec stored in a checkpoint, and the checkpoint; a
    checkpoint of an earlier release, whose spec this one cannot read, is refused in one
    sentence."""
    checkpoint = load_checkpoint(ckpt_path)
    spec = spec_from_dict(checkpoint.get(SPEC_KEY), f"ckpt_path={ckpt_path}")
    return OmegaConf.create(checkpoint[CHECKPOINT_KEY]), spec, checkpoint


def evaluate(cfg: DictConfig) -> tuple[dict[str, float], dict[str, Any]]:
    """Test the checkpoint ``cfg.ckpt_path`` on its run's test split; return metrics and objects."""
    saved, spec, _ = load_run(cfg.ckpt_path)
    L.seed_everything(cfg.seed, workers=True, verbose=False)  # the seed is in the config

    datamodule, _, task = build_system(saved)
    check(
        spec.inputs.vocab == datamodule.spec.inputs.vocab,
        f"the data behind ckpt_path={cfg.ckpt_path} has changed since training: its "
        "vocabulary differs from the checkpoint's.",
    )
    trainer: L.Trainer = build_trainer(cfg.trainer, task, logger=build_loggers(cfg.get("logger")))
    trainer.test(task, datamodule=datamodule, ckpt_path=cfg.ckpt_path, verbose=False)

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
