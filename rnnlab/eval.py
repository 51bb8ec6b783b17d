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

from rnnlab.callbacks.run_config import CHECKPOINT_KEY
from rnnlab.utils.cli import run
from rnnlab.utils.errors import ConfigError, check
from rnnlab.utils.instantiate import build_system, instantiate, instantiate_loggers
from rnnlab.utils.run_output import finish_run, scalar_metrics


def load_run_config(ckpt_path: str | Path) -> DictConfig:
    """The training config stored in a checkpoint written by ``rnnlab.train``."""
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
    return OmegaConf.create(checkpoint[CHECKPOINT_KEY])


def evaluate(cfg: DictConfig) -> tuple[dict[str, float], dict[str, Any]]:
    """Test the checkpoint ``cfg.ckpt_path`` on its run's test split; return metrics and objects."""
    saved = load_run_config(cfg.ckpt_path)
    L.seed_everything(cfg.seed, workers=True, verbose=False)  # the seed is in the config

    datamodule, _, task = build_system(saved)
    trainer: L.Trainer = instantiate(
        cfg.trainer, "trainer", logger=instantiate_loggers(cfg.get("logger"))
    )
    trainer.test(task, datamodule=datamodule, ckpt_path=cfg.ckpt_path)

    metrics = scalar_metrics(trainer.callback_metrics, ("test/",))
    hparams = {key: OmegaConf.to_container(saved[key]) for key in ("model", "data", "task")}
    finish_run(trainer, cfg.paths.output_dir, hparams, metrics, datamodule.spec.noise_floor)
    return metrics, {"datamodule": datamodule, "task": task, "trainer": trainer}


def _main(cfg: DictConfig) -> None:
    evaluate(cfg)


def main() -> None:
    run(_main, config_name="eval")


if __name__ == "__main__":
    main()
