"""A confusion-matrix figure in TensorBoard after each validation and test."""

from __future__ import annotations

import lightning as L
import matplotlib
from lightning.pytorch import Callback

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from rnnlab.tasks.classification import ClassificationTask  # noqa: E402
from rnnlab.utils.run_output import tensorboard_loggers  # noqa: E402


class ConfusionFigure(Callback):
    """Draws the stage's confusion matrix (rows: true class, columns: predicted), row-normalised.

    Acts on classification tasks only, so it can stay in the default callbacks:
    ``rnnlab.train`` leaves it out of every other run.

    Args:
        max_classes: above this many classes the figure is skipped (it would be unreadable).
    """

    task_type = ClassificationTask  # the kind of task it acts on

    def __init__(self, max_classes: int = 50):
        self.max_classes = max_classes

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._draw(trainer, pl_module, "val")

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._draw(trainer, pl_module, "test")

    def _draw(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if not isinstance(pl_module, self.task_type):
            return
        metric = pl_module.confusion[stage]
        counts = metric.compute().cpu()  # (C, C); synchronised across processes
        metric.reset()
        writer = next(iter(tensorboard_loggers(trainer)), None)
        if writer is None or not trainer.is_global_zero or len(counts) > self.max_classes:
            return
        rates = counts / counts.sum(1, keepdim=True).clamp(min=1)
        size = 2.5 + 0.35 * len(counts)
        fig, ax = plt.subplots(figsize=(size, size), dpi=100)
        ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
        if len(counts) <= 20:  # room for the counts themselves
            for i, j in ((i, j) for i in range(len(counts)) for j in range(len(counts))):
                color = "white" if rates[i, j] > 0.5 else "black"
                ax.text(j, i, int(counts[i, j]), ha="center", va="center", fontsize=7, color=color)
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        ax.set_title(f"{stage}, epoch {trainer.current_epoch}")
        fig.tight_layout()
        writer.experiment.add_figure(f"{stage}/confusion", fig, global_step=trainer.global_step)
        plt.close(fig)
