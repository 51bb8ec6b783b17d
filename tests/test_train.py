"""End-to-end runs of ``rnnlab.train`` and ``rnnlab.eval``: real files, real event files."""

import json

import lightning as L
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rnnlab.eval import evaluate
from rnnlab.train import train
from rnnlab.utils.errors import ConfigError
from tests.conftest import compose_config, needs_cpu_bf16_lstm


@pytest.mark.parametrize("model", ["rnn", "lstm", "gru"])
def test_every_model_trains_and_leaves_a_complete_run(train_config, tmp_path, model):
    metrics, objects = train(train_config(f"model={model}"))

    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved == pytest.approx(metrics)
    assert {"test/mse", "test/mae", "test/rmse", "val/loss_best", "data/noise_floor"} <= set(saved)
    assert saved["data/noise_floor"] == pytest.approx(0.01)
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    assert len(list((tmp_path / "checkpoints").glob("epoch_*.ckpt"))) == 1
    assert objects["trainer"].global_step == 5
    # The task's own figure joins the run; the other tasks' figures stay out of it.
    kinds = {type(cb).__name__ for cb in objects["trainer"].callbacks}
    assert "ForecastFigure" in kinds
    assert not kinds & {"ConfusionFigure", "TextSample", "TranslationSamples"}


def test_event_files_hold_curves_figures_config_and_real_hparams(train_config, tmp_path):
    metrics, _ = train(train_config("trainer.max_epochs=2"))
    events = EventAccumulator(str(tmp_path / "tensorboard"), size_guidance={"tensors": 0})
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    assert {"train/loss", "train/loss_epoch", "val/loss", "val/mse", "val/loss_best"} <= scalars
    assert {"test/mse", "test/mae", "test/rmse", "train/lr"} <= scalars
    # Lightning's epoch counter sits in a group after the metrics', not first as `epoch`.
    assert "epoch" not in scalars
    epochs = [e.value for e in events.Scalars("trainer/epoch")]
    assert epochs[0] == 0 and {0, 1} <= set(epochs) and epochs == sorted(epochs)
    assert "val/forecast" in events.Tags()["images"]
    assert "config/text_summary" in events.Tags()["tensors"]
    test_mse = events.Scalars("test/mse")[-1].value
    assert test_mse == pytest.approx(metrics["test/mse"], rel=1e-6)
    # Final values sit at the last step only: no extra point at step 0 (the HPARAMS write).
    for tag in ("test/mse", "val/loss_best"):
        assert 0 not in {e.step for e in events.Scalars(tag)}, tag
    assert len({e.step for e in events.Scalars("test/mse")}) == 1  # one point on its chart

    # The HPARAMS tab: the run's settings, and the final metrics as its metric columns.
    content = events.PluginTagToContent("hparams")
    from tensorboard.plugins.hparams import plugin_data_pb2

    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"])
    metric_tags = {m.name.tag for m in experiment.experiment.metric_infos}
    assert {"test/mse", "val/loss_best"} <= metric_tags
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    hparams = start.session_start_info.hparams
    assert hparams["model/cell"].string_value == "lstm"
    assert hparams["model/hidden_size"].number_value == 64
    # The data's facts are settings there, not metrics: no chart of one point leads the tab.
    assert hparams["data/noise_floor"].number_value == pytest.approx(metrics["data/noise_floor"])
    assert "data/noise_floor" not in metric_tags | scalars

    # CUSTOM SCALARS: training and validation loss in one chart, the task's headline in another.
    from tensorboard.plugins.custom_scalar import layout_pb2

    (layout_tag,) = [t for t in events.Tags()["tensors"] if t.startswith("custom_scalars")]
    raw = events.Tensors(layout_tag)[-1].tensor_proto.string_val[0]
    (category,) = layout_pb2.Layout.FromString(raw).category
    charts = {chart.title: list(chart.multiline.tag) for chart in category.chart}
    assert charts == {"loss": ["^train/loss$", "^val/loss$"], "mse": ["^val/mse$", "^test/mse$"]}


def test_eval_rebuilds_the_run_from_its_checkpoint(train_config, tmp_path):
    trained, _ = train(train_config("model=gru", "model.hidden_size=12", "data.window=9"))
    ckpt = tmp_path / "checkpoints" / "last.ckpt"
    # The best checkpoint is last.ckpt too after one epoch; test it with no training overrides.
    cfg = compose_config("eval", [f"ckpt_path={ckpt}", "trainer=cpu"], tmp_path / "eval")
    evaluated, objects = evaluate(cfg)
    assert objects["task"].net.rnn.hidden_size == 12
    for key in ("test/mse", "test/mae", "test/rmse"):
        assert evaluated[key] == pytest.approx(trained[key], rel=1e-6)
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text()) == pytest.approx(evaluated)


def test_resume_continues_where_the_run_stopped(train_config, tmp_path):
    train(train_config("trainer.max_epochs=1"))
    ckpt = tmp_path / "checkpoints" / "last.ckpt"
    assert torch.load(ckpt, weights_only=True)["global_step"] == 5
    # Longer than it was started: the one-cycle schedule, which spans those 5 steps, is refused
    # before anything is written; without a schedule the run goes on.
    longer = ["trainer.max_epochs=2", f"ckpt_path={ckpt}"]
    with pytest.raises(ConfigError, match="was trained with trainer.max_epochs=1, and its"):
        train(train_config(*longer, output_dir=tmp_path / "refused"))
    assert not (tmp_path / "refused").exists()
    _, objects = train(train_config(*longer, "scheduler=none", output_dir=tmp_path / "resumed"))
    trainer = objects["trainer"]
    assert trainer.current_epoch == 2 and trainer.global_step == 10


@needs_cpu_bf16_lstm
def test_mixed_precision_and_gradient_clipping(train_config):
    metrics, objects = train(
        train_config("trainer.precision=bf16-mixed", "trainer.gradient_clip_val=0.5")
    )
    assert objects["trainer"].precision == "bf16-mixed"
    assert torch.isfinite(torch.tensor(metrics["test/mse"]))


def test_debug_configs_run(train_config, tmp_path):
    for debug in ("fdr", "overfit", "profiler"):
        overrides = ["trainer.max_epochs=2"] if debug == "overfit" else []
        metrics, _ = train(train_config(f"debug={debug}", *overrides, output_dir=tmp_path / debug))
        assert "test/mse" in metrics, debug


def test_overfit_debug_config_drives_the_loss_down(train_config, tmp_path):
    train(train_config("debug=overfit", "trainer.max_epochs=60", "~callbacks.forecast_figure"))
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    losses = [e.value for e in events.Scalars("train/loss_epoch")]
    assert len(losses) == 60
    assert losses[-1] < 0.01 * losses[0]


def test_classification_run_reports_accuracy_f1_and_a_confusion_figure(train_config, tmp_path):
    metrics, objects = train(
        train_config(
            "data=count", "data.length=12", "data.min_length=4", "model.bidirectional=true"
        )
    )
    assert {"test/acc", "test/f1", "test/loss", "val/loss_best"} <= set(metrics)
    assert 0 <= metrics["test/acc"] <= 1
    events = EventAccumulator(str(tmp_path / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    assert {"val/confusion", "test/confusion"} <= set(events.Tags()["images"])
    assert "val/forecast" not in events.Tags()["images"]
    kinds = {type(cb).__name__ for cb in objects["trainer"].callbacks}
    assert "ConfusionFigure" in kinds and "ForecastFigure" not in kinds


def test_a_model_and_data_that_do_not_fit_fail_before_training(train_config):

    with pytest.raises(ConfigError, match="^task ClassificationTask does not fit data Sine"):
        train(train_config("data=sine", "task=classification"))


class StopAtStep(L.Callback):
    """Asks the run to stop after optimizer step 3, as early stopping or max_time would."""

    def on_train_batch_end(self, trainer, *args):
        trainer.should_stop = trainer.should_stop or trainer.global_step >= 3


def test_a_run_asked_to_stop_before_min_epochs_logs_fresh_losses(train_config, tmp_path):
    # Lightning writes train/loss at every step once the run should stop but min_epochs holds
    # it: each value must then be that step's, not the last one logged by log_every_n_steps.
    stop = "+callbacks.stop._target_=tests.test_train.StopAtStep"
    held = ("trainer.min_epochs=1", "trainer.limit_train_batches=12")
    train(train_config("trainer.log_every_n_steps=50", *held, stop))
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    losses = {e.step: e.value for e in events.Scalars("train/loss")}
    late = [losses[step] for step in range(4, 11)]
    assert len(late) == 7 and len(set(late)) == 7  # one fresh value a step


class BatchSizes(L.Callback):
    """Records the rows of every training and validation batch."""

    def __init__(self):
        self.train, self.val = [], []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.train.append(batch.x.shape[0])

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        self.val.append(batch.x.shape[0])


def test_overfit_batches_repeat_whole_batches_of_the_data_batch_size(train_config):
    # Lightning swaps a loader's sampler for one over single items under overfit_batches,
    # unless it is a plain SequentialSampler: rnnlab's loader must keep whole batches.
    sizes = "+callbacks.sizes._target_=tests.test_train.BatchSizes"
    _, objects = train(train_config("debug=overfit", "trainer.max_epochs=3", sizes))
    (recorded,) = [c for c in objects["trainer"].callbacks if isinstance(c, BatchSizes)]
    assert recorded.train == [64, 64, 64]  # one batch an epoch, of data.batch_size rows
    assert recorded.val and all(rows > 1 for rows in recorded.val)


def test_several_steps_a_batch_stop_at_max_steps_and_log_their_loss(train_config, tmp_path):
    metrics, objects = train(
        train_config("task.steps_per_batch=4", "trainer.max_steps=10", "trainer.max_epochs=2")
    )
    trainer, task = objects["trainer"], objects["task"]
    # max_steps counts optimizer steps, even in the middle of a batch of four.
    assert trainer.global_step == 10
    assert trainer.lr_scheduler_configs[0].scheduler.last_epoch == 10  # one-cycle: every step
    assert not task.automatic_optimization
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    losses = [e.value for e in events.Scalars("train/loss")]
    assert len(losses) == 3  # one value per Lightning batch: 4, 4 and the last 2 steps
    assert all(torch.isfinite(torch.tensor(losses)))
    assert "test/mse" in metrics


def test_the_one_cycle_schedule_spans_every_step_when_an_epochs_last_batch_is_short(
    train_config,
):
    # 32 training batches an epoch, 11 Lightning batches of three: the last holds two.
    _, objects = train(
        train_config("task.steps_per_batch=3", "trainer.limit_train_batches=1.0",
                     "trainer.max_epochs=4", "trainer.limit_val_batches=2")
    )  # fmt: skip
    trainer = objects["trainer"]
    scheduler = trainer.lr_scheduler_configs[0].scheduler
    assert trainer.num_training_batches == 11 and trainer.global_step == 4 * 32
    assert scheduler.total_steps == 128 == scheduler.last_epoch  # the schedule ran to its end
