"""Every config composes, and every committed experiment runs."""

import pytest

from rnnlab.cli import CONFIG_DIR, available
from rnnlab.data.bundled import SERIES
from rnnlab.train import train
from tests.conftest import compose_config

GROUPS = ["model", "data", "trainer", "callbacks", "logger", "debug", "task", "hparams_search"]


@pytest.mark.parametrize("group, choice", [(g, c) for g in GROUPS for c in available(g)])
def test_every_config_composes(tmp_path, group, choice):
    cfg = compose_config("train", [f"{group}={choice}"], tmp_path)
    assert cfg.model._target_ and cfg.data._target_ and cfg.task._target_ and cfg.trainer._target_


def test_data_config_picks_its_task_and_the_command_line_replaces_it(tmp_path):
    cfg = compose_config("train", ["data=sine"], tmp_path)
    assert cfg.task._target_ == "rnnlab.tasks.ForecastingTask"
    assert "task" not in cfg.data


def test_early_stopping_adds_to_the_default_callbacks(tmp_path):
    cfg = compose_config("train", ["callbacks=[default,early_stopping]"], tmp_path)
    assert {"model_checkpoint", "early_stopping"} <= set(cfg.callbacks)


def test_eval_config_composes(tmp_path):
    cfg = compose_config("eval", ["ckpt_path=x.ckpt"], tmp_path)
    assert cfg.ckpt_path == "x.ckpt" and "model" not in cfg


# Data that needs an optional package, and the package.
OPTIONAL = {
    "rnnlab.data.ucr.UCRDataModule": "sktime",
    "rnnlab.data.digits.DigitsDataModule": "sklearn",
}
SMOKE = [
    "trainer=cpu",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
    "~callbacks.rich_progress_bar",
]


@pytest.mark.parametrize("experiment", available("experiment"))
def test_every_experiment_runs(tmp_path, experiment):
    cfg = compose_config("train", [f"experiment={experiment}", *SMOKE], tmp_path)
    if cfg.data._target_ == "rnnlab.data.bundled.BundledSeriesDataModule":
        pytest.importorskip(SERIES[cfg.data.name].package)  # the series ships in a package
    elif cfg.data._target_ in OPTIONAL:
        pytest.importorskip(OPTIONAL[cfg.data._target_])
    metrics, _ = train(cfg)
    assert "test/loss" in metrics


def test_config_dir_is_the_repository_conf():
    assert (CONFIG_DIR / "train.yaml").is_file()
