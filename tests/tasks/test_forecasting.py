from functools import partial

import lightning as L
import pytest
import torch

from rnnlab.data.batch import Batch, WindowDataset, batch_loader
from rnnlab.data.specs import ForecastSpec, Inputs
from rnnlab.nets import RecurrentEncoder
from rnnlab.nets.protocol import Capabilities
from rnnlab.tasks import ForecastingTask
from rnnlab.tasks.optim import configure_optimizers
from rnnlab.utils.errors import ConfigError

SPEC_FIELDS = {
    "targets_in_input", "num_past_covariates", "num_future_covariates", "scaler_mean",
    "scaler_std", "season", "mase_scale",
}  # fmt: skip


def forecaster(net, horizon, num_targets, lr=1e-2, **kwargs):
    """A forecasting task over ``net``; keyword arguments that describe the data go to its
    spec, the rest to the task."""
    data = {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}
    data = {k: v for k, v in data.items() if k in SPEC_FIELDS}
    names = tuple(f"y{i}" for i in range(num_targets))
    spec = ForecastSpec(Inputs(features=num_targets), horizon=horizon, target_names=names, **data)
    task_args = {k: v for k, v in kwargs.items() if k not in SPEC_FIELDS}
    return ForecastingTask(net, spec, partial(torch.optim.Adam, lr=lr), **task_args)


def make_task(horizon=3, output_size=2, **kwargs):
    net = RecurrentEncoder(output_size, "gru", hidden_size=16)
    return forecaster(net, horizon, output_size, **kwargs)


def test_forecast_shape():
    task = make_task(horizon=3, output_size=2)
    assert task(torch.randn(5, 11, 2)).shape == (5, 3, 2)


def test_overfits_one_batch():
    torch.manual_seed(0)
    task = make_task(horizon=2, output_size=1)
    batch = Batch(x=torch.randn(16, 8, 1), y=torch.randn(16, 2, 1))
    opt = torch.optim.Adam(task.parameters(), lr=1e-2)
    first = None
    for _ in range(300):
        loss = torch.nn.functional.mse_loss(task(batch.x), batch.y)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05 * first


def test_one_cycle_spans_the_whole_run():
    params = [torch.nn.Parameter(torch.zeros(1))]
    scheduler = partial(torch.optim.lr_scheduler.OneCycleLR, max_lr=0.1, total_steps=None)
    config = configure_optimizers(
        params, partial(torch.optim.SGD, lr=0.1), scheduler, "step", "val/loss", 123
    )
    assert config["lr_scheduler"]["scheduler"].total_steps == 123
    assert config["lr_scheduler"]["interval"] == "step"
    # A debug run of a handful of steps still gets a schedule OneCycleLR can build.
    short = configure_optimizers(
        params, partial(torch.optim.SGD, lr=0.1), scheduler, "step", "val/loss", 5
    )
    assert short["lr_scheduler"]["scheduler"].total_steps >= 5


def test_cosine_annealing_spans_the_run_in_steps_or_in_epochs():
    params = [torch.nn.Parameter(torch.zeros(1))]
    sgd = partial(torch.optim.SGD, lr=0.1)
    cosine = partial(torch.optim.lr_scheduler.CosineAnnealingLR, T_max=None)
    by_step = configure_optimizers(params, sgd, cosine, "step", "val/loss", 123, total_epochs=4)
    by_epoch = configure_optimizers(params, sgd, cosine, "epoch", "val/loss", 123, total_epochs=4)
    assert by_step["lr_scheduler"]["scheduler"].T_max == 123
    assert by_epoch["lr_scheduler"]["scheduler"].T_max == 4


def test_plateau_scheduler_watches_the_monitored_metric():
    params = [torch.nn.Parameter(torch.zeros(1))]
    scheduler = partial(torch.optim.lr_scheduler.ReduceLROnPlateau, patience=2)
    config = configure_optimizers(
        params, partial(torch.optim.SGD, lr=0.1), scheduler, "epoch", "val/mse", 10
    )
    assert config["lr_scheduler"]["monitor"] == "val/mse"


def test_no_scheduler_returns_the_optimizer():
    params = [torch.nn.Parameter(torch.zeros(1))]
    opt = configure_optimizers(
        params, partial(torch.optim.SGD, lr=0.1), None, "step", "val/loss", 10
    )
    assert isinstance(opt, torch.optim.SGD)


@pytest.mark.parametrize("stage", ["val", "test"])
def test_metrics_match_their_definitions(stage):
    task = make_task(horizon=1, output_size=1, scheduler=None)
    windows = WindowDataset(torch.randn(100, 1), torch.arange(5, 69), window=5, horizon=1)
    loader = batch_loader(windows, batch_size=32)  # two batches
    everything = windows[torch.arange(64)]
    x, y = everything.x, everything.y
    trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False)
    run = trainer.validate if stage == "val" else trainer.test
    (metrics,) = run(task, dataloaders=loader, verbose=False)
    with torch.no_grad():
        err = task(x) - y
    assert metrics[f"{stage}/mse"] == pytest.approx(err.pow(2).mean().item(), rel=1e-5)
    assert metrics[f"{stage}/loss"] == pytest.approx(err.pow(2).mean().item(), rel=1e-5)
    assert metrics[f"{stage}/mae"] == pytest.approx(err.abs().mean().item(), rel=1e-5)
    assert metrics[f"{stage}/rmse"] == pytest.approx(err.pow(2).mean().sqrt().item(), rel=1e-5)


def test_fused_kernel_is_chosen_unless_precision_is_mixed():
    params = [torch.nn.Parameter(torch.zeros(3))]
    adam = partial(torch.optim.Adam, lr=0.1, fused=None)
    fused = configure_optimizers(params, adam, None, "step", "val/loss", 10, "32-true")
    mixed = configure_optimizers(params, adam, None, "step", "val/loss", 10, "bf16-mixed")
    assert fused.defaults["fused"] is True
    assert not mixed.defaults["fused"]
    explicit = partial(torch.optim.Adam, lr=0.1, fused=False)
    assert not configure_optimizers(params, explicit, None, "step", "val/loss", 10).defaults[
        "fused"
    ]


class LastValue(torch.nn.Module):
    """A 'net' whose summary is the last input step's first feature, so heads with set
    weights make exact forecasters."""

    output_size = 1
    capabilities = Capabilities(reads="features")

    def forward(self, x, lengths=None, state=None):
        from rnnlab.nets.base import Encoded

        return Encoded(outputs=x, last=x[:, -1, :1], state=None)


def exact_task(strategy, horizon, **kwargs):
    task = forecaster(LastValue(), horizon, 1, strategy=strategy, targets_in_input=True, **kwargs)
    return task.eval()


def counting_windows(window, horizon, num_future=0):
    """Windows over the series t = 0, 1, 2, ... (and t + 1000 as a known-future covariate)."""
    t = torch.arange(60, dtype=torch.float32)
    columns = [t] + ([t + 1000] if num_future else [])
    series = torch.stack(columns, -1)
    return WindowDataset(series, torch.arange(window, 50), window, horizon, 1, num_future)


def test_windows_line_up_inputs_targets_and_future_covariates():
    batch = counting_windows(window=4, horizon=3, num_future=1)[torch.tensor([0, 5])]
    assert batch.x[1, :, 0].tolist() == [5, 6, 7, 8]  # first target at 9
    assert batch.y[1, :, 0].tolist() == [9, 10, 11]
    assert batch.future[1, :, 0].tolist() == [1009, 1010, 1011]


def test_recursive_forecasts_feed_back_at_the_right_offsets():
    task = exact_task("recursive", horizon=5)
    with torch.no_grad():  # next = last + 1, rolled five times
        task.head.weight.fill_(1.0)
        task.head.bias.fill_(1.0)
        batch = counting_windows(window=4, horizon=5)[torch.arange(10)]
        assert torch.equal(task(batch.x), batch.y)


def test_direct_forecasts_every_step_from_one_summary():
    task = exact_task("direct", horizon=4)
    with torch.no_grad():
        task.head.weight.fill_(1.0)
        task.head.bias.copy_(torch.arange(1.0, 5.0))
        batch = counting_windows(window=3, horizon=4)[torch.arange(10)]
        assert torch.equal(task(batch.x), batch.y)


def test_known_future_covariates_reach_every_strategy():
    torch.manual_seed(0)
    x, future = torch.randn(4, 3, 2), torch.randn(4, 2, 1)  # a target and a covariate
    for strategy in ("direct", "recursive", "seq2seq"):
        task = exact_task(strategy, horizon=2, num_future_covariates=1)
        with torch.no_grad():
            base = task(x, future=future)
            moved = task(x, future=future + 1)
        assert not torch.allclose(base, moved), strategy


def test_seq2seq_reads_the_truth_only_in_training():
    torch.manual_seed(0)
    task = forecaster(
        RecurrentEncoder(1, "gru", hidden_size=8), 4, 1, strategy="seq2seq", targets_in_input=True
    )
    x, y = torch.randn(3, 6, 1), torch.randn(3, 4, 1)
    changed = y.clone()
    changed[:, 1] += 1.0
    task.train()
    assert torch.equal(task(x, target=y)[:, :2], task(x, target=changed)[:, :2])
    assert not torch.allclose(task(x, target=y)[:, 2], task(x, target=changed)[:, 2])
    task.eval()
    assert torch.equal(task(x, target=y), task(x, target=changed))


def test_baselines_repeat_the_last_value_and_the_last_season():
    task = exact_task("direct", horizon=6, season=4)
    x = torch.arange(8.0).view(1, 8, 1)  # first target at t = 8
    assert task.baseline("naive", x)[0, :, 0].tolist() == [7] * 6
    assert task.baseline("seasonal_naive", x)[0, :, 0].tolist() == [4, 5, 6, 7, 4, 5]


def test_metrics_are_reported_in_original_units_with_baselines(tmp_path):
    task = exact_task("direct", horizon=2, scaler_mean=[100.0], scaler_std=[10.0],
                      mase_scale=[2.0])  # fmt: skip
    with torch.no_grad():
        task.head.weight.fill_(1.0)
        task.head.bias.copy_(torch.tensor([0.1, 0.3]))  # scaled errors 0.1 - 1 and 0.3 - 2
    data = counting_windows(window=3, horizon=2)
    loader = batch_loader(data, batch_size=16)
    trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False)
    (metrics,) = trainer.test(task, dataloaders=loader, verbose=False)
    # Original units: errors of 9 and 17 at steps 1 and 2; the naive one's 10 and 20.
    assert metrics["test/mae_step1"] == pytest.approx(9.0)
    assert metrics["test/mae_step2"] == pytest.approx(17.0)
    assert metrics["test/mae"] == pytest.approx(13.0)
    assert metrics["test/mase"] == pytest.approx(6.5)
    assert metrics["test/naive_mae"] == pytest.approx(15.0)
    assert metrics["test/naive_rmse"] == pytest.approx(((100 + 400) / 2) ** 0.5)


def test_mape_and_smape_follow_their_definitions():
    from rnnlab.tasks.forecasting import ForecastErrors

    metric = ForecastErrors(horizon=1, mase_scale=[1.0])
    metric.update(
        torch.tensor([[[1.5]], [[0.0]], [[2.0]]]), torch.tensor([[[1.0]], [[0.0]], [[4.0]]])
    )
    values = metric.compute()
    assert values["mape"] == pytest.approx(100 * (0.5 + 0.5) / 2)  # a true zero is skipped
    assert values["smape"] == pytest.approx(100 * (2 * 0.5 / 2.5 + 0 + 2 * 2 / 6) / 3)


def test_mase_is_left_out_where_the_data_gives_no_scale():
    from rnnlab.tasks.forecasting import ForecastErrors

    pred, target = torch.tensor([[[1.5]], [[2.0]]]), torch.tensor([[[1.0]], [[4.0]]])
    unscaled, scaled = ForecastErrors(horizon=1, mase_scale=None), ForecastErrors(1, [0.5])
    for metric in (unscaled, scaled):
        metric.update(pred, target)
    assert "mase" not in unscaled.compute()  # no MAE under MASE's name
    assert scaled.compute()["mase"] == pytest.approx((0.5 + 2.0) / 2 / 0.5)
    assert unscaled.compute()["mae"] == scaled.compute()["mae"]


def test_strategies_that_feed_back_need_targets_in_the_input():
    with pytest.raises(ConfigError, match="inputs start with the targets"):
        make_task(strategy="recursive")
    with pytest.raises(ConfigError, match="cannot roll past covariates"):
        make_task(strategy="recursive", targets_in_input=True, num_past_covariates=1)
    with pytest.raises(ConfigError, match="task.strategy='beam' is not one of"):
        make_task(strategy="beam")


@pytest.mark.parametrize("strategy", ["direct", "recursive", "seq2seq"])
def test_window_norm_forecasts_a_shifted_and_stretched_window_alike(strategy):
    torch.manual_seed(0)
    task = forecaster(
        RecurrentEncoder(1, "gru", hidden_size=8), 3, 1, strategy=strategy,
        targets_in_input=True, window_norm=True,
    ).eval()  # fmt: skip
    x = torch.randn(4, 10, 1)
    with torch.no_grad():
        assert torch.allclose(task(10 * x + 100), 10 * task(x) + 100, atol=1e-3)


@pytest.mark.parametrize("strategy", ["direct", "recursive", "seq2seq"])
@pytest.mark.parametrize("window_norm", [False, True])
def test_differencing_forecasts_a_window_shifted_by_a_constant_alike(strategy, window_norm):
    torch.manual_seed(0)
    task = forecaster(
        RecurrentEncoder(1, "gru", hidden_size=8), 3, 1, strategy=strategy,
        targets_in_input=True, difference=True, window_norm=window_norm,
    ).eval()  # fmt: skip
    x = torch.randn(4, 10, 1)
    with torch.no_grad():
        assert torch.allclose(task(x + 100), task(x) + 100, atol=1e-3)


def test_differencing_sums_forecast_differences_onto_the_last_value():
    # A head that forecasts a difference of 0.5 per step, whatever the window.
    task = forecaster(
        RecurrentEncoder(1, "gru", hidden_size=4), 3, 1, targets_in_input=True, difference=True
    )
    with torch.no_grad():
        task.head.weight.zero_()
        task.head.bias.fill_(0.5)
    x = torch.arange(6.0).view(1, 6, 1)  # last value 5
    assert task(x)[0, :, 0].tolist() == [5.5, 6.0, 6.5]
    # Teacher forcing reads the true values as differences from the window's last value.
    seq = forecaster(
        RecurrentEncoder(1, "gru", hidden_size=4), 3, 1, strategy="seq2seq",
        targets_in_input=True, difference=True,
    ).train()  # fmt: skip
    inputs = []
    seq.decoder.register_forward_hook(lambda m, args, out: inputs.append(args[0].clone()))
    seq(x, target=torch.tensor([[[7.0], [10.0], [9.0]]]))
    assert [float(v) for v in torch.cat(inputs)[:, 0]] == [1.0, 2.0, 3.0]


def test_differencing_needs_targets_in_the_input_and_two_steps():
    with pytest.raises(ConfigError, match="task.difference=True needs data whose inputs"):
        make_task(difference=True)
    task = make_task(horizon=1, output_size=1, difference=True, targets_in_input=True)
    with pytest.raises(ConfigError, match="windows of at least 2 steps"):
        task(torch.randn(2, 1, 1))


def test_task_attributes_are_stored_as_torch_stores_them():
    # Tasks take a fast path for plain values; every case must end as nn.Module's own does.
    def attempt(assign, name, value):
        task = make_task()
        try:
            assign(task, name, value)
        except Exception as error:  # noqa: BLE001 - the error itself is what is compared
            return type(error), str(error)
        members = (task._parameters, task._buffers, task._modules, vars(task))
        stored = getattr(task, name)
        return [name in where for where in members], stored if stored is None else repr(stored)

    cases = [
        ("note", "text"), ("count", 3), ("flag", None), ("target_mean", None),
        ("target_mean", 1.0), ("net", "text"), ("net", None), ("head", 2),
        ("_current_fx_name", "training_step"), ("train_loss_count", 7),
    ]  # fmt: skip
    for name, value in cases:
        ours = attempt(setattr, name, value)
        assert ours == attempt(torch.nn.Module.__setattr__, name, value), name
