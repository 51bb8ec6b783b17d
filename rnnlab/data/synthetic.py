"""Synthetic sequence problems, generated in memory from a seed: count, parity, adding."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import torch
from torch.utils.data import DataLoader

from rnnlab.data.batch import InMemoryDataModule, SequenceDataset
from rnnlab.data.specs import ClassesSpec, ForecastSpec, Inputs, Spec
from rnnlab.utils.errors import check, check_count

Generated = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # values, lengths, targets


class SyntheticSequences(InMemoryDataModule, ABC):
    """Independent train, validation and test sets drawn from one generator.

    Sequence lengths are drawn uniformly from ``[min_length, length]`` (all ``length`` when
    ``min_length`` is ``None``), so ``min_length`` turns on padding, masking and packing.

    Args:
        length: the longest sequence.
        min_length: the shortest sequence; ``None`` for fixed-length sequences.
        num_train, num_val, num_test: sequences per split.
        batch_size: sequences per batch.
        num_workers: ``DataLoader`` workers; batches are gathered in memory, so 0 is fastest.
        seed: seed of the generator.
        test_length: the length of every test sequence, to test length generalisation (a net
            trained on ``length`` tested on longer sequences); ``None``: the test split is drawn
            as the others are. A list of lengths tests at each: the test split is drawn at the
            first, and every listed length gets a test set of its own, scored by the same
            weights as ``test/<metric>@<length>`` (:meth:`test_variants`).
    """

    aligned = False  # one target per step (a subclass whose targets are per step sets it)

    def __init__(
        self,
        length: int,
        min_length: int | None = None,
        num_train: int = 10_000,
        num_val: int = 1_000,
        num_test: int = 2_000,
        batch_size: int = 128,
        num_workers: int = 0,
        seed: int = 0,
        test_length: int | Sequence[int] | None = None,
    ):
        super().__init__(batch_size, num_workers, seed)
        check_count("data.length", length, 1)
        check(
            min_length is None or 1 <= min_length <= length,
            f"data.min_length={min_length} must be between 1 and data.length={length}.",
        )
        for name, n in (("num_train", num_train), ("num_val", num_val), ("num_test", num_test)):
            check_count(f"data.{name}", n, 1)
        self.test_lengths = _test_lengths(test_length)
        self.test_length = self.test_lengths[0] if self.test_lengths else None  # the test split's
        self.length = length
        self.min_length = min_length if min_length is not None else length
        self.sizes = {"train": num_train, "val": num_val, "test": num_test}

    @property
    @abstractmethod
    def spec(self) -> Spec: ...

    @abstractmethod
    def generate(self, lengths: torch.Tensor, generator: torch.Generator) -> Generated:
        """Sequences of the given ``lengths`` ``(N,)``: padded values, lengths, targets."""

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        generator = torch.Generator().manual_seed(self.seed)
        for split, n in self.sizes.items():
            if split == "test" and self.test_length is not None:
                lengths = torch.full((n,), self.test_length)
            else:
                lengths = torch.randint(self.min_length, self.length + 1, (n,), generator=generator)
            generated = self.generate(lengths, generator)
            self.datasets[split] = SequenceDataset(*generated, aligned=self.aligned)
        # Drawn after the splits, so that listing more lengths leaves the splits as they were.
        self.length_tests = {}
        for length in self.test_lengths[1:] if len(self.test_lengths) > 1 else ():
            generated = self.generate(torch.full((self.sizes["test"],), length), generator)
            self.length_tests[length] = SequenceDataset(*generated, aligned=self.aligned)

    def test_variants(self) -> dict[str, DataLoader]:
        """With several ``test_length``: a test set at each, named by its length (the first
        is the test split itself)."""
        if len(self.test_lengths) < 2:
            return {}
        sets = {self.test_lengths[0]: self.datasets["test"], **self.length_tests}
        return {str(length): self.loader(data) for length, data in sets.items()}

    def steps(self, lengths: torch.Tensor) -> int:
        """Steps of the padded tensor that holds sequences of ``lengths``: ``length``, or
        more for a longer test split."""
        return max(self.length, int(lengths.max()))


def _test_lengths(test_length: int | Sequence[int] | None) -> tuple[int, ...]:
    """``data.test_length`` as a tuple of distinct lengths (empty for ``None``)."""
    if test_length is None:
        return ()
    lengths = (test_length,) if isinstance(test_length, int) else tuple(test_length)
    check(
        len(lengths) >= 1 and all(isinstance(n, int) and n >= 1 for n in lengths),
        f"data.test_length={test_length} must be at least 1, a list of such lengths, or null "
        "(test at data.length).",
    )
    check(
        len(set(lengths)) == len(lengths),
        f"data.test_length={list(lengths)} lists a length twice.",
    )
    return lengths


def _valid(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    return torch.arange(steps)[None] < lengths[:, None]  # (N, T)


def _random_bits(lengths: torch.Tensor, steps: int, generator: torch.Generator) -> torch.Tensor:
    """Random 0/1 sequences ``(N, T)`` of the given lengths, zero on padded steps."""
    bits = torch.randint(0, 2, (len(lengths), steps), generator=generator)
    return bits * _valid(lengths, steps)


class CountDataModule(SyntheticSequences):
    """Random 0/1 sequences, labelled 1 when more than half of the steps are ones.

    The course's first recurrent example: the net must keep a running count.
    """

    def __init__(self, length: int = 20, **kwargs):
        super().__init__(length, **kwargs)

    @property
    def spec(self) -> ClassesSpec:
        return ClassesSpec(Inputs(features=1), class_names=("0", "1"))

    def generate(self, lengths: torch.Tensor, generator: torch.Generator) -> Generated:
        bits = _random_bits(lengths, self.steps(lengths), generator)  # (N, T)
        labels = (2 * bits.sum(1) > lengths).long()  # (N,)
        return bits.float().unsqueeze(-1), lengths, labels


class ParityDataModule(SyntheticSequences):
    """Random 0/1 sequences labelled with the parity of their number of ones.

    Every step flips the answer, so the net must carry one bit exactly across the whole
    sequence: a long-range memory test that gets harder with ``length``. The two labels are
    equally likely at every length, so chance accuracy is 0.5 (``data/chance_acc``).
    """

    def __init__(self, length: int = 12, **kwargs):
        super().__init__(length, **kwargs)

    @property
    def spec(self) -> ClassesSpec:
        # The last bit alone decides the parity and is a fair coin: labels are balanced.
        return ClassesSpec(Inputs(features=1), class_names=("0", "1"), chance_acc=0.5)

    def generate(self, lengths: torch.Tensor, generator: torch.Generator) -> Generated:
        bits = _random_bits(lengths, self.steps(lengths), generator)  # (N, T)
        return bits.float().unsqueeze(-1), lengths, bits.sum(1) % 2


class AddingDataModule(SyntheticSequences):
    """The adding problem: sum the two values marked in a long sequence of random numbers.

    Each step carries a value from U(0, 1) and a marker; one marker falls in the first half
    of the sequence and one in the second, and the target is the sum of the two marked
    values. Predicting the mean scores an MSE of 1/6, about 0.167, at every length
    (``data/chance_mse``). The target is a single number, so the data names the forecasting
    task's regression path (horizon 1).
    """

    def __init__(self, length: int = 100, **kwargs):
        super().__init__(length, **kwargs)
        check_count("data.min_length", self.min_length, 2)

    @property
    def spec(self) -> ForecastSpec:
        # The marked steps are two distinct valid steps, each U(0, 1) and independent, so the
        # target's mean is 1 and predicting it scores the target's variance, 2 x 1/12.
        return ForecastSpec(Inputs(features=2), horizon=1, chance_mse=1 / 6)

    def generate(self, lengths: torch.Tensor, generator: torch.Generator) -> Generated:
        n = len(lengths)
        steps = self.steps(lengths)
        values = torch.rand(n, steps, generator=generator) * _valid(lengths, steps)
        half = lengths // 2  # (N,)
        first = (torch.rand(n, generator=generator) * half).long()  # in [0, half)
        second = half + (torch.rand(n, generator=generator) * (lengths - half)).long()
        markers = torch.zeros(n, steps)
        rows = torch.arange(n)
        markers[rows, first] = 1.0
        markers[rows, second] = 1.0
        target = values[rows, first] + values[rows, second]  # (N,)
        x = torch.stack([values, markers], dim=-1)  # (N, T, 2)
        return x, lengths, target.view(n, 1, 1)
