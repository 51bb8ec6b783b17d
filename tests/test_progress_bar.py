"""The progress bar is told of training batches at its redraw rate, ends on the true count, and
shows the training loss without costing a step a host-device sync."""

import lightning as L
import torch

from rnnlab.callbacks import ProgressBar
from rnnlab.train import train


class Recording(ProgressBar):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.shown: list[int] = []  # each training-batch count the bar was told

    def refresh(self, **kwargs):  # the bar redraws after every update it is told of
        if self.progress is not None and self.train_progress_bar_id is not None:
            task = next(t for t in self.progress.tasks if t.id == self.train_progress_bar_id)
            self.shown.append(int(task.completed))
        super().refresh(**kwargs)


class Linear(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        loss = self.layer(batch).pow(2).mean()
        self.log("train/loss", loss)  # as rnnlab's tasks do: not for the bar
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def fit(bar, batches, **kwargs):
    trainer = L.Trainer(
        callbacks=[bar], logger=False, enable_checkpointing=False, enable_model_summary=False,
        accelerator="cpu", **kwargs,
    )  # fmt: skip
    trainer.fit(Linear(), torch.utils.data.DataLoader(torch.randn(batches, 4), batch_size=1))
    return trainer


def test_the_bar_is_told_at_its_rate_and_ends_on_the_true_count():
    bar = Recording(refresh_rate=4)
    fit(bar, 300, max_epochs=2)
    assert len(bar.shown) < 300 / 4  # far fewer than once a batch
    assert bar.shown[-1] == 300  # and brought up to date at the end


def test_a_run_stopped_mid_epoch_shows_where_it_stopped():
    bar = Recording(refresh_rate=4)
    fit(bar, 300, max_steps=123)
    assert bar.shown[-1] == 123


def test_the_bar_shows_the_training_loss_logged_without_prog_bar():
    bar = Recording(refresh_rate=4)
    trainer = fit(bar, 20, max_epochs=1)
    assert "train/loss" not in trainer.progress_bar_metrics  # Lightning's bar would not show it
    shown = bar.get_metrics(trainer, trainer.lightning_module)
    assert shown["train/loss"] == trainer.callback_metrics["train/loss"].item()


SYNCS: dict = {"step": None, "calls": {}}  # the running training step; item() calls per step


class Syncs(L.Callback):
    """Marks the span of each training step: from its start to the next step's (Lightning
    gathers the step's logged values after the last callback hook)."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        SYNCS["step"] = batch_idx

    def on_train_end(self, trainer, pl_module):
        SYNCS["step"] = None


def test_a_training_step_makes_no_host_sync_between_logging_steps(train_config, monkeypatch):
    """``Tensor.item`` waits for a GPU to finish the queued work. Lightning converts each value
    logged with ``prog_bar`` at every step after it is first logged; rnnlab logs the training
    loss without it, so only the logging steps (and the bar, at its redraw rate) read it."""
    item = torch.Tensor.item

    def counted(tensor):
        if SYNCS["step"] is not None:
            SYNCS["calls"][SYNCS["step"]] = SYNCS["calls"].get(SYNCS["step"], 0) + 1
        return item(tensor)

    monkeypatch.setattr(torch.Tensor, "item", counted)
    monkeypatch.setitem(SYNCS, "calls", {})
    cfg = train_config(
        "trainer.limit_train_batches=30",
        "trainer.log_every_n_steps=10",
        "trainer.limit_val_batches=0",
        "test=false",
        f"+callbacks.syncs._target_={__name__}.Syncs",
    )  # the bar is off (refresh_rate=0), so only the training loop reads values
    _, objects = train(cfg)
    assert objects["trainer"].global_step == 30
    assert set(SYNCS["calls"]) <= {9, 19, 29}, f"steps with a sync: {sorted(SYNCS['calls'])}"
