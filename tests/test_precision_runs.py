"""Runs at a precision other than float32 (``trainer.precision=64-true``, ``bf16-true``): the
callbacks that call the model themselves (forecast figures, gradient diagnostics, text samples,
translation samples) run it as the trainer's steps do, in the trainer's precision."""

from __future__ import annotations

import json

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rnnlab.train import run

SMALL = ["trainer=cpu", "trainer.max_epochs=1", "trainer.limit_train_batches=3",
         "trainer.limit_val_batches=2", "trainer.limit_test_batches=2"]  # fmt: skip


def events(run_dir) -> EventAccumulator:
    accumulator = EventAccumulator(
        str(run_dir / "tensorboard"), size_guidance={"images": 0, "tensors": 0}
    )
    accumulator.Reload()
    return accumulator


@pytest.mark.parametrize("precision", ["64-true", "bf16-true"])
def test_the_forecasters_figures_and_diagnostics_run_in_the_trainers_precision(precision, tmp_path):
    overrides = [*SMALL, f"trainer.precision={precision}", "data.length=2000",
                 "callbacks=[default,diagnostics]", f"hydra.run.dir={tmp_path}"]  # fmt: skip
    _, objects = run(overrides)
    assert objects["trainer"].precision == precision
    assert "test/mse" in json.loads((tmp_path / "metrics.json").read_text())
    logged = events(tmp_path)
    assert {"val/forecast", "val/forecast_fan"} <= set(logged.Tags()["images"])
    assert any(t.startswith("diagnostics/grad_norm/") for t in logged.Tags()["scalars"])


def test_the_language_models_samples_run_in_double_precision(tmp_path):
    overrides = [*SMALL, "trainer.precision=64-true", "data=text", "data.seq_len=32",
                 f"hydra.run.dir={tmp_path}"]  # fmt: skip
    run(overrides)
    sample = events(tmp_path).Tensors("val/sample/text_summary")[-1]
    text = sample.tensor_proto.string_val[0].decode()
    assert "no sample" not in text and len(text) > 300


def test_the_translation_samples_run_in_double_precision(tmp_path):
    overrides = [*SMALL, "trainer.precision=64-true", "model=seq2seq", "data=dates",
                 f"hydra.run.dir={tmp_path}"]  # fmt: skip
    run(overrides)
    assert "val/translations/text_summary" in events(tmp_path).Tags()["tensors"]
