"""Synthetic sequence-to-sequence problems, generated in code and seeded.

- ``reverse``: a random string of symbols, to be written backwards;
- ``sort``: a random string of symbols, to be written in sorted order;
- ``dates``: a date written the way people write them ("3 March 1987", "Mar 03, 1987",
  "03/03/1987", ...), to be written as ISO ``YYYY-MM-DD``.

Sources and targets are character tokens, each side with its own vocabulary. Target ids 0-3 are
reserved for padding, unknown, start (``<bos>``) and end (``<eos>``); every target ends with
``<eos>``.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Literal

from rnnlab.data.batch import InMemoryDataModule
from rnnlab.data.pairs import encode_pairs, seq2seq_spec, target_vocabulary
from rnnlab.data.specs import PairsSpec
from rnnlab.data.vocab import Vocabulary
from rnnlab.utils.errors import check

Problem = Literal["reverse", "sort", "dates"]
_DATE_FORMATS = (
    "%d %B %Y", "%B %d, %Y", "%d %b %Y", "%b %d, %Y", "%d/%m/%Y", "%Y.%m.%d",
    "%A %d %B %Y", "%a, %d %b %Y", "%d %B, %Y", "%d.%m.%Y",
)  # fmt: skip


def symbols_pair(problem: str, rng: random.Random, symbols: str, lengths: tuple[int, int]):
    """One ``(source, target)`` pair of strings of ``problem``."""
    if problem == "dates":
        day = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(365 * 100))
        text = day.strftime(rng.choice(_DATE_FORMATS))
        text = rng.choice((str.lower, str.upper, lambda s: s))(text)
        return text, day.isoformat()
    text = "".join(rng.choice(symbols) for _ in range(rng.randint(*lengths)))
    return text, text[::-1] if problem == "reverse" else "".join(sorted(text))


class Seq2SeqSyntheticDataModule(InMemoryDataModule):
    """``reverse``, ``sort`` or ``dates`` pairs as padded id sequences.

    Args:
        problem: ``reverse``, ``sort`` or ``dates``.
        num_symbols: alphabet size of ``reverse`` and ``sort`` (letters ``a``, ``b``, ...).
        min_length, max_length: source lengths of ``reverse`` and ``sort``, drawn uniformly.
        num_train, num_val, num_test: pairs per split (a pair never repeats across splits).
        batch_size, num_workers, seed: as for :class:`InMemoryDataModule`; the seed also draws
            the pairs.
    """

    def __init__(
        self,
        problem: Problem = "reverse",
        num_symbols: int = 10,
        min_length: int = 5,
        max_length: int = 15,
        num_train: int = 20000,
        num_val: int = 1000,
        num_test: int = 1000,
        batch_size: int = 64,
        num_workers: int = 0,
        seed: int = 0,
    ):
        super().__init__(batch_size, num_workers, seed)
        check(problem in ("reverse", "sort", "dates"), f"data.problem={problem!r} is not one of "
              "'reverse', 'sort', 'dates'.")  # fmt: skip
        check(2 <= num_symbols <= 26, f"data.num_symbols={num_symbols} must be from 2 to 26.")
        check(
            1 <= min_length <= max_length,
            f"data.min_length={min_length} and data.max_length={max_length} must satisfy "
            "1 <= min_length <= max_length.",
        )
        check(min(num_train, num_val, num_test) >= 1, "every split needs at least one pair.")
        self.problem = problem
        self.symbols = "abcdefghijklmnopqrstuvwxyz"[:num_symbols]
        self.lengths = (min_length, max_length)
        self.sizes = {"train": num_train, "val": num_val, "test": num_test}
        self.pairs: dict[str, list[tuple[str, str]]] = {}
        self.source_vocab: Vocabulary | None = None
        self.target_vocab: Vocabulary | None = None
        self.max_target_length = 0  # the longest target, with <eos>

    @property
    def spec(self) -> PairsSpec:
        self.setup()
        return seq2seq_spec(
            self.source_vocab, self.target_vocab, self.max_target_length, "char", "char", False
        )

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        rng = random.Random(self.seed)
        seen: set[str] = set()
        for split, size in self.sizes.items():
            pairs = []
            for _ in range(size * 50):  # small spaces may not hold `size` distinct pairs
                source, target = symbols_pair(self.problem, rng, self.symbols, self.lengths)
                if source not in seen:
                    seen.add(source)
                    pairs.append((source, target))
                    if len(pairs) == size:
                        break
            check(pairs, f"data.problem={self.problem} has no new pairs left for {split}.")
            self.pairs[split] = pairs
        train = self.pairs["train"]
        self.source_vocab = Vocabulary.build(list(s) for s, _ in train)
        self.target_vocab = target_vocabulary([list(t) for _, t in train], 1, None)
        for split, pairs in self.pairs.items():
            chars = [(list(s), list(t)) for s, t in pairs]
            self.datasets[split] = encode_pairs(chars, self.source_vocab, self.target_vocab)
        self.max_target_length = max(len(t) for pairs in self.pairs.values() for _, t in pairs) + 1
