"""Tokenisation and vocabularies, one implementation for every token dataset.

A :class:`Vocabulary` maps tokens to ids with two reserved entries, padding (id 0) and the
unknown token (id 1). It is built from the training split only, so the ids a model learns never
depend on validation or test text (with a pretrained vectors file, the file's words follow the
training words: :func:`vocabulary_with_vectors`), and it travels inside every checkpoint as the
data spec's ``vocab``, so ``python -m rnnlab.predict`` encodes new text exactly as training did.
"""

from __future__ import annotations

import importlib
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal, TextIO

import torch

from rnnlab.data.specs import ClassesSpec, Inputs
from rnnlab.utils import log
from rnnlab.utils.errors import ConfigError, check, check_count

PAD = "<pad>"
UNK = "<unk>"
Level = Literal["word", "char"]

# A French elided word ("l'", "qu'") is a token of its own, as it is a word of its own; other
# words, numbers and contractions ("don't", "aujourd'hui") stay whole; every other visible
# character is its own token.
_ELIDED = r"(?:[cdjlmnst]|qu|jusqu|lorsqu|puisqu)['’]"
_WORD = re.compile(rf"\b{_ELIDED}(?=\w)|\w+(?:['’]\w+)*|[^\w\s]", re.IGNORECASE)
_JOIN_ELIDED = re.compile(rf"\b({_ELIDED}) (?=\w)", re.IGNORECASE)
_JOIN_PUNCTUATION = re.compile(r" ([.,)])|([(]) ")


def tokenize(text: str, level: Level = "word", lower: bool = False) -> list[str]:
    """``text`` as ``word`` tokens (words and punctuation marks) or ``char`` tokens."""
    if lower:
        text = text.lower()
    if level == "char":
        return list(text)
    return _WORD.findall(text)


def detokenize(tokens: Sequence[str]) -> str:
    """Word tokens as text: spaces between them, except after an elided word and around
    full stops, commas and brackets (the inverse of :func:`tokenize` for plain text)."""
    text = _JOIN_ELIDED.sub(r"\1", " ".join(tokens))
    return _JOIN_PUNCTUATION.sub(lambda m: m.group(1) or m.group(2), text)


# Marks the subword that starts a word, as SentencePiece writes it, so pieces join back to words.
WORD_START = "\u2581"


class Subwords:
    """Byte-pair subwords (Sennrich et al., 2016) of word tokens, learned and applied by the
    ``tokenizers`` library (the ``subwords`` extra).

    Each word is split on its own and its first piece carries :data:`WORD_START`, so
    :func:`join_subwords` gives the words back. The learned model travels as JSON text
    (``model``) inside the data spec, so a checkpoint splits new text as training did.

    Args:
        model: a ``tokenizers`` BPE tokenizer as JSON, from :meth:`learn`.
    """

    def __init__(self, model: str):
        self.model = model
        self._tokenizer = _tokenizers().Tokenizer.from_str(model)

    @classmethod
    def learn(cls, sequences: Iterable[Sequence[str]], vocab_size: int) -> Subwords:
        """Merges learned from the words of ``sequences`` (the training split only) until the
        subword vocabulary holds ``vocab_size`` pieces, or every word is whole."""
        check_count("data.bpe_vocab_size", vocab_size, 2)
        tokenizers = _tokenizers()
        tokenizer = tokenizers.Tokenizer(tokenizers.models.BPE(unk_token=UNK))
        trainer = tokenizers.trainers.BpeTrainer(
            vocab_size=vocab_size, special_tokens=[UNK], show_progress=False
        )
        # Without a pre-tokenizer each item is one word: the words are counted as they occur.
        words = (_marked(word) for seq in sequences for word in seq)
        tokenizer.train_from_iterator(words, trainer)
        return cls(tokenizer.to_str())

    def split(self, words: Sequence[str]) -> list[str]:
        """The subwords of ``words``."""
        return self.split_all([words])[0]

    def split_all(self, sequences: Sequence[Sequence[str]]) -> list[list[str]]:
        """The subwords of each sequence of words (batched, for whole splits)."""
        encoded = self._tokenizer.encode_batch(
            [[_marked(w) for w in seq] for seq in sequences], is_pretokenized=True
        )
        return [e.tokens for e in encoded]


def join_subwords(pieces: Sequence[str]) -> list[str]:
    """The words that subword ``pieces`` spell (a piece without :data:`WORD_START`
    continues the word before it)."""
    words: list[str] = []
    for piece in pieces:
        if piece.startswith(WORD_START) or not words:
            words.append(piece.removeprefix(WORD_START))
        else:
            words[-1] += piece
    return [w for w in words if w]


def split_text(text: str, level: str, lower: bool, subwords: Subwords | None = None) -> list[str]:
    """``text`` as tokens of ``level``: ``word`` or ``char`` as :func:`tokenize` splits it, or
    ``bpe``, the words split into the pieces of ``subwords``."""
    if level == "bpe":
        check(subwords is not None, "bpe tokens need the learned subwords.")
        return subwords.split(tokenize(text, "word", lower))
    return tokenize(text, level, lower)


def words_of(tokens: Sequence[str], level: str) -> list[str]:
    """The units text is scored in: words for ``word`` and ``bpe`` tokens (subwords joined),
    characters for ``char`` tokens."""
    return join_subwords(tokens) if level == "bpe" else list(tokens)


def text_of(tokens: Sequence[str], level: str) -> str:
    """Tokens of ``level`` as text: characters joined with nothing, words as
    :func:`detokenize` writes them."""
    return "".join(tokens) if level == "char" else detokenize(words_of(tokens, level))


def _marked(word: str) -> str:
    return WORD_START + word.replace(WORD_START, "")


def _tokenizers():
    try:
        return importlib.import_module("tokenizers")
    except ImportError:
        raise ConfigError(
            "data.tokenizer=bpe needs the tokenizers package: pip install 'rnnlab[subwords]'."
        ) from None


@dataclass(frozen=True)
class Vocabulary:
    """Tokens by id: ``tokens[0]`` is padding, ``tokens[1]`` the unknown token.

    Args:
        tokens: every token, in id order, the two reserved ones first.
        lower: whether text is lower-cased before lookup (as it was when the vocabulary was
            built).
    """

    tokens: tuple[str, ...]
    lower: bool = False

    pad_index = 0
    unk_index = 1

    def __post_init__(self):
        if self.tokens[:2] != (PAD, UNK):
            raise ValueError(f"a vocabulary starts with {PAD!r} and {UNK!r}.")

    @cached_property
    def _index(self) -> dict[str, int]:
        return {t: i for i, t in enumerate(self.tokens)}

    @classmethod
    def build(
        cls,
        sequences: Iterable[Sequence[str]],
        min_freq: int = 1,
        max_size: int | None = None,
        lower: bool = False,
    ) -> Vocabulary:
        """The tokens of ``sequences`` seen at least ``min_freq`` times, the most frequent
        first (ties in order of first appearance), at most ``max_size`` including the two
        reserved tokens."""
        check_count("data.min_freq", min_freq, 1)
        if max_size is not None:
            check_count("data.max_size", max_size, 3, " (or null)")
        counts = Counter(token.lower() if lower else token for seq in sequences for token in seq)
        kept = [t for t, n in counts.most_common() if n >= min_freq and t not in (PAD, UNK)]
        top = max(counts.values(), default=0)
        check(
            bool(kept) or not counts,
            f"data.min_freq={min_freq} keeps no token, and the vocabulary would be empty: the "
            f"most frequent training token is seen {top} times; lower data.min_freq.",
        )
        if max_size is not None:
            kept = kept[: max_size - 2]
        return cls((PAD, UNK, *kept), lower)

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self._index

    def id(self, token: str) -> int | None:
        """The id of ``token`` as it is stored (already lower-cased, for a lower-cased
        vocabulary), or ``None``."""
        return self._index.get(token)

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Ids of ``tokens``; a token outside the vocabulary becomes the unknown token."""
        index, unk = self._index, self.unk_index
        if self.lower:
            return [index.get(t.lower(), unk) for t in tokens]
        return [index.get(t, unk) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.tokens[i] for i in ids]


@dataclass(frozen=True)
class WordVectors:
    """The words of a word2vec/GloVe text file and their vectors, in file order.

    Args:
        words: each word once (its first line wins, after any lower-casing).
        weights: their vectors, ``(N, D)``.
    """

    words: tuple[str, ...]
    weights: torch.Tensor


def read_vectors(path: str | Path, lower: bool = False) -> WordVectors:
    """The vectors of a word2vec/GloVe text file: each line is a word and its values, separated
    by spaces; a word2vec header line (``count dim``) is skipped. With ``lower``, words are
    lower-cased and the first line of each lower-cased word is kept."""
    path = Path(path)
    check(path.is_file(), f"data.vectors={path} does not exist; give a word2vec/GloVe text file.")
    words: dict[str, int] = {}
    rows: list[list[float]] = []
    dim = None
    with path.open(encoding="utf-8", errors="strict") as file:
        for number, line in _numbered_lines(file, path):
            parts = line.rstrip().split(" ")
            if number == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue  # word2vec header
            if len(parts) < 2:
                continue
            dim = dim or len(parts) - 1
            if len(parts) - 1 != dim:
                raise ConfigError(
                    f"{path}, line {number}: {len(parts) - 1} values where the first line had "
                    f"{dim}."
                )
            word = parts[0].lower() if lower else parts[0]
            if word in words:
                continue
            try:
                rows.append([float(v) for v in parts[1:]])
            except ValueError:
                bad = next(v for v in parts[1:] if not _is_float(v))
                raise ConfigError(f"{path}, line {number}: {bad[:40]!r} is not a number.") from None
            check(
                all(map(math.isfinite, rows[-1])),
                f"{path}, line {number}: the vector of {parts[0][:40]!r} holds a NaN or an "
                "infinite value; every value must be a finite number.",
            )
            words[word] = len(rows) - 1
    check(dim is not None, f"data.vectors={path} holds no vectors.")
    return WordVectors(tuple(words), torch.tensor(rows, dtype=torch.float32))


def _numbered_lines(file: TextIO, path: Path) -> Iterator[tuple[int, str]]:
    """The lines of ``file`` with their numbers; a byte that is not UTF-8 is the file's
    mistake, said in one sentence."""
    try:
        yield from enumerate(file, 1)
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"data.vectors={path} is not UTF-8 text ({error.reason}); convert it first."
        ) from None


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def embedding_rows(vectors: WordVectors, vocab: Vocabulary) -> tuple[torch.Tensor, int]:
    """Embedding rows for ``vocab`` from ``vectors``, and how many tokens they covered. Tokens
    without a vector keep small random rows (seeded by the caller's generator state) and
    padding a zero row."""
    weights = torch.randn(len(vocab), vectors.weights.shape[1]) * 0.1  # (V, D)
    ids = [vocab.id(w) for w in vectors.words]
    found = [(i, row) for row, i in enumerate(ids) if i is not None]
    if found:
        to, source = zip(*found, strict=True)
        weights[list(to)] = vectors.weights[list(source)]
    weights[vocab.pad_index] = 0
    return weights, len(found)


def load_vectors(path: str | Path, vocab: Vocabulary) -> tuple[torch.Tensor, int]:
    """Embedding rows for ``vocab`` from the word2vec/GloVe text file at ``path`` (looked up as
    ``vocab`` looks tokens up), and how many tokens the file covered."""
    return embedding_rows(read_vectors(path, vocab.lower), vocab)


def vocabulary_with_vectors(
    sequences: Iterable[Sequence[str]],
    min_freq: int = 1,
    max_size: int | None = None,
    lower: bool = False,
    vectors: str | Path | None = None,
) -> tuple[Vocabulary, torch.Tensor | None]:
    """The vocabulary of token data and its starting embedding rows (``None`` without a
    vectors file).

    The training ``sequences`` give the vocabulary as :meth:`Vocabulary.build` keeps them
    (``min_freq``, ``max_size``). With ``vectors``, every word of that file follows them,
    keeping its vector: a word that only validation or test text uses then reads as its
    pretrained vector rather than as the unknown token (the usual practice with pretrained
    vectors, as in Kim 2014), while the ids and rows the model learns still come from the
    training split and the file the user chose. Training words the file lacks start from
    small random rows.
    """
    vocab = Vocabulary.build(sequences, min_freq, max_size, lower)
    if not vectors:
        return vocab, None
    table = read_vectors(vectors, lower)
    trained = len(vocab)
    extra = (w for w in table.words if w not in vocab and w not in (PAD, UNK))
    vocab = Vocabulary((*vocab.tokens, *extra), lower)
    weights, found = embedding_rows(table, vocab)
    log.info(
        f"data.vectors: {found} of {len(vocab)} tokens have a vector "
        f"({trained} from the training split, {len(vocab) - trained} more from the file)."
    )
    return vocab, weights


def token_spec(
    vocab: Vocabulary,
    classes: tuple[str, ...],
    embedding_weights: torch.Tensor | None = None,
    aligned: bool = False,
) -> ClassesSpec:
    """The spec of labelled token data: the vocabulary, the class (or tag, with ``aligned``)
    names, and any pretrained embedding rows for the net."""
    inputs = Inputs(
        vocab=vocab.tokens, pad_index=vocab.pad_index, embedding_weights=embedding_weights
    )
    return ClassesSpec(inputs, class_names=tuple(classes), aligned=aligned)


def spell(words: Sequence[str], chars: Vocabulary, width: int | None = None) -> torch.Tensor:
    """The character ids of each word, ``(N, W)``, 0-padded to the longest word (or to
    ``width``): how token data gives a net each word's spelling (``Inputs.chars``), so a word
    outside the word vocabulary still reaches the net by its characters. ``chars`` is the
    character vocabulary; a character outside it becomes its unknown id."""
    rows = [torch.tensor(chars.encode(list(word)), dtype=torch.long) for word in words]
    width = max([width or 1, *map(len, rows)])
    out = torch.zeros(len(rows), width, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out
