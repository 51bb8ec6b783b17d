"""Sequence tagging: one label per position (aligned many-to-many), such as part of speech."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import Metric, MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassStatScores

from rnnlab.data.batch import IGNORE, Batch
from rnnlab.data.specs import ClassesSpec
from rnnlab.tasks.base import SupervisedTask
from rnnlab.tasks.optim import OptimizerFactory, SchedulerFactory


def entity_spans(tags: Sequence[str]) -> set[tuple[int, int, str]]:
    """The ``(start, end, type)`` entities of a BIO/IOB tag sequence (end exclusive).

    ``B-X`` starts an entity of type ``X``; ``I-X`` continues one of the same type and starts
    one after anything else (as IOB1 and lenient IOB2 readers do); ``O`` and any other tag end
    it.
    """
    spans, start, kind = set(), None, None
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, name = tag.partition("-")
        continues = prefix == "I" and kind == name and start is not None
        if start is not None and not continues:
            spans.add((start, i, kind))
            start, kind = None, None
        if prefix == "B" or (prefix == "I" and not continues):
            start, kind = i, name
    return spans


def is_bio(tags: Sequence[str]) -> bool:
    """Whether a tag set is BIO/IOB: ``O`` and ``B-``/``I-`` tags only, with some entity."""
    entity = [t for t in tags if t != "O"]
    return bool(entity) and all(t[:2] in ("B-", "I-") and len(t) > 2 for t in entity)


class EntityScores(Metric):
    """Entity-level precision, recall and F1 over BIO/IOB tags: an entity counts as found
    only when its span and type match exactly."""

    full_state_update = False

    def __init__(self, tags: Sequence[str]):
        super().__init__()
        self.tags = list(tags)
        for name in ("found", "predicted", "gold"):
            self.add_state(name, torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        """``preds`` and ``target`` ``(B, T)`` tag ids; positions where ``target`` is ignored
        are padding."""
        for p, t in zip(preds.tolist(), target.tolist(), strict=True):
            valid = [i for i, v in enumerate(t) if v != IGNORE]
            gold = entity_spans([self.tags[t[i]] for i in valid])
            guess = entity_spans([self.tags[p[i]] for i in valid])
            self.found += len(gold & guess)
            self.predicted += len(guess)
            self.gold += len(gold)

    def compute(self) -> dict[str, torch.Tensor]:
        precision = self.found / self.predicted.clamp(min=1)
        recall = self.found / self.gold.clamp(min=1)
        f1 = 2 * precision * recall / (precision + recall).clamp(min=1e-12)
        return {"entity_precision": precision, "entity_recall": recall, "entity_f1": f1}


class TaggingTask(SupervisedTask):
    """Wraps a sequence encoder with a linear head that tags every position.

    Loss is cross-entropy over valid positions only; padding is skipped by the loss and every
    metric. Reports token accuracy ``acc`` and, for a BIO/IOB tag set, entity-level
    ``entity_precision``, ``entity_recall`` and ``entity_f1``. A per-tag report (precision,
    recall, F1, support) goes to TensorBoard's text tab after testing. Works with
    unidirectional and bidirectional nets.

    Args:
        net: a :class:`~rnnlab.nets.protocol.SequenceEncoder`.
        spec: the data's :class:`~rnnlab.data.specs.ClassesSpec` with one tag per step
            (``aligned``); targets are indices into its ``class_names``, or -100 on padding.
        optimizer, scheduler, scheduler_interval, monitor: as for
            :class:`~rnnlab.tasks.base.SupervisedTask`.
        dropout: dropout on the encoder's outputs, before the head.
    """

    spec_type = ClassesSpec
    higher_is_better = frozenset({"acc", "entity_precision", "entity_recall", "entity_f1"})

    @classmethod
    def spec_problem(cls, spec) -> str | None:
        if isinstance(spec, ClassesSpec) and not spec.aligned:
            return "its labels are one per sequence, which task=classification predicts"
        return super().spec_problem(spec)

    def __init__(
        self,
        net: nn.Module,
        spec: ClassesSpec,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        scheduler_interval: Literal["step", "epoch"] = "step",
        monitor: str = "val/loss",
        dropout: float = 0.0,
    ):
        super().__init__(net, spec, optimizer, scheduler, scheduler_interval, monitor)
        self.save_hyperparameters(ignore=["net", "spec", "optimizer", "scheduler"], logger=False)
        num_classes = spec.num_classes
        self.net = net
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(net.output_size, num_classes)
        self.class_names = list(spec.class_names)
        self.metrics = nn.ModuleDict()
        for stage in ("val", "test"):
            metrics = {"acc": MulticlassAccuracy(num_classes, average="micro", ignore_index=IGNORE)}
            if is_bio(self.class_names):
                metrics["entity"] = EntityScores(self.class_names)
            self.metrics[stage] = MetricCollection(metrics, prefix=f"{stage}/")
        self.per_tag = MulticlassStatScores(num_classes, average=None, ignore_index=IGNORE)

    def forward(
        self,
        x: torch.Tensor,
        lengths: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Tag logits ``(B, T, num_classes)`` for sequences ``x``."""
        return self.head(self.dropout(self.net(x, lengths).outputs))

    def predict(self, batch: Batch) -> list[list[int]]:
        """The tag index of each valid step of each sequence."""
        tags = self(batch.x, batch.lengths, batch.mask).argmax(-1)  # (B, T)
        lengths = [tags.shape[1]] * len(tags) if batch.lengths is None else batch.lengths.tolist()
        return [row[:n] for row, n in zip(tags.tolist(), lengths, strict=True)]

    def score_baseline(self, predictions: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        """Token accuracy of tag ids ``predictions`` ``(N, T)`` of ``targets`` ``(N, T)``, whose
        padded positions are :data:`~rnnlab.data.batch.IGNORE`."""
        valid = targets != IGNORE
        return {"acc": (predictions[valid] == targets[valid]).double().mean().item()}

    def compute_loss(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self(batch.x, batch.lengths, batch.mask)
        loss = F.cross_entropy(logits.flatten(0, 1).float(), batch.y.flatten(), ignore_index=IGNORE)
        return loss, logits

    def loss_weight(self, batch: Batch) -> torch.Tensor:
        return (batch.y != IGNORE).sum()  # the valid positions

    def update_metrics(self, stage: str, logits: torch.Tensor, batch: Batch) -> None:
        preds = logits.argmax(-1)
        self.metrics[stage].update(preds, batch.y)
        self.log_dict(self.metrics[stage], on_epoch=True, prog_bar=stage == "val")
        if stage == "test":
            self.per_tag.update(preds, batch.y)

    def on_test_epoch_end(self) -> None:
        stats = self.per_tag.compute()  # (C, 5): tp, fp, tn, fn, support
        self.per_tag.reset()
        report = per_tag_report(self.class_names, stats)
        for logger in self.loggers:
            experiment = getattr(logger, "experiment", None)
            if hasattr(experiment, "add_text"):
                experiment.add_text("test/report", report, global_step=self.global_step)


def per_tag_report(names: Sequence[str], stats: torch.Tensor) -> str:
    """A Markdown table of each tag's precision, recall, F1 and support."""
    rows = ["| tag | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for name, (tp, fp, _, fn, support) in zip(names, stats.tolist(), strict=True):
        precision = tp / max(tp + fp, 1)
        recall = tp / max(tp + fn, 1)
        f1 = 2 * precision * recall / max(precision + recall, 1e-12)
        rows.append(f"| {name} | {precision:.3f} | {recall:.3f} | {f1:.3f} | {support} |")
    return "\n".join(rows)
