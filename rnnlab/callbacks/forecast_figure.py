"""Forecast figures in TensorBoard: forecast against truth, a forecast fan, error by step."""

from __future__ import annotations

import lightning as L
import matplotlib
import torch
from lightning.pytorch import Callback

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from rnnlab.callbacks.forward import in_step_precision  # noqa: E402
from rnnlab.data.batch import Batch  # noqa: E402
from rnnlab.tasks.forecasting import ForecastingTask  # noqa: E402
from rnnlab.utils.run_output import tensorboard_loggers  # noqa: E402


class ForecastFigure(Callback):
    """Draws, after each validation (every ``every_n_epochs``):

    - ``val/forecast``: the first forecast step against the truth over consecutive windows;
    - ``val/forecast_fan``: for ``num_fans`` windows spread over the validation span, the
      window's past, then the truth and the forecast over the whole horizon;
    - ``{stage}/error_by_step`` (validation and test): MAE at each horizon step, beside the
      naive and seasonal-naive baselines at test.

    All in the data's original units. Acts on forecasting tasks only, so it can stay in the
    default callbacks: ``rnnlab.train`` leaves it out of every other run.

    Args:
        num_points: consecutive windows of ``val/forecast``.
        num_fans: windows of ``val/forecast_fan``.
        every_n_epochs: draw at every n-th validation.
    """

    task_type = ForecastingTask  # the kind of task it acts on

    def __init__(self, num_points: int = 400, num_fans: int = 3, every_n_epochs: int = 1):
        self.num_points = num_points
        self.num_fans = num_fans
        self.every_n_epochs = every_n_epochs

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or trainer.current_epoch % self.every_n_epochs:
            return
        writer = self._writer(trainer, pl_module)
        if writer is None:
            return
        step = trainer.global_step
        dataset = trainer.datamodule.datasets["val"]
        for tag, figure in (
            ("val/forecast", self._consecutive(dataset, pl_module)),
            ("val/forecast_fan", self._fans(dataset, pl_module)),
            ("val/error_by_step", _error_by_step(pl_module, "val")),
        ):
            writer.add_figure(tag, figure, global_step=step)
            plt.close(figure)

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        writer = self._writer(trainer, pl_module)
        if writer is not None:
            figure = _error_by_step(pl_module, "test")
            writer.add_figure("test/error_by_step", figure, global_step=trainer.global_step)
            plt.close(figure)

    @staticmethod
    def _writer(trainer: L.Trainer, pl_module: L.LightningModule):
        if not isinstance(pl_module, ForecastFigure.task_type) or not trainer.is_global_zero:
            return None
        logger = next(iter(tensorboard_loggers(trainer)), None)
        return None if logger is None else logger.experiment

    @torch.no_grad()
    def _consecutive(self, dataset, task: ForecastingTask):
        count = min(self.num_points, len(dataset))
        batch, pred = _forecast(task, dataset[torch.arange(count)])
        pred = pred[:, 0, 0]
        truth = task.unscale(batch.y)[:, 0, 0].float().cpu()
        fig, ax = plt.subplots(figsize=(8, 3), dpi=100)
        ax.plot(truth, ".", ms=2, color="0.5", label="truth")
        ax.plot(pred, lw=1.2, color="C0", label="forecast (step 1)")
        ax.set_xlabel("validation window")
        ax.set_title("forecast against truth, first target")
        ax.legend(loc="upper right", fontsize=8)
        fig.tight_layout()
        return fig

    @torch.no_grad()
    def _fans(self, dataset, task: ForecastingTask):
        count = min(self.num_fans, len(dataset))
        index = torch.linspace(0, len(dataset) - 1, count).long()
        batch, pred = _forecast(task, dataset[index])
        c = task.num_targets
        past = task.unscale(batch.x[..., :c]).float().cpu() if task.spec.targets_in_input else None
        truth = task.unscale(batch.y).float().cpu()
        fig, axes = plt.subplots(1, count, figsize=(4 * count, 3), dpi=100, squeeze=False)
        for i, ax in enumerate(axes[0]):
            window, horizon = batch.x.shape[1], truth.shape[1]
            ahead = torch.arange(window, window + horizon)
            if past is not None:
                ax.plot(torch.arange(window), past[i, :, 0], color="0.3", lw=1, label="past")
            ax.plot(ahead, truth[i, :, 0], "o-", ms=3, color="0.5", label="truth")
            ax.plot(ahead, pred[i, :, 0], "o-", ms=3, color="C0", label="forecast")
            ax.axvline(window - 0.5, color="0.8", lw=1)
            ax.set_xlabel("step (forecast origin at the line)")
        axes[0][0].legend(loc="best", fontsize=7)
        fig.suptitle(f"forecast fan over {truth.shape[1]} steps, first target")
        fig.tight_layout()
        return fig


def _forecast(task: ForecastingTask, batch: Batch) -> tuple[Batch, torch.Tensor]:
    """``batch`` on the task's device in the trainer's precision, and its forecasts (float32,
    on the CPU), made in eval mode."""
    was_training = task.training
    task.eval()
    with in_step_precision(task.trainer) as convert:
        batch = convert(batch.to(task.device))
        pred = task.predict(batch).float().cpu()
    task.train(was_training)
    return batch, pred


def _error_by_step(task: ForecastingTask, stage: str):
    fig, ax = plt.subplots(figsize=(5, 3), dpi=100)
    labels = {"model": "model", **task.baselines}
    for name, errors in getattr(task, "step_errors", {}).items():
        steps = torch.arange(1, len(errors) + 1)
        ax.plot(steps, errors, "o-", ms=3, label=labels.get(name, name))
    horizon = task.horizon
    ax.set_xticks(range(1, horizon + 1) if horizon <= 24 else range(1, horizon + 1, horizon // 12))
    ax.set_xlabel("horizon step")
    ax.set_ylabel("MAE (original units)")
    ax.set_title(f"{stage} error by horizon step")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return fig
