"""Token-per-line tagged sentences (``data=conll``): part-of-speech tags, chunks, entities.

Reads CoNLL-U (ten tab-separated columns; multiword-token and empty-node lines skipped), and
whitespace-separated column files such as CoNLL-2000 (``token POS chunk``) or two-column
``token tag`` files. Sentences are separated by blank lines; lines starting with ``#`` are
comments. ``tag_column`` picks the tag: by default UPOS for CoNLL-U and the last column
otherwise; a number counts columns from 0, and CoNLL-U columns may also be named (``upos``,
``xpos``, ``deprel``). A file named ``...train...`` with ``dev`` (or ``val``, ``valid``) and
``test`` files beside it keeps that split; with only one of them beside it, the missing split
is carved from the training file's sentences; any other file is split by sentences. A leading
byte-order mark is not part of the first line.

**Characters** (``chars=true``, for ``model.char_encoder``): the batch carries each word's
characters beside its id, ``x`` ``(B, T, 1 + W)`` (``Inputs.chars`` names the character of each
id). The word vocabulary stays the training split's, so a word unseen in training is ``<unk>``
to the word embedding, but its characters are those of the word as written (case kept, even
with ``lower``), so the character encoder reads the actual word. The characters travel in the
batch rather than in a table of the vocabulary's spellings inside the net because an open
table cannot cover a sentence given later: ``python -m rnnlab.predict`` spells each word of new
text with the character vocabulary saved in the checkpoint, the same way. The dataset stores
each split's distinct word forms spelled once, ``(F, W)``, and gathers a batch's characters
from them, cut to the batch's longest word.

**Baseline**: ``most_frequent_tag`` (:func:`rnnlab.data.baselines.most_frequent_tag`), each
word's most frequent training tag, looked up as the vocabulary looks words up (``lower``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch

from rnnlab.data.baselines import Baseline, most_frequent_tag
from rnnlab.data.batch import IGNORE, Batch, InMemoryDataModule, SequenceDataset, pad_sequences
from rnnlab.data.specs import ClassesSpec
from rnnlab.data.splits import check_splits
from rnnlab.data.vocab import Vocabulary, spell, token_spec, vocabulary_with_vectors
from rnnlab.utils import log
from rnnlab.utils.errors import ConfigError, check

TAGGED = Path(__file__).with_name("corpus") / "tagged.conllu"
CONLLU_COLUMNS = ("id", "form", "lemma", "upos", "xpos", "feats", "head", "deprel", "deps", "misc")


@dataclass
class TaggedSentences:
    """Sentences as token and tag lists, with the line each sentence starts on."""

    tokens: list[list[str]]
    tags: list[list[str]]
    lines: list[int]


def read_conll(path: Path, tag_column: int | str | None = None) -> TaggedSentences:
    """The sentences of a CoNLL-U or column file; a malformed line is named by number."""
    conllu = path.suffix.lower() == ".conllu"
    column = _tag_index(tag_column, conllu)
    tokens: list[list[str]] = []
    tags: list[list[str]] = []
    starts: list[int] = []
    width = None
    sentence: list[tuple[str, str]] = []
    try:
        with path.open(encoding="utf-8") as file:
            for number, raw in enumerate(file, 1):
                line = raw.rstrip("\r\n")
                if number == 1:  # a byte-order mark, as Notepad writes, is not text
                    line = line.removeprefix("\ufeff")
                if not line.strip():
                    if sentence:
                        tokens.append([t for t, _ in sentence])
                        tags.append([t for _, t in sentence])
                        sentence = []
                    continue
                if line.startswith("#") or line.startswith("-DOCSTART-"):
                    continue  # a comment, or CoNLL-2003's mark of a new document
                fields = line.split("\t") if conllu else line.split()
                if conllu:
                    check(
                        len(fields) == 10,
                        f"{path}, line {number}: {len(fields)} columns where CoNLL-U has 10.",
                    )
                    if "-" in fields[0] or "." in fields[0]:
                        continue  # a multiword token's range, or an empty node
                else:
                    width = width or len(fields)
                    check(
                        len(fields) == width,
                        f"{path}, line {number}: {len(fields)} columns where the file has {width}.",
                    )
                    check(width >= 2, f"{path}, line {number}: a token needs a tag beside it.")
                index = column if column is not None else len(fields) - 1
                check(
                    index < len(fields),
                    f"data.tag_column={tag_column} is past the {len(fields)} columns of {path}.",
                )
                if not sentence:
                    starts.append(number)
                sentence.append((fields[1] if conllu else fields[0], fields[index]))
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path} is not UTF-8 text ({error.reason}); convert it first.") from None
    if sentence:
        tokens.append([t for t, _ in sentence])
        tags.append([t for _, t in sentence])
    check(tokens, f"{path} holds no tagged sentences.")
    return TaggedSentences(tokens, tags, starts)


def _tag_index(tag_column: int | str | None, conllu: bool) -> int | None:
    if tag_column is None:
        return 3 if conllu else None  # UPOS; the last column
    if isinstance(tag_column, int) or str(tag_column).isdigit():
        return int(tag_column)
    check(
        conllu and str(tag_column).lower() in CONLLU_COLUMNS,
        f"data.tag_column={tag_column!r} names no column; give a number, or for CoNLL-U one "
        f"of {', '.join(CONLLU_COLUMNS)}.",
    )
    return CONLLU_COLUMNS.index(str(tag_column).lower())


def split_files(path: Path) -> tuple[Path, Path | None, Path | None] | None:
    """``(train, dev, test)`` files for a ``...train...`` file with a dev or test file beside
    it, ``None`` for the one not there; ``None`` when neither is."""
    if "train" not in path.name:
        return None
    devs = (path.with_name(path.name.replace("train", n)) for n in ("dev", "val", "valid"))
    dev = next((f for f in devs if f.is_file()), None)
    test = path.with_name(path.name.replace("train", "test"))
    test = test if test.is_file() else None
    return None if dev is None and test is None else (path, dev, test)


class SpelledDataset(SequenceDataset):
    """Tagged sentences whose batches carry each word's characters after its id:
    ``x`` ``(B, T, 1 + W)``, ``W`` the batch's longest word.

    Args:
        words: padded word ids ``(N, T_max)``.
        forms: padded ids of each token's written form ``(N, T_max)``, rows of ``spellings``
            (row 0, the padding, spells nothing).
        spellings: each form's character ids ``(F, W_max)``, 0-padded.
        lengths, targets: as for :class:`SequenceDataset` (aligned).
    """

    def __init__(
        self,
        words: torch.Tensor,
        forms: torch.Tensor,
        spellings: torch.Tensor,
        lengths: torch.Tensor,
        targets: torch.Tensor,
    ):
        super().__init__(words, lengths, targets, aligned=True)
        self.forms, self.spellings = forms, spellings
        self.widths = (spellings != 0).sum(1)  # (F,): each form's characters

    def __getitem__(self, index: torch.Tensor | int) -> Batch:
        batch = super().__getitem__(index)
        index = torch.as_tensor(index).reshape(-1)  # (B,)
        forms = self.forms[index, : batch.x.shape[1]]  # (B, T)
        width = max(int(self.widths[forms].max()), 1)
        chars = self.spellings[forms, :width]  # (B, T, W)
        batch.x = torch.cat([batch.x.unsqueeze(-1), chars], -1)  # (B, T, 1 + W)
        return batch


class ConllDataModule(InMemoryDataModule):
    """Tagged sentences as padded token ids with one tag per token.

    Args:
        path: a CoNLL-U or column file; ``None`` for the small tagged set written for rnnlab.
        tag_column: which column holds the tag (see the module notes).
        lower: look words up lower-cased (the tags are kept as they are).
        min_freq: keep words seen at least this often in the training sentences.
        max_size: keep at most this many words (the two reserved ones included).
        splits: train, validation and test fractions of the sentences, for a single file; for
            a training file with only a dev or only a test file beside it, the training and
            the missing split's fractions carve that split from the training file.
        batch_size, num_workers, seed: as for :class:`InMemoryDataModule`; the seed also
            draws the split.
        vectors: a word2vec/GloVe text file whose vectors start the embedding of the words
            they cover (``model.embedding_dim`` must match their size); its words join the
            vocabulary, so a word unseen in training keeps its pretrained vector.
        chars: give the net each word's characters too (for ``model.char_encoder``; see the
            module notes).
    """

    def __init__(
        self,
        path: str | None = None,
        tag_column: int | str | None = None,
        lower: bool = True,
        min_freq: int = 1,
        max_size: int | None = None,
        splits: tuple[float, float, float] = (0.8, 0.1, 0.1),
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
        vectors: str | None = None,
        chars: bool = False,
    ):
        super().__init__(batch_size, num_workers, seed)
        self.chars = chars
        self.char_vocab: Vocabulary | None = None
        self.vectors = vectors
        self.embedding_weights: torch.Tensor | None = None
        check(path != "", "data.path is empty; give a CoNLL-U or column file, or leave it unset.")
        self.path = TAGGED if path is None else Path(path).expanduser()
        check(self.path.is_file(), f"data.path={path} does not exist; give a CoNLL file.")
        check_splits(splits)
        self.tag_column, self.lower = tag_column, lower
        self.min_freq, self.max_size = min_freq, max_size
        self.splits = tuple(splits)
        self.vocab: Vocabulary | None = None
        self.tags: tuple[str, ...] = ()
        self.sentences: dict[str, TaggedSentences] = {}  # each split's words and tags

    @property
    def spec(self) -> ClassesSpec:
        self.setup()
        spec = token_spec(self.vocab, self.tags, self.embedding_weights, aligned=True)
        if self.char_vocab is None:
            return spec
        return replace(spec, inputs=replace(spec.inputs, chars=self.char_vocab.tokens))

    def baselines(self) -> dict[str, Baseline]:
        """The most-frequent-tag baseline's tags for the test split (fitted on the training
        split, words looked up as the vocabulary looks them up)."""
        self.setup()
        index = {t: i for i, t in enumerate(self.tags)}
        train, test = self.sentences["train"], self.sentences["test"]
        targets = self.datasets["test"].targets  # (N, T_max)

        def words(part: TaggedSentences) -> list[list[str]]:
            return [[w.lower() for w in s] for s in part.tokens] if self.lower else part.tokens

        predictions = most_frequent_tag(
            words(train),
            [[index[t] for t in s] for s in train.tags],
            words(test),
            targets.shape[1],
        )
        return {"most_frequent_tag": Baseline("most frequent tag", predictions, targets)}

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        files = split_files(self.path)
        if files is None:
            parts = self._split(read_conll(self.path, self.tag_column), self.splits)
        else:
            parts = self._read_splits(files)
        self.vocab, self.embedding_weights = vocabulary_with_vectors(
            parts[0].tokens, self.min_freq, self.max_size, self.lower, self.vectors
        )
        if self.chars:  # case kept: capitals mark names whatever data.lower says
            self.char_vocab = Vocabulary.build(map(list, _forms(parts[0].tokens)))
        self.tags = tuple(sorted({t for part in parts for tags in part.tags for t in tags}))
        index = {t: i for i, t in enumerate(self.tags)}
        for split, part in zip(("train", "val", "test"), parts, strict=True):
            check(part.tokens, f"the {split} split of data.path={self.path} has no sentences.")
            self.sentences[split] = part
            words = [torch.tensor(self.vocab.encode(s)) for s in part.tokens]
            values, lengths = pad_sequences(words, value=self.vocab.pad_index)
            targets, _ = pad_sequences(
                [torch.tensor([index[t] for t in s]) for s in part.tags], value=IGNORE
            )
            if self.char_vocab is None:
                self.datasets[split] = SequenceDataset(values, lengths, targets, aligned=True)
                continue
            forms = ["", *_forms(part.tokens)]  # form 0: the padding, no characters
            form_ids = {w: i for i, w in enumerate(forms)}
            form_index, _ = pad_sequences(
                [torch.tensor([form_ids[w] for w in s]) for s in part.tokens], value=0
            )
            spellings = spell(forms, self.char_vocab)  # (F, W_max)
            self.datasets[split] = SpelledDataset(values, form_index, spellings, lengths, targets)

    def _read_splits(self, files: tuple[Path, Path | None, Path | None]) -> list[TaggedSentences]:
        """The train, validation and test sentences of ``files``; a split without its file is
        carved from the training file, by its and the training split's ``splits`` fractions."""
        parts = [None if f is None else read_conll(f, self.tag_column) for f in files]
        if None in parts:
            missing = parts.index(None)  # 1 (dev) or 2 (test): split_files finds one of them
            train, share = self.splits[0], self.splits[missing]
            fractions = (train / (train + share), share / (train + share))
            parts[0], parts[missing] = self._split(parts[0], fractions)
            name = ("validation", "test")[missing - 1]
            log.info(
                f"data: no {name} file beside {files[0].name}; {fractions[1]:.0%} of its "
                f"sentences are the {name} split."
            )
        return parts

    def _split(self, data: TaggedSentences, fractions: tuple[float, ...]) -> list[TaggedSentences]:
        """``data``'s sentences drawn by the seed into parts of ``fractions`` (summing to 1)."""
        order = torch.randperm(len(data.tokens), generator=torch.Generator().manual_seed(self.seed))
        cuts = (torch.tensor(fractions).cumsum(0) * len(order)).round().long().tolist()
        parts = []
        for a, b in zip([0, *cuts[:-1]], cuts, strict=True):
            chosen = sorted(order[a:b].tolist())
            parts.append(
                TaggedSentences(
                    [data.tokens[i] for i in chosen],
                    [data.tags[i] for i in chosen],
                    [data.lines[i] for i in chosen],
                )
            )
        return parts


def _forms(sentences: list[list[str]]) -> list[str]:
    """The distinct words of ``sentences`` as written, in order of first appearance."""
    return list(dict.fromkeys(w for s in sentences for w in s))
