"""Labelled texts for classification (``data=text_cls``): sentiment, topics, intents.

Texts come from a CSV or TSV file with a text and a label column named in its header, or from
a folder with one sub-folder per class holding one text per file. Without a file, a small set
of review snippets written for rnnlab is used. A file with a ``split`` column (``train``,
``val``/``validation``, ``test``) keeps its split; otherwise each class is split by
``data.splits``. Texts are tokenised into words or characters, encoded with a vocabulary built
from the training split (and the words of ``data.vectors``, when given), cut to ``max_len``
tokens, and padded per batch.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import torch

from rnnlab.data.baselines import Baseline, tfidf_logistic_regression
from rnnlab.data.batch import InMemoryDataModule, SequenceDataset, pad_sequences
from rnnlab.data.specs import ClassesSpec
from rnnlab.data.splits import check_splits, stratified_split
from rnnlab.data.vocab import Level, Vocabulary, token_spec, tokenize, vocabulary_with_vectors
from rnnlab.utils import log
from rnnlab.utils.errors import ConfigError, check, check_count

REVIEWS = Path(__file__).with_name("corpus") / "reviews.tsv"
SPLIT_NAMES = {"train": 0, "val": 1, "valid": 1, "validation": 1, "dev": 1, "test": 2}


def read_table(
    path: Path, columns: list[str], optional: tuple[str, ...] = ()
) -> tuple[list[list[str]], list[int]]:
    """The named ``columns`` of a CSV (``.csv``: comma- or, by its header, semicolon-separated)
    or TSV (any other suffix) file with a header (its names stripped of blanks), followed by
    those ``optional`` columns the header has (named in lower case, found in any case: a
    spreadsheet's ``Split`` is ``split``), and the line number of each row; a wrong field
    count or a missing column is the file's mistake, named by line."""
    rows, lines = [], []
    for row, line in iter_table(path, columns, optional):
        rows.append(row)
        lines.append(line)
    check(rows, f"{path} holds a header but no rows.")
    return rows, lines


def iter_table(
    path: Path, columns: list[str], optional: tuple[str, ...] = ()
) -> Iterator[tuple[list[str], int]]:
    """:func:`read_table`'s rows one at a time, each with its line number, for files too large
    to hold as Python lists; the header is checked before the first row."""
    try:
        # utf-8-sig: a byte-order mark (as spreadsheets save CSV) is not part of the header.
        with path.open(encoding="utf-8-sig", newline="") as file:
            reader = csv.reader(file, delimiter=_delimiter(path, file))
            header = next((fields for fields in reader if fields), None)  # blank lines skipped
            check(header is not None, f"{path} is empty; it needs a header and rows.")
            header = [name.strip() for name in header]  # "date, sales" names "sales"
            missing = [c for c in columns if c not in header]
            if missing:
                # Names other than plain words are quoted: a line break, a blank or a full stop
                # in a name would garble the sentence.
                names = ", ".join(c[:40] if c.isidentifier() else repr(c[:40]) for c in header[:20])
                raise ConfigError(
                    f"{path} has no column {missing[0]!r}; its columns are: {names}"
                    f"{', ...' if len(header) > 20 else ''}."
                )
            lower = [name.lower() for name in header]
            where = [header.index(c) for c in columns]
            where += [lower.index(c) for c in optional if c in lower]
            for fields in reader:
                if not fields:
                    continue  # a blank line
                check(
                    len(fields) == len(header),
                    f"{path}, line {reader.line_num}: {len(fields)} fields where the header "
                    f"has {len(header)}.",
                )
                yield [fields[i] for i in where], reader.line_num
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path} is not UTF-8 text ({error.reason}); convert it first.") from None
    except csv.Error as error:
        raise ConfigError(f"{path} is not a readable table ({error}).") from None


def table_delimiter(path: Path) -> str:
    """The field separator :func:`iter_table` reads ``path`` with (see :func:`_delimiter`)."""
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as file:
        return _delimiter(path, file)


def _delimiter(path: Path, file: TextIO) -> str:
    """A TAB for a file not named ``.csv``; for a CSV file a comma, or a semicolon where its
    header holds semicolons and no comma (as spreadsheets save CSV in many European locales).
    ``file`` is read up to the header's end and put back at its start."""
    if path.suffix.lower() != ".csv":
        return "\t"
    header = next((line for line in file if line.strip()), "")
    file.seek(0)
    return ";" if ";" in header and "," not in header else ","


def read_folder(path: Path) -> tuple[list[str], list[str]]:
    """Texts and labels from ``path/<label>/<any file>``, one text per file; hidden folders and
    files (``.ipynb_checkpoints``, ``.DS_Store``: a name starting with ``.``) are skipped."""
    texts, labels = [], []
    for folder in (p for p in visible(path) if p.is_dir()):
        for file in (p for p in visible(folder) if p.is_file()):
            try:
                texts.append(file.read_text(encoding="utf-8"))
            except UnicodeDecodeError as error:
                raise ConfigError(f"{file} is not UTF-8 text ({error.reason}).") from None
            labels.append(folder.name)
    check(texts, f"data.path={path} has no class sub-folders with text files in them.")
    return texts, labels


def visible(folder: Path) -> list[Path]:
    """The entries of ``folder`` whose names do not start with ``.``, sorted by name."""
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


class TextClassificationDataModule(InMemoryDataModule):
    """Texts with one label each, as padded token-id sequences.

    Args:
        path: a CSV/TSV file or a folder of class folders; ``None`` for the built-in reviews.
        text_column, label_column: header names of the text and the label (files only); a
            label is stripped of surrounding blanks, and an empty one is refused.
        level: ``word`` or ``char`` tokens.
        lower: lower-case the text before tokenising.
        min_freq: keep tokens seen at least this often in the training split.
        max_size: keep at most this many tokens (the two reserved ones included).
        max_len: cut longer texts to their first ``max_len`` tokens.
        splits: train, validation and test fractions of each class, for data without a split.
        batch_size, num_workers, seed: as for :class:`InMemoryDataModule`; the seed also
            draws the split.
        vectors: a word2vec/GloVe text file whose vectors start the embedding of the words
            they cover (``model.embedding_dim`` must match their size); its words join the
            vocabulary, so a word unseen in training keeps its pretrained vector.
    """

    def __init__(
        self,
        path: str | None = None,
        text_column: str = "text",
        label_column: str = "label",
        level: Level = "word",
        lower: bool = True,
        min_freq: int = 1,
        max_size: int | None = None,
        max_len: int = 200,
        splits: tuple[float, float, float] = (0.8, 0.1, 0.1),
        batch_size: int = 64,
        num_workers: int = 0,
        seed: int = 0,
        vectors: str | None = None,
    ):
        super().__init__(batch_size, num_workers, seed)
        self.vectors = vectors
        self.embedding_weights: torch.Tensor | None = None
        check(path != "", "data.path is empty; give a CSV/TSV file or a folder, or leave it unset.")
        self.path = REVIEWS if path is None else Path(path).expanduser()
        check(
            self.path.exists(),
            f"data.path={path} does not exist; give a CSV/TSV file or a folder of class folders.",
        )
        check(level in ("word", "char"), f"data.level={level!r} is not one of 'word', 'char'.")
        check_count("data.max_len", max_len, 1)
        check(
            text_column != label_column,
            f"data.text_column and data.label_column are both {text_column!r}; a label needs a "
            "column of its own.",
        )
        check_splits(splits)
        self.text_column, self.label_column = text_column, label_column
        self.level, self.lower = level, lower
        self.min_freq, self.max_size, self.max_len = min_freq, max_size, max_len
        self.splits = tuple(splits)
        self.vocab: Vocabulary | None = None
        self.classes: tuple[str, ...] = ()
        self.texts: dict[str, list[str]] = {}  # each split's raw texts, for baselines and checks

    @property
    def spec(self) -> ClassesSpec:
        self.setup()
        return token_spec(self.vocab, self.classes, self.embedding_weights)

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        texts, labels, parts = self._read()
        self.classes = tuple(sorted(set(labels)))
        check(len(self.classes) >= 2, f"data.path={self.path} has only one label: {labels[0]!r}.")
        targets = torch.tensor([self.classes.index(label) for label in labels])
        if parts is None:
            parts = stratified_split(targets, self.splits, self.seed)
        tokens = [tokenize(text, self.level, self.lower)[: self.max_len] for text in texts]
        # Tokens are lower-cased already (data.lower); the vectors file's words are looked up
        # the same way.
        self.vocab, self.embedding_weights = vocabulary_with_vectors(
            (tokens[i] for i in parts[0].tolist()),
            self.min_freq,
            self.max_size,
            self.lower,
            self.vectors,
        )
        for split, index in zip(("train", "val", "test"), parts, strict=True):
            check(len(index) > 0, f"the {split} split of data.path={self.path} is empty.")
            self.texts[split] = [texts[i] for i in index.tolist()]
            ids = [torch.tensor(self.vocab.encode(tokens[i]) or [self.vocab.unk_index])
                   for i in index.tolist()]  # fmt: skip
            values, lengths = pad_sequences(ids, value=self.vocab.pad_index)
            self.datasets[split] = SequenceDataset(values, lengths, targets[index])
        # A split column may leave a class without a training text, which no model can learn.
        unseen = sorted(set(labels) - {labels[i] for i in parts[0].tolist()})
        if unseen:
            log.info(
                f"data: no training text has the label {', '.join(map(repr, unseen))}, only "
                "validation or test texts; the model cannot learn it."
            )

    def baselines(self) -> dict[str, Baseline]:
        """TF-IDF of word 1- and 2-grams with logistic regression, fitted on the training
        split's raw texts and run on the test split's; none without scikit-learn."""
        self.setup()
        train = self.datasets["train"].targets.tolist()
        predictions = tfidf_logistic_regression(
            self.texts["train"], train, self.texts["test"], self.seed
        )
        if predictions is None:
            return {}
        targets = self.datasets["test"].targets
        return {"tfidf_logreg": Baseline("TF-IDF + LR", predictions, targets)}

    def _read(self) -> tuple[list[str], list[str], list[torch.Tensor] | None]:
        """Texts, labels, and the file's own split (``None`` when it has none)."""
        if self.path.is_dir():
            texts, labels = read_folder(self.path)
            return texts, labels, None
        columns = [self.text_column, self.label_column]
        rows, lines = read_table(self.path, columns, optional=("split",))
        # A label cell's surrounding blanks are a spreadsheet's slip, not a class of their own;
        # its case is kept: "Positive" and "positive" are the data's to tell apart.
        texts, labels = [r[0] for r in rows], [r[1].strip() for r in rows]
        empty = next((line for label, line in zip(labels, lines, strict=True) if not label), None)
        check(empty is None, f"{self.path}, line {empty}: the label is empty.")
        if len(rows[0]) == 2:  # no split column
            return texts, labels, None
        parts: list[list[int]] = [[], [], []]
        for i, (row, line) in enumerate(zip(rows, lines, strict=True)):
            name = row[2].strip().lower()
            check(
                name in SPLIT_NAMES,
                f"{self.path}, line {line}: split {row[2]!r} is not train, val or test.",
            )
            parts[SPLIT_NAMES[name]].append(i)
        return texts, labels, [torch.tensor(p, dtype=torch.long) for p in parts]
