"""What a run's TensorBoard event files hold, read back with TensorBoard's own
``EventAccumulator`` over the whole ``tensorboard/`` folder: every final metric is one point,
at the step of the curves, and the HPARAMS tab still reads each of them; a run of a few
batches an epoch has a point of every training curve in every epoch."""

import json
import warnings

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from rnnlab.train import train
from tests.conftest import TINY, compose_config

EPOCHS, BATCHES = 2, 6  # Lightning batches an epoch, each of two truncated-BPTT chunks
LM = [
    "model=gru",
    "data=text",
    "model.hidden_size=32",
    "data.seq_len=32",
    "data.batch_size=8",
    "task.tbptt_steps=16",
    "trainer=cpu",
    f"trainer.max_epochs={EPOCHS}",
    f"trainer.limit_train_batches={BATCHES}",
    "trainer.limit_val_batches=4",
    "trainer.limit_test_batches=4",
    "trainer.log_every_n_steps=null",  # unset: rnnlab chooses the interval
    "~callbacks.rich_progress_bar",
    "~callbacks.rich_model_summary",
]


def read_events(run_dir) -> EventAccumulator:
    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    return events


def steps(events: EventAccumulator, tag: str) -> list[int]:
    return [e.step for e in events.Scalars(tag)]


def hparams_metrics(events: EventAccumulator) -> set[str]:
    """The metric columns of the HPARAMS tab."""
    content = events.PluginTagToContent("hparams")["_hparams_/experiment"]
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content).experiment
    return {m.name.tag for m in experiment.metric_infos}


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory):
    """A language model of 6 Lightning batches an epoch (12 optimizer steps), its logging
    interval unset, and the warnings the run raised."""
    out = tmp_path_factory.mktemp("lm")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        metrics, objects = train(compose_config("train", LM, out))
    return out, metrics, objects, [str(w.message) for w in caught]


def test_a_small_run_logs_every_training_curve_every_epoch(lm_run):
    out, _, objects, caught = lm_run
    events = read_events(out)
    # Lightning's fixed interval of 50 logged no training point in a run this short.
    for tag in ("train/loss", "train/bpc", "train/lr"):
        assert {step // BATCHES for step in steps(events, tag)} == set(range(EPOCHS)), tag
    assert objects["trainer"].log_every_n_steps == BATCHES  # one point an epoch, no more
    assert not [m for m in caught if "smaller than the logging interval" in m]


def test_each_final_metric_is_one_point_at_the_step_of_the_curves(lm_run):
    out, metrics, objects, _ = lm_run
    events = read_events(out)
    scalars = set(events.Tags()["scalars"])
    # Lightning's step axis counts Lightning batches: its curves end at step 11, and it wrote
    # the test results at 12. `global_step` counts optimizer steps (24), past their end.
    assert max(steps(events, "val/loss")) == EPOCHS * BATCHES - 1
    assert objects["trainer"].global_step == 2 * EPOCHS * BATCHES
    final = sorted(t for t in scalars if t.startswith("test/") or t.endswith("_best"))
    assert {"test/loss", "test/bpc", "test/ppl", "val/bpc_best", "val/ppl_best"} <= set(final)
    for tag in final:
        if tag == "val/loss_best":  # a curve of its own: one point each validation
            assert steps(events, tag) == steps(events, "val/loss")
        else:
            assert steps(events, tag) == [EPOCHS * BATCHES], tag

    # The HPARAMS tab still reads every final metric, from the last scalar of its tag.
    saved = json.loads((out / "metrics.json").read_text())
    columns = hparams_metrics(events)
    assert {key for key in saved if not key.startswith("data/")} == columns
    for tag in columns:
        assert events.Scalars(tag)[-1].value == pytest.approx(saved[tag], rel=1e-6), tag


def test_a_forecasting_run_writes_its_test_results_and_baselines_once(tmp_path):
    overrides = [*TINY, "model=gru", "data=sine", "trainer.max_epochs=2"]
    train(compose_config("train", overrides, tmp_path))
    events = read_events(tmp_path)
    scalars = set(events.Tags()["scalars"])
    last = max(steps(events, "val/loss")) + 1  # where Lightning wrote the test results
    final = [t for t in scalars if t.startswith("test/") or t.endswith("_best")]
    assert {"test/mse", "test/naive_mse", "val/mse_best"} <= set(final)
    for tag in final:
        if tag != "val/loss_best":
            assert steps(events, tag) == [last], tag
    assert len(steps(events, "val/loss_best")) == len(steps(events, "val/loss"))
    assert hparams_metrics(events) >= {"test/mse", "test/naive_mse", "val/mse_best"}
