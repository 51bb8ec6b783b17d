"""Classification of whole sequences (many-to-one)."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
)
from torchmetrics.functional.classification import multiclass_accuracy, multiclass_f1_score

from rnnlab.data.batch import Batch
from rnnlab.data.specs import ClassesSpec
from rnnlab.nets.pooling import Pooling, pool, pooled_size
from rnnlab.tasks.base import SupervisedTask, count_as_wrong
from rnnlab.tasks.optim import OptimizerFactory, SchedulerFactory
from rnnlab.utils.errors import ConfigError


class ClassificationTask(SupervisedTask):
    """Wraps a sequence encoder with a pooling step and a linear head over ``num_classes``.

    Loss is cross-entropy; accuracy (``acc``) and macro-F1 (``f1``) are reported for ``val``
    and ``test`` (a sequence whose logits are not finite counts as wrong), and a confusion
    matrix per stage is kept for the TensorBoard figure.

    Args:
        net: a :class:`~rnnlab.nets.protocol.SequenceEncoder`.
        spec: the data's :class:`~rnnlab.data.specs.ClassesSpec`, one class per sequence;
            targets are indices into its ``class_names``.
        pooling: how the sequence becomes one vector: ``last`` (last valid step; for a
            bidirectional net the forward last step joined with the backward first step),
            ``mean`` or ``max`` over valid steps, or ``meanmax`` (the two joined).
        optimizer, scheduler, scheduler_interval, monitor, steps_per_batch: as for
            :class:`~rnnlab.tasks.base.SupervisedTask`.
        dropout: dropout on the pooled vector, before the head.
        label_smoothing: share of each target's probability spread over all classes in the
            loss; it bounds the model's confidence, so one confident mistake cannot swamp the
            validation loss of a small validation split.
    """

    spec_type = ClassesSpec
    higher_is_better = frozenset({"acc", "f1"})
    headline = "acc"

    @classmethod
    def spec_problem(cls, spec) -> str | None:
        if isinstance(spec, ClassesSpec) and spec.aligned:
            return "its labels are one per step, which task=tagging predicts"
        return super().spec_problem(spec)

    def __init__(
        self,
        net: nn.Module,
        spec: ClassesSpec,
        optimizer: OptimizerFactory,
        pooling: Pooling = "last",
        scheduler: SchedulerFactory | None = None,
        scheduler_interval: Literal["step", "epoch"] = "step",
        monitor: str = "val/loss",
        dropout: float = 0.0,
        label_smoothing: float = 0.0,
        steps_per_batch: int = 1,
    ):
        pooled = pooled_size(pooling, net.output_size)  # refuses an unknown pooling
        if not 0.0 <= label_smoothing < 1.0:
            raise ConfigError(f"task.label_smoothing={label_smoothing} must be in [0, 1).")
        super().__init__(
            net, spec, optimizer, scheduler, scheduler_interval, monitor, steps_per_batch
        )
        self.save_hyperparameters(ignore=["net", "spec", "optimizer", "scheduler"], logger=False)
        num_classes = spec.num_classes
        self.net = net
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(pooled, num_classes)
        self.metrics = nn.ModuleDict(
            {
                stage: MetricCollection(
                    {
                        "acc": MulticlassAccuracy(num_classes, average="micro"),
                        "f1": MulticlassF1Score(num_classes, average="macro"),
                    },
                    prefix=f"{stage}/",
                )
                for stage in ("val", "test")
            }
        )
        self.confusion = nn.ModuleDict(
            {stage: MulticlassConfusionMatrix(num_classes) for stage in ("val", "test")}
        )

    def forward(
        self,
        x: torch.Tensor,
        lengths: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Class logits ``(B, num_classes)`` for sequences ``x`` ``(B, T, F)``."""
        encoded = self.net(x, lengths)
        return self.head(self.dropout(pool(encoded, mask, self.hparams.pooling)))  # (B, C)

    def predict(self, batch: Batch) -> torch.Tensor:
        """The class index of each sequence, ``(B,)``."""
        return self(batch.x, batch.lengths, batch.mask).argmax(-1)

    def score_baseline(self, predictions: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        """Accuracy and macro-F1 of class ids ``predictions`` ``(N,)`` of ``targets`` ``(N,)``."""
        num_classes = self.head.out_features
        return {
            "acc": multiclass_accuracy(predictions, targets, num_classes, average="micro").item(),
            "f1": multiclass_f1_score(predictions, targets, num_classes, average="macro").item(),
        }

    def compute_loss(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self(batch.x, batch.lengths, batch.mask)
        loss = F.cross_entropy(logits, batch.y, label_smoothing=self.hparams.label_smoothing)
        return loss, logits

    def update_metrics(self, stage: str, logits: torch.Tensor, batch: Batch) -> None:
        bad = ~torch.isfinite(logits).all(-1)  # (B,): scored as wrong
        predicted = count_as_wrong(logits.argmax(-1), batch.y, bad, logits.shape[-1])
        self.metrics[stage].update(predicted, batch.y)
        self.log_dict(self.metrics[stage], on_epoch=True, prog_bar=stage == "val")
        self.confusion[stage].update(predicted, batch.y)  # the same predictions as acc and f1
