"""`logger=csv`, `logger=mlflow`, `logger=wandb` and their combinations: each tracker holds the
run's config, its curves and the final metrics of metrics.json, read back through the tracker's
own files or client."""

import csv
import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import TINY, run_main

FAST = [*TINY, "trainer.limit_val_batches=2", "trainer.limit_test_batches=2"]


def train(tmp_path, *overrides):
    run_dir = tmp_path / "run"
    result = run_main(
        "rnnlab.train",
        "model=gru",
        "data=sine",
        *FAST,
        *overrides,
        f"hydra.run.dir={run_dir}",
        f"paths.log_dir={tmp_path / 'logs'}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return run_dir, json.loads((run_dir / "metrics.json").read_text())


def test_no_logger_trains_with_the_default_callbacks(tmp_path):
    """``logger=none`` keeps the default callbacks but the learning-rate monitor, which has
    nowhere to record (Lightning refuses it without a logger)."""
    run_dir, final = train(tmp_path, "logger=none")
    assert "test/loss" in final and (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert not (run_dir / "tensorboard").exists()


def test_csv_logger_holds_the_config_curves_and_final_metrics(tmp_path):
    run_dir, final = train(tmp_path, "logger=[tensorboard,csv]")
    with (run_dir / "csv" / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert any(row.get("train/loss") for row in rows)  # the curve, step by step
    assert "epoch" in rows[0] and "trainer/epoch" not in rows[0]  # Lightning's own name here
    last = {key: float(value) for key, value in rows[-1].items() if value and key != "step"}
    for key in ("test/loss", "test/mse", "val/loss_best", "data/noise_floor"):
        assert last[key] == pytest.approx(final[key])
    hparams = yaml.safe_load((run_dir / "csv" / "hparams.yaml").read_text())
    assert hparams["model"]["cell"] == "gru" and hparams["data"]["length"] == 3000
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))  # both loggers wrote


def test_mlflow_run_is_listed_by_mlflows_own_client_with_metrics_and_parameters(tmp_path):
    mlflow = pytest.importorskip("mlflow")
    run_dir, final = train(tmp_path, "logger=[tensorboard,mlflow]")
    store = f"sqlite:///{tmp_path / 'logs' / 'mlflow.db'}"
    client = mlflow.tracking.MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name("rnnlab-train")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.data.tags["run_dir"] == str(run_dir)
    for key in ("test/loss", "test/mse", "val/loss_best", "data/noise_floor"):
        assert run.data.metrics[key] == pytest.approx(final[key])
    assert run.data.params["model/cell"] == "gru"
    assert len(client.get_metric_history(run.info.run_id, "train/loss")) > 1  # the curve
    config = client.download_artifacts(run.info.run_id, "config.yaml", str(tmp_path))
    assert yaml.safe_load(Path(config).read_text())["model"]["cell"] == "gru"


def test_wandb_offline_run_keeps_its_config_and_final_metrics(tmp_path):
    pytest.importorskip("wandb")
    run_dir, final = train(tmp_path, "logger=wandb")
    (records,) = (run_dir / "wandb").glob("offline-run-*/run-*.wandb")
    # W&B keeps an offline run as protobuf records, each value as its JSON text: `wandb sync`
    # uploads them as they are.
    data = records.read_bytes()
    for key in ("test/loss", "test/mse", "val/loss_best", "data/noise_floor"):
        assert key.encode() in data and json.dumps(final[key]).encode() in data, key
    assert b'"cell": "gru"' in data or b'"cell":"gru"' in data  # the config
