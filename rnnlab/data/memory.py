"""Long-range memory tasks: copying, selective copying and associative recall.

Each is a token sequence with one class per step (``ClassesSpec(aligned=True)``, the tagging
task), where only the steps that must be answered carry a target and every other step is
:data:`~rnnlab.data.batch.IGNORE`: the loss is the mean cross-entropy over the answer steps and
``acc`` is the per-symbol accuracy of the answers. Every sequence of a split has one length, so
nothing is padded; ``test_length`` generates the test split (and only it) longer, to test
length generalisation.

Token ids: 0 pads (never used, but token nets take a ``pad_index``), 1 is the blank (or noise)
token, then each task's own tokens. Targets index the class names, not the token ids.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch

from rnnlab.data.batch import IGNORE
from rnnlab.data.specs import ClassesSpec, Inputs
from rnnlab.data.synthetic import Generated, SyntheticSequences
from rnnlab.utils.errors import check, check_count

PAD, BLANK, MARKER = "<pad>", "_", ">"


@dataclass(frozen=True)
class MemorySpec(ClassesSpec):
    """A :class:`ClassesSpec` with one class per answered step and the cross-entropy of the
    memoryless baseline.

    Attributes:
        chance_loss: the mean cross-entropy, per answered step, of a model that remembers
            nothing and so spreads its guess evenly over the classes: ``ln(num_classes)``; in
            the units of the task's ``loss``.
        chance_loss_all_steps: the same baseline averaged over every step of a sequence,
            unscored ones counted as perfectly predicted, where a task's literature reports
            it so (copying).
    """

    chance_loss: float | None = None
    chance_loss_all_steps: float | None = None

    def facts(self) -> dict[str, float]:
        known = {
            "data/chance_loss": self.chance_loss,
            "data/chance_loss_all_steps": self.chance_loss_all_steps,
        }
        return super().facts() | {k: v for k, v in known.items() if v is not None}


def _names(prefix: str, n: int) -> tuple[str, ...]:
    return tuple(f"{prefix}{i}" for i in range(n))


def _choose(n: int, population: int, k: int, generator: torch.Generator) -> torch.Tensor:
    """``k`` distinct indices of ``range(population)`` for each of ``n`` rows, ``(n, k)``, in
    random order."""
    return torch.rand(n, population, generator=generator).argsort(1)[:, :k]


class MemoryTask(SyntheticSequences):
    """Fixed-length token sequences whose answered steps are scored (the others IGNORE).

    Args:
        length: the task's length (what each task says it is); the sequences are longer by
            the steps that hold the data and the answers.
        test_length: the test split's task length; ``None``: ``length``; a list: a test set
            at each, scored as ``test/<metric>@<length>`` (the test split is at the first).
        num_train, num_val, num_test, batch_size, num_workers, seed: as for
            :class:`~rnnlab.data.synthetic.SyntheticSequences`.
    """

    aligned = True

    def __init__(
        self,
        length: int,
        test_length: int | Sequence[int] | None = None,
        num_train: int = 10_000,
        num_val: int = 1_000,
        num_test: int = 2_000,
        batch_size: int = 128,
        num_workers: int = 0,
        seed: int = 0,
    ):
        super().__init__(
            length,
            None,
            num_train,
            num_val,
            num_test,
            batch_size,
            num_workers,
            seed,
            test_length=test_length,
        )

    @property
    @abstractmethod
    def classes(self) -> tuple[str, ...]:
        """The answers' class names."""

    @property
    @abstractmethod
    def vocab(self) -> tuple[str, ...]:
        """The input tokens."""

    @property
    def spec(self) -> MemorySpec:
        k = len(self.classes)
        return MemorySpec(
            Inputs(vocab=self.vocab, pad_index=0),
            class_names=self.classes,
            aligned=True,
            chance_acc=1 / k,
            chance_loss=math.log(k),
        )

    def generate(self, lengths: torch.Tensor, generator: torch.Generator) -> Generated:
        # Every sequence of a split has the task length the split was asked for (no
        # min_length), so the first one names it.
        x, y = self.sequences(len(lengths), int(lengths[0]), generator)
        return x, torch.full((len(x),), x.shape[1]), y

    @abstractmethod
    def sequences(
        self, n: int, length: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` sequences of task length ``length``: token ids ``(N, T)`` and targets
        ``(N, T)``, a class index on each answered step and IGNORE elsewhere."""


class SymbolsToRecall(MemoryTask):
    """A memory task whose answers are ``symbols`` letters of an ``alphabet``, given once and
    asked back after a marker (copying and selective copying): their classes, and the input
    vocabulary of padding, the blank, the marker and the letters."""

    def __init__(self, length: int, symbols: int, alphabet: int, **kwargs):
        super().__init__(length, **kwargs)
        check_count("data.symbols", symbols, 1)
        check_count("data.alphabet", alphabet, 2)
        self.symbols, self.alphabet = symbols, alphabet

    @property
    def classes(self) -> tuple[str, ...]:
        return _names("s", self.alphabet)

    @property
    def vocab(self) -> tuple[str, ...]:
        return (PAD, BLANK, MARKER, *self.classes)


class CopyingDataModule(SymbolsToRecall):
    """The copying problem (Arjovsky, Shah and Bengio 2016): remember ``symbols`` tokens
    across ``length`` steps and write them out again.

    A sequence is ``symbols`` random tokens from ``alphabet`` letters, ``length - 1`` blanks,
    the marker, then ``symbols`` blanks, ``length + 2 * symbols`` steps in all; the target of
    the last ``symbols`` steps is the tokens in order, and of every other step nothing
    (IGNORE). The loss is therefore the cross-entropy per answered symbol, and a memoryless
    model scores ``ln(alphabet)`` (``data/chance_loss``) and accuracy ``1 / alphabet``
    (``data/chance_acc``). The paper scores every step, blanks included, whose baseline is
    ``symbols * ln(alphabet) / (length + 2 * symbols)`` (``data/chance_loss_all_steps``, at
    the tested length): ``test/loss * symbols / (length + 2 * symbols)`` is a loss on its
    scale (blanks counted as predicted perfectly).

    Args:
        length: steps from the end of the symbols to the first answer (the paper's ``T``).
        symbols: tokens to copy.
        alphabet: letters they are drawn from.
        Others: as for :class:`MemoryTask`.
    """

    def __init__(self, length: int = 20, symbols: int = 10, alphabet: int = 8, **kwargs):
        super().__init__(length, symbols, alphabet, **kwargs)

    @property
    def spec(self) -> MemorySpec:
        # The paper's baseline at the tested length: every step averaged, blanks perfect.
        length = self.test_length or self.length
        all_steps = self.symbols * math.log(self.alphabet) / (length + 2 * self.symbols)
        return replace(super().spec, chance_loss_all_steps=all_steps)

    def sequences(
        self, n: int, length: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.symbols
        symbols = torch.randint(0, self.alphabet, (n, s), generator=generator)  # (N, S)
        x = torch.full((n, length + 2 * s), 1)  # (N, T + 2S) blanks
        x[:, :s] = symbols + 3
        x[:, s + length - 1] = 2  # the marker, the step before the first answer
        y = torch.full_like(x, IGNORE)
        y[:, length + s :] = symbols
        return x, y


class SelectiveCopyingDataModule(SymbolsToRecall):
    """Selective copying (as in the Mamba paper, Gu and Dao 2023): ``symbols`` tokens lie at
    random places among ``length`` steps of noise; after the marker, write them out in order.

    A sequence is ``length`` steps holding the ``symbols`` tokens at distinct random steps and
    the blank (noise) token elsewhere, the marker, then ``symbols`` blanks whose targets are the
    tokens in the order they came: ``length + 1 + symbols`` steps. Scored like
    :class:`CopyingDataModule`: chance is ``ln(alphabet)`` per answer and accuracy
    ``1 / alphabet``.

    Args:
        length: steps among which the symbols are scattered (at least ``symbols``).
        symbols: tokens to copy.
        alphabet: letters they are drawn from.
        Others: as for :class:`MemoryTask`.
    """

    def __init__(self, length: int = 32, symbols: int = 4, alphabet: int = 8, **kwargs):
        super().__init__(length, symbols, alphabet, **kwargs)
        for name, value in [("length", length), *(("test_length", n) for n in self.test_lengths)]:
            check(
                value >= symbols,
                f"data.{name}={value} must be at least data.symbols={symbols}: the symbols "
                "need a step each.",
            )

    def sequences(
        self, n: int, length: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.symbols
        symbols = torch.randint(0, self.alphabet, (n, s), generator=generator)  # (N, S)
        where = _choose(n, length, s, generator).sort(1).values  # (N, S) increasing steps
        x = torch.full((n, length + 1 + s), 1)  # (N, L + 1 + S) noise
        x.scatter_(1, where, symbols + 3)
        x[:, length] = 2
        y = torch.full_like(x, IGNORE)
        y[:, length + 1 :] = symbols
        return x, y


class AssociativeRecallDataModule(MemoryTask):
    """Multi-query associative recall (as in the Zoology benchmark, Arora et al. 2023):
    read ``num_pairs`` key-value pairs, then answer each query of a key with its value.

    A sequence is the pairs, key then value (``2 * num_pairs`` steps; the keys distinct, drawn
    from ``keys`` key tokens; the values from ``values`` value tokens, repeats allowed), then
    ``length`` steps of blanks in which ``num_queries`` distinct keys of the pairs stand at
    random steps. A query's target is its key's value, and every other step is IGNORE. Keys
    and values are separate vocabularies, so a value can never be mistaken for a key; the
    classes are the values, so a model that remembers nothing scores ``1 / values`` and
    ``ln(values)``.

    Args:
        length: steps after the pairs, holding the queries (at least ``num_queries``).
        num_pairs: key-value pairs to remember (at most ``keys``).
        num_queries: keys asked for; ``None``: every key once.
        keys: key tokens.
        values: value tokens.
        Others: as for :class:`MemoryTask`.
    """

    def __init__(
        self,
        length: int = 16,
        num_pairs: int = 4,
        num_queries: int | None = None,
        keys: int = 16,
        values: int = 16,
        **kwargs,
    ):
        super().__init__(length, **kwargs)
        queries = num_pairs if num_queries is None else num_queries
        check(
            1 <= num_pairs <= keys,
            f"data.num_pairs={num_pairs} must be between 1 and data.keys={keys} (distinct keys).",
        )
        check_count("data.values", values, 2)
        check(
            1 <= queries <= num_pairs,
            f"data.num_queries={num_queries} must be between 1 and data.num_pairs={num_pairs}.",
        )
        for name, value in [("length", length), *(("test_length", n) for n in self.test_lengths)]:
            check(
                value >= queries,
                f"data.{name}={value} must be at least the {queries} queries (a step each).",
            )
        self.num_pairs, self.num_queries = num_pairs, queries
        self.keys, self.values = keys, values

    @property
    def classes(self) -> tuple[str, ...]:
        return _names("v", self.values)

    @property
    def vocab(self) -> tuple[str, ...]:
        return (PAD, BLANK, *_names("k", self.keys), *self.classes)

    def sequences(
        self, n: int, length: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        p, q = self.num_pairs, self.num_queries
        keys = _choose(n, self.keys, p, generator)  # (N, P) distinct per row
        values = torch.randint(0, self.values, (n, p), generator=generator)  # (N, P)
        x = torch.full((n, 2 * p + length), 1)  # (N, 2P + L) blanks
        x[:, 0 : 2 * p : 2] = keys + 2
        x[:, 1 : 2 * p : 2] = values + 2 + self.keys
        asked = _choose(n, p, q, generator)  # (N, Q) which pairs
        steps = 2 * p + _choose(n, length, q, generator)  # (N, Q) where they are asked
        x.scatter_(1, steps, keys.gather(1, asked) + 2)
        y = torch.full_like(x, IGNORE)
        y.scatter_(1, steps, values.gather(1, asked))
        return x, y
