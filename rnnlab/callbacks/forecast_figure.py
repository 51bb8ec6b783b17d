"""A forecast-versus-truth figure in TensorBoard at each validation."""

from __future__ import annotations

import lightning as L
import matplotlib
import torch
from lightning.pytorch import Callback

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from rnnlab.tasks.forecasting import ForecastingTask  # noqa: E402
from rnnlab.utils.run_output import tensorboard_loggers  # noqa: E402


class ForecastFigure(Callback):
    """Plots the first forecast step against the truth over consecutive validation windows.

    Acts on forecasting tasks only, so it can stay in the default callbacks of every run.

    Args:
        num_points: consecutive windows to plot.
        every_n_epochs: draw at every n-th validation.
    """

    def __init__(self, num_points: int = 400, every_n_epochs: int = 1):
        self.num_points = num_points
        self.every_n_epochs = every_n_epochs

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if (
            trainer.sanity_checking
            or not isinstance(pl_module, ForecastingTask)
            or trainer.current_epoch % self.every_n_epochs
        ):
            return
        writer = next(iter(tensorboard_loggers(trainer)), None)
        if writer is None or not trainer.is_global_zero:
            return
        truth, pred = self._predict(trainer, pl_module)
        fig, ax = plt.subplots(figsize=(8, 3), dpi=100)
        steps = torch.arange(len(truth))
        ax.plot(steps, truth[:, 0], ".", ms=2, color="0.5", label="truth")
        ax.plot(steps, pred[:, 0], lw=1.2, color="C0", label="forecast (step 1)")
        ax.set_xlabel("validation window")
        ax.set_title(f"epoch {trainer.current_epoch}")
        ax.legend(loc="upper right", fontsize=8)
        fig.tight_layout()
        writer.experiment.add_figure("val/forecast", fig, global_step=trainer.global_step)
        plt.close(fig)

    @torch.no_grad()
    def _predict(self, trainer: L.Trainer, pl_module: ForecastingTask):
        truths, preds, count = [], [], 0
        loader = trainer.val_dataloaders
        loader = loader[0] if isinstance(loader, list) else loader
        for batch in loader:
            batch = pl_module.transfer_batch_to_device(batch, pl_module.device, 0)
            preds.append(pl_module(batch.x, batch.lengths)[:, 0].float().cpu())  # (B, C)
            truths.append(batch.y[:, 0].float().cpu())  # (B, C)
            count += len(batch)
            if count >= self.num_points:
                break
        return torch.cat(truths)[: self.num_points], torch.cat(preds)[: self.num_points]
