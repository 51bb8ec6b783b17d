from functools import partial

import lightning as L
import pytest
import torch

from rnnlab.data.batch import Batch, WindowDataset, batch_loader
from rnnlab.nets import RecurrentEncoder
from rnnlab.tasks import ForecastingTask
from rnnlab.tasks.optim import configure_optimizers


def make_task(horizon=3, output_size=2, **kwargs):
    net = RecurrentEncoder(output_size, "gru", hidden_size=16)
    return ForecastingTask(net, horizon, output_size, partial(torch.optim.Adam, lr=1e-2), **kwargs)


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
