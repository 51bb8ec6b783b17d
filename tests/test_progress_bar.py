"""The progress bar is told of training batches at its redraw rate, and ends on the true count."""

import lightning as L
import torch

from rnnlab.callbacks import ProgressBar


class Recording(ProgressBar):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.shown: list[int] = []  # each training-batch count the bar was told

    def _update(self, progress_bar_id, current, visible=True, hard=False):
        if progress_bar_id is not None and progress_bar_id == self.train_progress_bar_id:
            self.shown.append(current)
        super()._update(progress_bar_id, current, visible, hard)


class Linear(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        loss = self.layer(batch).pow(2).mean()
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def fit(bar, batches, **kwargs):
    trainer = L.Trainer(
        callbacks=[bar], logger=False, enable_checkpointing=False, enable_model_summary=False,
        accelerator="cpu", **kwargs,
    )  # fmt: skip
    trainer.fit(Linear(), torch.utils.data.DataLoader(torch.randn(batches, 4), batch_size=1))


def test_the_bar_is_told_at_its_rate_and_ends_on_the_true_count():
    bar = Recording(refresh_rate=4)
    fit(bar, 300, max_epochs=2)
    assert len(bar.shown) < 300 / 4  # far fewer than once a batch
    assert bar.shown[-1] == 300  # and brought up to date at the end


def test_a_run_stopped_mid_epoch_shows_where_it_stopped():
    bar = Recording(refresh_rate=4)
    fit(bar, 300, max_steps=123)
    assert bar.shown[-1] == 123
