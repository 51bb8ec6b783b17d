"""Gradient-flow diagnostics: exact per-step state gradients, and what a run logs."""

from functools import partial

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rnnlab.callbacks.diagnostics import state_gradient_norms
from rnnlab.data.batch import Batch
from rnnlab.data.specs import ForecastSpec, Inputs
from rnnlab.nets import RecurrentEncoder
from rnnlab.tasks import ForecastingTask
from rnnlab.train import train
from tests.conftest import compose_config


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_state_gradients_match_an_unrolled_cell(cell):
    torch.manual_seed(0)
    net = RecurrentEncoder(2, cell, hidden_size=5)
    spec = ForecastSpec(Inputs(features=2), horizon=1)
    task = ForecastingTask(net, spec, partial(torch.optim.SGD, lr=0.1))
    batch = Batch(x=torch.randn(4, 9, 2), y=torch.randn(4, 1, 1))
    measured = state_gradient_norms(task, batch)

    # The same net unrolled one step at a time, keeping every step's state.
    step = (torch.nn.RNNCell if cell == "rnn" else torch.nn.LSTMCell)(2, 5)
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        getattr(step, name).data.copy_(getattr(net.rnn, f"{name}_l0"))
    h = c = torch.zeros(4, 5)
    states = []
    for t in range(9):
        if cell == "rnn":
            h = step(batch.x[:, t], h)
        else:
            h, c = step(batch.x[:, t], (h, c))
        h.retain_grad()
        states.append(h)
    pred = task.head(h).view(4, 1, 1)
    torch.nn.functional.mse_loss(pred, batch.y).backward()
    expected = torch.stack([s.grad.norm() for s in states[:-1]])
    assert torch.allclose(measured, expected, rtol=1e-4, atol=1e-8)


def test_a_run_with_diagnostics_logs_the_figure_and_the_norms(tmp_path):
    overrides = ["model=rnn", "data=adding", "data.length=20", "data.num_train=256",
                 "data.num_val=64", "data.num_test=64", "callbacks=diagnostics",
                 "trainer=cpu", "trainer.max_epochs=2", "~callbacks.rich_progress_bar"]  # fmt: skip
    train(compose_config("train", overrides, tmp_path))
    events = EventAccumulator(str(tmp_path / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    assert len(events.Images("diagnostics/state_grad")) == 3  # before training, two epochs
    ratio = events.Scalars("diagnostics/state_grad_ratio")
    assert len(ratio) == 3 and all(r.value > 0 for r in ratio)
    assert any(tag.startswith("diagnostics/grad_norm/net.rnn.") for tag in events.Tags()["scalars"])


@pytest.mark.parametrize("model", ["mingru", "lru", "s4d", "s6", "mlstm", "slstm", "rglru"])
@pytest.mark.parametrize("data", ["adding", "copying"])
def test_state_gradients_through_nets_whose_outputs_are_read_out_of_their_state(
    model, data, tmp_path
):
    # Their state is no output (LRU and S4D: complex pairs; S6 and RG-LRU: the state and the
    # convolution's inputs; mLSTM and sLSTM: several tensors), so the cut step keeps its own
    # output; the gradient reaches the state through the
    # later steps, for a task that reads the last step (adding) and one that reads every step.
    from rnnlab.build import build_system

    overrides = [f"model={model}", f"data={data}", "data.length=6", "model.hidden_size=8"]
    cfg = compose_config("train", [*overrides, "data.num_train=8"], tmp_path)
    datamodule, net, task = build_system(cfg)
    datamodule.setup()
    batch = next(iter(datamodule.train_dataloader()))
    norms = state_gradient_norms(task, batch)
    assert norms.shape == (batch.x.shape[1] - 1,)
    assert torch.isfinite(norms).all() and (norms[:-1] > 0).all()
