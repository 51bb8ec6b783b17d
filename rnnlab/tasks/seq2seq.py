"""Unaligned sequence-to-sequence mapping with an encoder–decoder (``task=seq2seq``)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanMetric, Metric
from torchmetrics.text import CHRFScore

from rnnlab.data.batch import Batch
from rnnlab.data.specs import PairsSpec
from rnnlab.data.vocab import UNK, Vocabulary, text_of, words_of
from rnnlab.nets.protocol import EncoderDecoder
from rnnlab.tasks.base import SupervisedTask
from rnnlab.tasks.optim import OptimizerFactory, SchedulerFactory
from rnnlab.utils.errors import ConfigError

Schedule = Literal["constant", "linear", "inverse_sigmoid"]
UNSCORED = "<unk:reference>"  # a reference word outside the vocabulary, which no output matches


def teacher_forcing_ratio(
    schedule: Schedule, start: float, step: int, total: int, k: float
) -> float:
    """The teacher-forcing ratio at optimizer ``step`` of ``total``.

    ``constant`` keeps ``start``; ``linear`` falls from ``start`` to 0 over the run;
    ``inverse_sigmoid`` is ``start * k / (k + exp(step / k))`` (Bengio et al., 2015, with the
    step counted in hundreds), which stays near ``start`` early and decays later.
    """
    if schedule == "constant":
        return start
    if schedule == "linear":
        return start * max(0.0, 1.0 - step / max(total, 1))
    hundreds = step / 100
    return start * k / (k + math.exp(min(hundreds / k, 50.0)))


def bleu_from_counts(
    correct: Sequence[int], total: Sequence[int], output_length: int, reference_length: int
) -> float:
    """Corpus BLEU (0 to 1) from its counts summed over the corpus, as sacreBLEU computes it
    with its default ``exp`` smoothing and ``effective_order=True``.

    The mean of the log precisions runs over the orders at which the outputs hold any n-gram
    (the effective order), so a corpus of three-token sentences is scored on 1- to 3-grams
    instead of scoring 0 for want of 4-grams. An order with n-grams but no match counts as
    ``1 / (2**k * total)``, ``k`` numbering such orders from 1 (NIST's smoothing, method 3 of
    Chen & Cherry, 2014). No match at any order scores 0. The brevity penalty
    ``exp(1 - reference_length / output_length)`` applies where the outputs are shorter.

    Args:
        correct, total: matched and all output n-grams of each order, 1 up.
        output_length, reference_length: the outputs' tokens and their references' tokens.
    """
    if not any(correct):
        return 0.0
    log_precisions, unmatched = [], 0
    for matched, count in zip(correct, total, strict=True):
        if count == 0:  # no output this long: the orders above are left out too
            break
        if matched == 0:
            unmatched += 1
            log_precisions.append(-math.log(2**unmatched * count))
        else:
            log_precisions.append(math.log(matched / count))
    shorter = output_length < reference_length
    brevity = math.exp(1 - reference_length / output_length) if shorter else 1.0
    return brevity * math.exp(sum(log_precisions) / len(log_precisions))


class CorpusBLEU(Metric):
    """Corpus BLEU (Papineni et al., 2002) of space-separated tokens on a 0 to 1 scale: sacreBLEU's
    ``BLEU(tokenize="none", effective_order=True).corpus_score(...).score / 100``.

    Each output's n-grams of orders 1 to ``max_order`` are counted, an n-gram matching at most
    as often as a reference holds it; its reference length is that of the reference nearest in
    length (the shorter on a tie). The counts are summed over every update (and process) and
    scored by :func:`bleu_from_counts`. Unlike torchmetrics' ``BLEUScore``, which is 0 wherever
    no 4-gram matches, it scores sentences shorter than 4 tokens.

    Args:
        max_order: the longest n-gram counted.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(self, max_order: int = 4, **kwargs):
        super().__init__(**kwargs)
        self.max_order = max_order
        self.add_state("correct", torch.zeros(max_order, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("total", torch.zeros(max_order, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("lengths", torch.zeros(2, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> None:
        """Count ``hypotheses``, each against its references (one or more strings)."""
        correct, total = [0] * self.max_order, [0] * self.max_order
        output_length = reference_length = 0
        for hypothesis, options in zip(hypotheses, references, strict=True):
            words = hypothesis.split()
            candidates = [reference.split() for reference in options]
            most = Counter()  # each n-gram as often as the reference holding it most
            for reference in candidates:
                most |= _ngrams(reference, self.max_order)
            for gram, count in _ngrams(words, self.max_order).items():
                total[len(gram) - 1] += count
                correct[len(gram) - 1] += min(count, most[gram])
            output_length += len(words)
            reference_length += min((abs(len(r) - len(words)), len(r)) for r in candidates)[1]
        self.correct += torch.tensor(correct).to(self.correct)
        self.total += torch.tensor(total).to(self.total)
        self.lengths += torch.tensor([output_length, reference_length]).to(self.lengths)

    def compute(self) -> torch.Tensor:
        output_length, reference_length = self.lengths.tolist()
        score = bleu_from_counts(
            self.correct.tolist(), self.total.tolist(), output_length, reference_length
        )
        return self.lengths.new_tensor(score, dtype=torch.float32)


def _ngrams(words: Sequence[str], max_order: int) -> Counter:
    """How often each n-gram of ``words`` occurs, for orders 1 to ``max_order``."""
    return Counter(
        tuple(words[i : i + n]) for n in range(1, max_order + 1) for i in range(len(words) - n + 1)
    )


class Seq2SeqTask(SupervisedTask):
    """Trains an encoder–decoder with teacher forcing and scores its decoded output.

    Loss is cross-entropy over the target tokens (``<eos>`` included, padding skipped), with
    optional label smoothing, under teacher forcing with a ratio that may decay
    (``teacher_forcing_schedule``). Validation and test decode every source (greedy, or beam
    search with a beam over 1) and report ``acc`` (teacher-forced token accuracy),
    ``exact_match``, ``bleu`` (:class:`CorpusBLEU`, which scores short targets too) and ``chrf``,
    the text metrics on words (subwords joined). A step whose scores are not finite earns no
    credit, and a sentence with one scores as an empty output.

    Args:
        net: an :class:`~rnnlab.nets.protocol.EncoderDecoder`.
        spec: the data's :class:`~rnnlab.data.specs.PairsSpec`: the target vocabulary (to score
            text metrics), the longest target (decoding stops ``5`` tokens after it) and how
            target tokens join into text (characters with nothing, words with spaces).
        optimizer, scheduler, scheduler_interval, monitor, steps_per_batch: as for
            :class:`~rnnlab.tasks.base.SupervisedTask`.
        teacher_forcing: the ratio of steps that read the true previous token.
        teacher_forcing_schedule: ``constant``, ``linear`` or ``inverse_sigmoid``.
        teacher_forcing_k: the inverse-sigmoid decay's constant.
        beam_size: 1 for greedy decoding in validation, more for beam search.
        test_beam_size: the beam of test decoding, ``predict`` and ``rnnlab.translate``;
            ``None``: ``beam_size``. A wide beam pays off at test time, while validation,
            decoded every epoch, stays greedy and fast.
        length_penalty: beam search scores divide by length to this power.
        label_smoothing: the share of each target's probability spread evenly over the
            vocabulary (Szegedy et al., 2016), which keeps a small corpus from being learned
            over-confidently; 0 is plain cross-entropy.
    """

    spec_type = PairsSpec
    higher_is_better = frozenset({"acc", "exact_match", "bleu", "chrf"})
    headline = "bleu"

    @classmethod
    def net_problem(cls, net: nn.Module) -> str | None:
        if not isinstance(net, EncoderDecoder):
            return (
                "it is no encoder-decoder (rnnlab.nets.protocol.EncoderDecoder); use model=seq2seq"
            )
        return None

    @classmethod
    def net_arguments(cls, spec: PairsSpec) -> dict:
        return {**spec.inputs.net_arguments(), "target_vocab_size": len(spec.target_vocab)}

    def __init__(
        self,
        net: nn.Module,
        spec: PairsSpec,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        scheduler_interval: Literal["step", "epoch"] = "step",
        monitor: str = "val/loss",
        teacher_forcing: float = 1.0,
        teacher_forcing_schedule: Schedule = "constant",
        teacher_forcing_k: float = 10.0,
        beam_size: int = 1,
        test_beam_size: int | None = None,
        length_penalty: float = 1.0,
        label_smoothing: float = 0.0,
        steps_per_batch: int = 1,
    ):
        if beam_size < 1:
            raise ConfigError(f"task.beam_size={beam_size} must be at least 1.")
        if test_beam_size is not None and test_beam_size < 1:
            raise ConfigError(
                f"task.test_beam_size={test_beam_size} must be at least 1 (or null: beam_size)."
            )
        if not 0.0 <= label_smoothing < 1.0:
            raise ConfigError(f"task.label_smoothing={label_smoothing} must be in [0, 1).")
        if not 0.0 <= teacher_forcing <= 1.0:
            raise ConfigError(f"task.teacher_forcing={teacher_forcing} must be in [0, 1].")
        if teacher_forcing_schedule not in ("constant", "linear", "inverse_sigmoid"):
            raise ConfigError(
                f"task.teacher_forcing_schedule={teacher_forcing_schedule!r} is not one of "
                "'constant', 'linear', 'inverse_sigmoid'."
            )
        super().__init__(
            net, spec, optimizer, scheduler, scheduler_interval, monitor, steps_per_batch
        )
        self.save_hyperparameters(ignore=["net", "spec", "optimizer", "scheduler"], logger=False)
        self.net = net
        self.target_vocab = spec.target_vocab
        self.max_target_length = spec.max_target_length
        self.total_steps = 1  # optimizer steps of the run, known once training starts
        self.metrics = nn.ModuleDict()
        for stage in ("val", "test"):
            self.metrics[stage] = nn.ModuleDict(
                {
                    "acc": MeanMetric(),
                    "exact_match": MeanMetric(),
                    "bleu": CorpusBLEU(),
                    "chrf": CHRFScore(),
                }
            )

    @property
    def teacher_forcing_now(self) -> float:
        h = self.hparams
        return teacher_forcing_ratio(
            h.teacher_forcing_schedule,
            h.teacher_forcing,
            self.global_step,
            self.total_steps,
            h.teacher_forcing_k,
        )

    def on_train_start(self) -> None:
        super().on_train_start()
        self.total_steps = int(self.trainer.estimated_stepping_batches)

    def compute_loss(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        target = _trim(batch.y, self.net.pad_index)  # (B, T): the target, then <eos>
        bos = target.new_full((target.shape[0], 1), self.net.bos_index)
        target_in = torch.cat([bos, target[:, :-1]], 1)
        ratio = self.teacher_forcing_now if self.training else 1.0
        logits, _ = self.net(batch.x, batch.lengths, target_in, teacher_forcing=ratio)
        loss = F.cross_entropy(
            logits.flatten(0, 1).float(),
            target.flatten(),
            ignore_index=self.net.pad_index,
            label_smoothing=self.hparams.label_smoothing,
        )
        return loss, logits

    def loss_weight(self, batch: Batch) -> torch.Tensor:
        return (batch.y != self.net.pad_index).sum()  # target tokens

    def predict(self, batch: Batch) -> list[list[int]]:
        """The decoded target ids of each source (without ``<eos>``), with the test beam."""
        return self.decode(batch.x, batch.lengths, self.test_beam)

    @property
    def test_beam(self) -> int:
        """The beam of test decoding, prediction and translation."""
        h = self.hparams
        return h.beam_size if h.test_beam_size is None else h.test_beam_size

    def decode(
        self, source: torch.Tensor, lengths: torch.Tensor, beam_size: int | None = None
    ) -> list[list[int]]:
        """Output ids for each source (without ``<eos>``), with a beam of ``beam_size``
        (``None``: the validation beam, ``beam_size``)."""
        beam = self.hparams.beam_size if beam_size is None else beam_size
        max_len = self.max_target_length + 5
        if beam == 1:
            return self.net.greedy(source, lengths, max_len)
        return self.net.beam_search(source, lengths, beam, max_len, self.hparams.length_penalty)

    def update_metrics(self, stage: str, logits: torch.Tensor, batch: Batch) -> None:
        target = _trim(batch.y, self.net.pad_index)
        valid = target != self.net.pad_index
        metrics = self.metrics[stage]
        # A step whose scores are not finite earns no credit (argmax would read NaN as id 0),
        # nor does anything decoded for a sentence with such a step.
        finite = torch.isfinite(logits).all(-1)  # (B, T)
        metrics["acc"].update(((logits.argmax(-1) == target) & finite)[valid].float())
        scored = (finite | ~valid).all(1).tolist()  # (B,)
        decoded = self.decode(batch.x, batch.lengths, self.test_beam if stage == "test" else None)
        truth = self.references(target)
        # A reference token outside the target vocabulary is <unk> in ``truth``; an output <unk>
        # must not match it, or a model earns credit for words it cannot write. It is scored
        # as a word no output can produce, as against the raw reference text.
        unknown = Vocabulary.unk_index  # id 1 of every target vocabulary (PairsSpec)
        matches = zip(decoded, truth, scored, strict=True)
        metrics["exact_match"].update(
            torch.tensor([float(ok and d == t and unknown not in t) for d, t, ok in matches])
        )
        hypotheses = [self.to_text(d) if ok else "" for d, ok in zip(decoded, scored, strict=True)]
        references = [[self.to_text(t, unknown=UNSCORED)] for t in truth]
        metrics["bleu"].update(hypotheses, references)
        metrics["chrf"].update(hypotheses, references)
        for name, metric in metrics.items():
            self.log(f"{stage}/{name}", metric, on_epoch=True, prog_bar=name == "exact_match")

    def references(self, target: torch.Tensor) -> list[list[int]]:
        """Each row of padded target ids ``(B, T)`` up to its ``<eos>``."""
        eos = self.net.eos_index
        return [row[: row.index(eos)] for row in target.tolist()]

    def to_text(self, ids: Sequence[int], for_scoring: bool = True, unknown: str = UNK) -> str:
        """Target ids as text, the unknown token written as ``unknown``. For scoring, words
        (subwords joined) or characters are separated by spaces (BLEU counts space-separated
        tokens, so characters are spaced too); otherwise characters join with nothing and words
        as :func:`~rnnlab.data.vocab.detokenize` writes them."""
        tokens = [unknown if t == UNK else t for t in (self.target_vocab[i] for i in ids)]
        level = self.spec.target_level
        return " ".join(words_of(tokens, level)) if for_scoring else text_of(tokens, level)


def _trim(target: torch.Tensor, pad: int) -> torch.Tensor:
    """``target`` cut to the batch's longest sequence."""
    longest = int((target != pad).sum(1).max())
    return target[:, :longest]
