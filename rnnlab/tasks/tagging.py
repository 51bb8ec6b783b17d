"""Sequence tagging: one label per position (aligned many-to-many), such as part of speech,
chunks or named entities (BIO tags), with a softmax per position or a linear-chain CRF.

Entity scores of BIO tag sets come from ``seqeval``, the field's standard scorer (it counts
entities as the CoNLL ``conlleval`` script does), an optional dependency. Without it a BIO set
still trains and is scored by token accuracy, and the run says so once: tagging data and this
task are part of the core install, and a second, hand-written span scorer kept as a fallback
could silently disagree with the standard one.
"""

from __future__ import annotations

import importlib.util
import itertools
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import Metric, MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassStatScores
from torchmetrics.utilities import dim_zero_cat

from rnnlab.data.batch import IGNORE, Batch
from rnnlab.data.specs import ClassesSpec
from rnnlab.nets.crf import LinearChainCRF
from rnnlab.tasks.base import SupervisedTask, count_as_wrong
from rnnlab.tasks.optim import OptimizerFactory, SchedulerFactory
from rnnlab.utils import log
from rnnlab.utils.errors import check


def is_bio(tags: Sequence[str]) -> bool:
    """Whether a tag set is BIO/IOB: ``O`` and ``B-``/``I-`` tags only, with some entity."""
    entity = [t for t in tags if t != "O"]
    return bool(entity) and all(t[:2] in ("B-", "I-") and len(t) > 2 for t in entity)


def seqeval_installed() -> bool:
    """Whether ``seqeval``, which scores entities, is installed (``pip install rnnlab[text]``)."""
    return importlib.util.find_spec("seqeval") is not None


def entity_scores(gold: list[list[str]], predicted: list[list[str]]) -> dict[str, float]:
    """Entity-level ``entity_precision``, ``entity_recall`` and ``entity_f1`` of BIO/IOB tag
    sequences, and ``entity_f1_<TYPE>`` for each entity type found in either, by ``seqeval``
    in its default mode, which counts entities as the CoNLL shared tasks' ``conlleval`` script
    does: an entity counts as found only when its span and type match exactly."""
    from seqeval.metrics import classification_report

    report = classification_report(gold, predicted, output_dict=True, zero_division=0)
    overall = report.pop("micro avg")
    scores = {
        "entity_precision": float(overall["precision"]),
        "entity_recall": float(overall["recall"]),
        "entity_f1": float(overall["f1-score"]),
    }
    for name, row in report.items():
        if not name.endswith(" avg"):
            scores[f"entity_f1_{name}"] = float(row["f1-score"])
    return scores


class EntityScores(Metric):
    """Entity-level precision, recall and F1 over BIO/IOB tags (:func:`entity_scores`), kept
    as the valid tag ids of every sentence seen since the last reset.

    ``compute`` returns a dict of scores, so it is logged by the task with ``log_dict`` after
    the epoch, not inside a ``MetricCollection`` (whose values must be single tensors).
    """

    full_state_update = False

    def __init__(self, tags: Sequence[str]):
        super().__init__()
        self.tags = list(tags)
        for name in ("preds", "target", "lengths"):
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        """``preds`` and ``target`` ``(B, T)`` tag ids; positions where ``target`` is ignored
        are padding."""
        valid = target != IGNORE  # (B, T)
        self.preds.append(preds[valid])
        self.target.append(target[valid])
        self.lengths.append(valid.sum(1))

    def compute(self) -> dict[str, torch.Tensor]:
        if isinstance(self.lengths, list) and not self.lengths:  # no sentences seen
            return {}
        lengths = dim_zero_cat(self.lengths).tolist()
        names = self.tags
        gold, guess = [], []
        for out, ids in ((gold, self.target), (guess, self.preds)):
            flat = [names[i] for i in dim_zero_cat(ids).tolist()]
            starts = [0, *itertools.accumulate(lengths)]
            out.extend(flat[a:b] for a, b in zip(starts, starts[1:], strict=False))
        return {k: torch.tensor(v) for k, v in entity_scores(gold, guess).items()}


class TaggingTask(SupervisedTask):
    """Wraps a sequence encoder with a linear head that tags every position, and optionally a
    linear-chain CRF over the head's scores.

    Without the CRF the loss is cross-entropy over valid positions and each position takes its
    likeliest tag; with ``crf`` the loss is the CRF's negative log-likelihood of each sentence's
    tag sequence (divided by the valid positions, as cross-entropy is) and the tags are the
    Viterbi best sequence (:class:`~rnnlab.nets.crf.LinearChainCRF`). Padding is skipped by
    the loss and every metric, and a step whose scores are not finite counts as wrongly tagged
    (with the CRF, every step of its sentence). Reports token accuracy ``acc`` and, for a
    BIO/IOB tag set, entity-level ``entity_precision``, ``entity_recall``, ``entity_f1`` and
    ``entity_f1_<TYPE>`` per entity type, scored by ``seqeval`` (``pip install rnnlab[text]``;
    without it a BIO tag set is scored by token accuracy alone, and the run says so). A per-tag
    report (precision, recall, F1, support) goes to TensorBoard's text tab after testing. Works
    with unidirectional and bidirectional nets.

    Args:
        net: a :class:`~rnnlab.nets.protocol.SequenceEncoder`.
        spec: the data's :class:`~rnnlab.data.specs.ClassesSpec` with one tag per step
            (``aligned``); targets are indices into its ``class_names``, or -100 on padding.
        optimizer, scheduler, scheduler_interval, monitor, steps_per_batch: as for
            :class:`~rnnlab.tasks.base.SupervisedTask`.
        dropout: dropout on the encoder's outputs, before the head.
        crf: score whole tag sequences with a linear-chain CRF and decode them by Viterbi.
    """

    spec_type = ClassesSpec
    higher_is_better = frozenset({"acc", "entity_precision", "entity_recall", "entity_f1"})
    headline = "acc"

    @classmethod
    def spec_problem(cls, spec) -> str | None:
        if isinstance(spec, ClassesSpec) and not spec.aligned:
            return "its labels are one per sequence, which task=classification predicts"
        return super().spec_problem(spec)

    @classmethod
    def metric_mode(cls, key: str):
        # Per-type entity scores (``entity_f1_NP``, ``most_frequent_tag_entity_f1_NP``) are
        # maximised, as the overall ones are.
        if "entity_" in key.rsplit("/", 1)[-1]:
            return "max"
        return super().metric_mode(key)

    def __init__(
        self,
        net: nn.Module,
        spec: ClassesSpec,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        scheduler_interval: Literal["step", "epoch"] = "step",
        monitor: str = "val/loss",
        dropout: float = 0.0,
        crf: bool = False,
        steps_per_batch: int = 1,
    ):
        super().__init__(
            net, spec, optimizer, scheduler, scheduler_interval, monitor, steps_per_batch
        )
        self.save_hyperparameters(ignore=["net", "spec", "optimizer", "scheduler"], logger=False)
        num_classes = spec.num_classes
        self.net = net
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(net.output_size, num_classes)
        self.crf = LinearChainCRF(num_classes) if crf else None
        self.class_names = list(spec.class_names)
        self.metrics = nn.ModuleDict()
        for stage in ("val", "test"):
            acc = MulticlassAccuracy(num_classes, average="micro", ignore_index=IGNORE)
            self.metrics[stage] = MetricCollection({"acc": acc}, prefix=f"{stage}/")
        self.entities = nn.ModuleDict()
        scores_entities = is_bio(self.class_names) and seqeval_installed()
        if is_bio(self.class_names) and not seqeval_installed():
            check(
                "entity_" not in monitor,
                f"task.monitor={monitor} needs entity scores, which need seqeval; install it "
                "(pip install 'rnnlab[text]') or monitor val/acc or val/loss.",
            )
            log.info(
                "The tags are BIO entity tags, and seqeval, which scores entities, is not "
                "installed (pip install 'rnnlab[text]'): this run reports token accuracy only."
            )
        if scores_entities:
            self.entities.update({s: EntityScores(self.class_names) for s in ("val", "test")})
        self.per_tag = MulticlassStatScores(num_classes, average=None, ignore_index=IGNORE)

    def forward(
        self,
        x: torch.Tensor,
        lengths: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Tag scores ``(B, T, num_classes)`` for sequences ``x`` (the CRF's emissions, with
        ``crf``)."""
        return self.head(self.dropout(self.net(x, lengths).outputs))

    def predict(self, batch: Batch) -> list[list[int]]:
        """The tag index of each valid step of each sequence."""
        tags = self.decode(self(batch.x, batch.lengths, batch.mask), batch)  # (B, T)
        lengths = [tags.shape[1]] * len(tags) if batch.lengths is None else batch.lengths.tolist()
        return [row[:n] for row, n in zip(tags.tolist(), lengths, strict=True)]

    def decode(self, scores: torch.Tensor, batch: Batch) -> torch.Tensor:
        """The tags ``(B, T)`` of ``scores`` ``(B, T, C)``: the likeliest at each step, or the
        CRF's best sequence."""
        if self.crf is None:
            return scores.argmax(-1)
        return self.crf.decode(scores.float(), _valid(batch, scores))

    def score_baseline(self, predictions: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        """Token accuracy of tag ids ``predictions`` ``(N, T)`` of ``targets`` ``(N, T)``, whose
        padded positions are :data:`~rnnlab.data.batch.IGNORE`, and for a BIO tag set the
        entity scores the model is scored by."""
        valid = targets != IGNORE
        scores = {"acc": (predictions[valid] == targets[valid]).double().mean().item()}
        if "test" in self.entities:
            metric = EntityScores(self.class_names)
            metric.update(predictions, targets)
            scores |= {k: float(v) for k, v in metric.compute().items()}
        return scores

    def compute_loss(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        scores = self(batch.x, batch.lengths, batch.mask)  # (B, T, C)
        if self.crf is None:
            loss = F.cross_entropy(
                scores.flatten(0, 1).float(), batch.y.flatten(), ignore_index=IGNORE
            )
            return loss, scores
        valid = _valid(batch, scores)
        loss = self.crf(scores.float(), batch.y, valid).sum() / valid.sum()
        return loss, scores

    def loss_weight(self, batch: Batch) -> torch.Tensor:
        return (batch.y != IGNORE).sum()  # the valid positions

    def update_metrics(self, stage: str, scores: torch.Tensor, batch: Batch) -> None:
        bad = self._nonfinite(scores, batch)  # (B, T): scored as wrong
        preds = count_as_wrong(self.decode(scores, batch), batch.y, bad, len(self.class_names))
        self.metrics[stage].update(preds, batch.y)
        self.log_dict(self.metrics[stage], on_epoch=True, prog_bar=stage == "val")
        if stage in self.entities:
            self.entities[stage].update(preds, batch.y)
        if stage == "test":
            self.per_tag.update(preds, batch.y)

    def _nonfinite(self, scores: torch.Tensor, batch: Batch) -> torch.Tensor:
        """The steps ``(B, T)`` whose tag the model could not score (scored as wrong): those
        whose scores are not finite, or with the CRF, whose Viterbi path reads every step's
        scores and the transitions, every step of such a sentence."""
        bad = ~torch.isfinite(scores).all(-1)  # (B, T)
        if self.crf is None:
            return bad
        crf_bad = ~torch.stack([torch.isfinite(p).all() for p in self.crf.parameters()]).all()
        sentence = (bad & _valid(batch, scores)).any(1, keepdim=True) | crf_bad  # (B, 1)
        return sentence.expand_as(bad)

    def on_validation_epoch_end(self) -> None:
        super().on_validation_epoch_end()
        self._log_entities("val")

    def on_test_epoch_end(self) -> None:
        self._log_entities("test")
        stats = self.per_tag.compute()  # (C, 5): tp, fp, tn, fn, support
        self.per_tag.reset()
        report = per_tag_report(self.class_names, stats)
        for logger in self.loggers:
            experiment = getattr(logger, "experiment", None)
            if hasattr(experiment, "add_text"):
                experiment.add_text("test/report", report, global_step=self.global_step)

    def _log_entities(self, stage: str) -> None:
        # Logged once per epoch from the whole epoch's sentences: an entity F1 is not a mean
        # of per-batch values.
        if stage not in self.entities:
            return
        scores = self.entities[stage].compute()
        self.entities[stage].reset()
        self.log_dict({f"{stage}/{name}": float(value) for name, value in scores.items()})


def _valid(batch: Batch, scores: torch.Tensor) -> torch.Tensor:
    """The valid steps ``(B, T)`` of ``batch``, all of them without a mask."""
    if batch.mask is not None:
        return batch.mask
    return torch.ones(scores.shape[:2], dtype=torch.bool, device=scores.device)


def per_tag_report(names: Sequence[str], stats: torch.Tensor) -> str:
    """A Markdown table of each tag's precision, recall, F1 and support."""
    rows = ["| tag | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for name, (tp, fp, _, fn, support) in zip(names, stats.tolist(), strict=True):
        precision = tp / max(tp + fp, 1)
        recall = tp / max(tp + fn, 1)
        f1 = 2 * precision * recall / max(precision + recall, 1e-12)
        rows.append(f"| {name} | {precision:.3f} | {recall:.3f} | {f1:.3f} | {support} |")
    return "\n".join(rows)
