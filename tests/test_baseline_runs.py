"""The comparison baselines run on every task, behind the same interface as the RNNs."""

import pytest

from rnnlab.train import train
from tests.conftest import compose_config

QUICK = [
    "model.hidden_size=16",
    "trainer=cpu",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=3",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
    "~callbacks.rich_progress_bar",
    "~callbacks.rich_model_summary",
]
TASKS = {
    "forecasting": (["data=sine", "data.length=3000", "data.horizon=3"], "test/mase"),
    "classification": (["data=text_cls"], "test/acc"),
    "tagging": (["data=conll"], "test/acc"),
    "language_model": (["data=text", "task.tbptt_steps=16"], "test/bpc"),
}


@pytest.mark.parametrize("model", ["tcn", "transformer"])
@pytest.mark.parametrize("task", list(TASKS))
def test_every_baseline_runs_on_every_task(tmp_path, model, task):
    overrides, key = TASKS[task]
    cfg = compose_config("train", [f"model={model}", *overrides, *QUICK], tmp_path)
    if model == "transformer":
        assert cfg.model.causal is False  # the language model task asks for causal attention
    metrics, objects = train(cfg)
    assert key in metrics
    if model == "transformer":
        assert objects["net"].causal == (task == "language_model")
